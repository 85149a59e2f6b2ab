//! Page-level columns (`@icon`, `@cover`, `@in_trash`, `@archived`, `@is_locked`): their
//! parsing and where they land in the body.

use serde_json::{json, Value};

use crate::mapping::body::{Body, Field};
use crate::mapping::cell::{parse_bool, MAX_URL_UNITS};
use crate::mapping::file::{self, FileRules};
use crate::mapping::text::utf16_len;
use crate::notion::Version;

/// A page-level field, named in a header as `@name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageField {
    Icon,
    Cover,
    InTrash,
    Archived,
    IsLocked,
}

impl PageField {
    pub const ALL: [(&'static str, PageField); 5] = [
        ("@icon", PageField::Icon),
        ("@cover", PageField::Cover),
        ("@in_trash", PageField::InTrash),
        ("@archived", PageField::Archived),
        ("@is_locked", PageField::IsLocked),
    ];

    pub fn from_header(header: &str) -> Option<PageField> {
        let lower = header.trim().to_ascii_lowercase();
        PageField::ALL
            .iter()
            .find(|(n, _)| *n == lower)
            .map(|(_, f)| *f)
    }

    /// The body field the column sets (`@archived` sets `in_trash`).
    pub fn field(self) -> Field {
        match self {
            PageField::Icon => Field::Icon,
            PageField::Cover => Field::Cover,
            PageField::InTrash | PageField::Archived => Field::InTrash,
            PageField::IsLocked => Field::IsLocked,
        }
    }

    /// Whether an empty cell leaves the field as it is under `--empty clear` too (see
    /// [`PageField::clear`]).
    pub fn empty_is_unchanged(self) -> bool {
        matches!(
            self,
            PageField::InTrash | PageField::Archived | PageField::IsLocked
        )
    }

    /// Writes a non-empty cell into `body`.
    pub fn apply(
        self,
        cell: &str,
        body: &mut Body,
        version: Version,
        files: &FileRules,
    ) -> Result<(), String> {
        let text = cell.trim();
        match self {
            PageField::Icon => {
                body.icon = Some(match upload(text, files)? {
                    Some(placeholder) => placeholder,
                    None => icon(text)?,
                })
            }
            PageField::Cover => {
                body.cover = Some(match upload(text, files)? {
                    Some(placeholder) => placeholder,
                    None => external(text, "cover")?,
                })
            }
            PageField::InTrash | PageField::Archived => {
                let value = parse_bool(text)?;
                if body.in_trash.is_some_and(|v| v != value) {
                    return Err(
                        "@in_trash and @archived disagree; @archived is an old name for @in_trash: give one"
                            .into(),
                    );
                }
                body.in_trash = Some(value);
            }
            PageField::IsLocked => {
                if !version.has_page_locking_and_templates() {
                    return Err(format!(
                        "@is_locked needs Notion-Version 2025-09-03 or later; this run uses {version}"
                    ));
                }
                body.is_locked = Some(parse_bool(text)?);
            }
        }
        Ok(())
    }

    /// What an empty cell does under `--empty clear`: icon and cover are removed; the page
    /// booleans are left as they are (clearing "in trash" would restore pages by accident).
    pub fn clear(self, body: &mut Body) {
        match self {
            PageField::Icon => body.icon = Some(Value::Null),
            PageField::Cover => body.cover = Some(Value::Null),
            PageField::InTrash | PageField::Archived | PageField::IsLocked => {}
        }
    }
}

/// An image to copy into Notion: an `upload:` URL, or a local path (a cell with a `/` or a
/// `.` and no `scheme://`, so that an emoji stays an emoji), as the body's placeholder until
/// the upload exists (`crate::mapping::file`). `None`: an emoji or a link.
fn upload(text: &str, files: &FileRules) -> Result<Option<Value>, String> {
    let source = if let Some(url) = text.strip_prefix("upload:") {
        file::import(url)?
    } else if file::is_local_path(text) && text.contains(['/', '.']) && text.is_ascii() {
        file::local(text, files)?
    } else {
        return Ok(None);
    };
    Ok(Some(
        json!({"type": "file_upload", "file_upload": source.placeholder()}),
    ))
}

/// An emoji, or the URL of an image.
fn icon(text: &str) -> Result<Value, String> {
    if text.starts_with("http://") || text.starts_with("https://") {
        return external(text, "icon");
    }
    let looks_like_emoji = utf16_len(text) <= 32
        && !text
            .chars()
            .any(|c| c.is_ascii_alphanumeric() || c.is_whitespace() || c.is_ascii_punctuation());
    if !looks_like_emoji {
        return Err(format!(
            "{text:?} is neither an emoji nor an http(s) image URL"
        ));
    }
    Ok(json!({"type": "emoji", "emoji": text}))
}

fn external(text: &str, what: &str) -> Result<Value, String> {
    let ok = url::Url::parse(text)
        .ok()
        .is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
    if !ok {
        return Err(format!(
            "{text:?} is not an http(s) URL for the page {what}"
        ));
    }
    let units = utf16_len(text);
    if units > MAX_URL_UNITS {
        return Err(format!(
            "{what} URL is {units} characters long; Notion takes at most {MAX_URL_UNITS}"
        ));
    }
    Ok(json!({"type": "external", "external": {"url": text}}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(field: PageField, cell: &str, version: Version) -> Result<Value, String> {
        let mut body = Body::default();
        field.apply(cell, &mut body, version, &FileRules::default())?;
        Ok(body.to_value())
    }

    #[test]
    fn icons_covers_and_flags() {
        let v = Version::V2025_09_03;
        assert_eq!(
            applied(PageField::Icon, "🚀", v).unwrap(),
            json!({"icon": {"type": "emoji", "emoji": "🚀"}})
        );
        assert_eq!(
            applied(PageField::Icon, "https://x.y/i.png", v).unwrap(),
            json!({"icon": {"type": "external", "external": {"url": "https://x.y/i.png"}}})
        );
        assert!(applied(PageField::Icon, "rocket", v)
            .unwrap_err()
            .contains("neither an emoji"));
        assert_eq!(
            applied(PageField::Cover, "https://x.y/c.jpg", v).unwrap(),
            json!({"cover": {"type": "external", "external": {"url": "https://x.y/c.jpg"}}})
        );
        assert!(applied(PageField::Cover, "🚀", v).is_err());
        assert_eq!(
            applied(PageField::Archived, "yes", v).unwrap(),
            json!({"in_trash": true})
        );
        assert_eq!(
            applied(PageField::InTrash, "0", v).unwrap(),
            json!({"in_trash": false})
        );
        assert_eq!(
            applied(PageField::IsLocked, "true", v).unwrap(),
            json!({"is_locked": true})
        );
        let err = applied(PageField::IsLocked, "true", Version::V2022_06_28).unwrap_err();
        assert!(err.contains("2025-09-03 or later"), "{err}");
    }

    #[test]
    fn trash_aliases_must_agree() {
        let mut body = Body::default();
        PageField::InTrash
            .apply(
                "true",
                &mut body,
                Version::V2025_09_03,
                &FileRules::default(),
            )
            .unwrap();
        let err = PageField::Archived
            .apply(
                "false",
                &mut body,
                Version::V2025_09_03,
                &FileRules::default(),
            )
            .unwrap_err();
        assert!(err.contains("disagree"), "{err}");
    }

    #[test]
    fn clearing() {
        let mut body = Body::default();
        PageField::Icon.clear(&mut body);
        PageField::InTrash.clear(&mut body);
        assert_eq!(body.to_value(), json!({"icon": null}));
    }
}
