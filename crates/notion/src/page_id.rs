//! Notion object ids (pages, users, data sources): parsing every form a user may paste and
//! printing the one canonical form, the lowercase dashed UUID.

use std::fmt;

/// A Notion object id: 128 bits, printed as a lowercase dashed UUID.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NotionId(u128);

/// Why a text is not a Notion id or page URL. The message is written for the person who typed
/// the text; the caller adds the row and column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{0:?} is not a Notion page id: expected 32 hex digits (dashes allowed) or a notion.so / notion.site / notion.com URL")]
    NotAnId(String),
    #[error("{0:?} is a URL, but not a Notion one: expected a notion.so, notion.site or notion.com address")]
    ForeignUrl(String),
    #[error(
        "{0:?} is a Notion URL, but its last path segment does not end in a 32-hex-digit page id"
    )]
    NoIdInUrl(String),
}

impl NotionId {
    /// Parses a bare id (32 hex digits, with or without the four dashes of a UUID) or a Notion
    /// URL, whose id is the 32 hex digits that end the last path segment.
    pub fn parse(text: &str) -> Result<NotionId, IdError> {
        let text = text.trim();
        if let Some(id) = parse_bare(text) {
            return Ok(id);
        }
        if let Some(rest) = text
            .strip_prefix("https://")
            .or_else(|| text.strip_prefix("http://"))
        {
            return parse_url(text, rest);
        }
        // A URL pasted without its scheme, e.g. `www.notion.so/Page-<id>`.
        if text.contains('/') && is_notion_host(text.split('/').next().unwrap_or("")) {
            return parse_url(text, text);
        }
        Err(IdError::NotAnId(text.to_owned()))
    }

    /// An id from its 128-bit number.
    pub fn from_u128(value: u128) -> NotionId {
        NotionId(value)
    }

    /// The page of a row found by key (`--match-on`) before the matcher has found it; never
    /// sent, never reported.
    pub const UNMATCHED: NotionId = NotionId(0);
}

fn parse_url(original: &str, after_scheme: &str) -> Result<NotionId, IdError> {
    let end = after_scheme.find(['?', '#']).unwrap_or(after_scheme.len());
    let without_query = &after_scheme[..end];
    let (host, path) = without_query.split_once('/').unwrap_or((without_query, ""));
    let host = host.rsplit('@').next().unwrap_or(host);
    let host = host.split(':').next().unwrap_or(host);
    if !is_notion_host(host) {
        return Err(IdError::ForeignUrl(original.to_owned()));
    }
    let last = path.split('/').rfind(|s| !s.is_empty()).unwrap_or("");
    // The id ends the segment: `Title-Words-<32 hex>` or a bare (possibly dashed) id.
    if let Some(id) = parse_bare(last) {
        return Ok(id);
    }
    if last.len() >= 32 && last.is_char_boundary(last.len() - 32) {
        if let Some(id) = parse_bare(&last[last.len() - 32..]) {
            return Ok(id);
        }
    }
    Err(IdError::NoIdInUrl(original.to_owned()))
}

fn is_notion_host(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    ["notion.so", "notion.site", "notion.com"]
        .iter()
        .any(|domain| host == *domain || host.ends_with(&format!(".{domain}")))
}

/// 32 hex digits, or the 36-character dashed UUID form with dashes at 8-4-4-4-12.
fn parse_bare(text: &str) -> Option<NotionId> {
    let bytes = text.as_bytes();
    let digits: [u8; 32] = match bytes.len() {
        32 => bytes.try_into().ok()?,
        36 => {
            if [8, 13, 18, 23].iter().any(|&i| bytes[i] != b'-') {
                return None;
            }
            let mut digits = [0u8; 32];
            let mut n = 0;
            for &b in bytes.iter().filter(|&&b| b != b'-') {
                *digits.get_mut(n)? = b;
                n += 1;
            }
            if n != 32 {
                return None;
            }
            digits
        }
        _ => return None,
    };
    let mut value: u128 = 0;
    for b in digits {
        let nibble = (b as char).to_digit(16)?;
        value = (value << 4) | nibble as u128;
    }
    Some(NotionId(value))
}

impl fmt::Display for NotionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = format!("{:032x}", self.0);
        write!(
            f,
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        )
    }
}

impl fmt::Debug for NotionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NotionId({self})")
    }
}

impl serde::Serialize for NotionId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DASHED: &str = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d";

    fn parsed(text: &str) -> String {
        NotionId::parse(text).unwrap().to_string()
    }

    #[test]
    fn bare_ids_in_every_case_and_dash_form() {
        assert_eq!(parsed(DASHED), DASHED);
        assert_eq!(parsed("1a2b3c4d5e6f4a7b8c9d0e1f2a3b4c5d"), DASHED);
        assert_eq!(parsed("1A2B3C4D5E6F4A7B8C9D0E1F2A3B4C5D"), DASHED);
        assert_eq!(parsed("  1a2b3c4d5e6f4a7b8c9d0e1f2a3b4c5d\t"), DASHED);
    }

    #[test]
    fn notion_urls_of_every_form() {
        for url in [
            "https://www.notion.so/acme/Quarterly-plan-1a2b3c4d5e6f4a7b8c9d0e1f2a3b4c5d",
            "https://www.notion.so/Quarterly-plan-1a2b3c4d5e6f4a7b8c9d0e1f2a3b4c5d?pvs=4",
            "https://notion.so/1a2b3c4d5e6f4a7b8c9d0e1f2a3b4c5d",
            "https://acme.notion.site/Plan-1a2b3c4d5e6f4a7b8c9d0e1f2a3b4c5d#section",
            "https://www.notion.com/acme/1a2b3c4d5e6f4a7b8c9d0e1f2a3b4c5d?v=0123456789abcdef0123456789abcdef",
            "http://www.notion.so/acme/Plan-1a2b3c4d5e6f4a7b8c9d0e1f2a3b4c5d/",
            "www.notion.so/acme/Plan-1a2b3c4d5e6f4a7b8c9d0e1f2a3b4c5d",
            "https://www.notion.so/acme/1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
            "https://www.notion.so/acme/Überblick-1a2b3c4d5e6f4a7b8c9d0e1f2a3b4c5d",
        ] {
            assert_eq!(parsed(url), DASHED, "{url}");
        }
    }

    #[test]
    fn refuses_what_is_not_an_id() {
        for text in [
            "",
            "1a2b3c4d5e6f4a7b8c9d0e1f2a3b4c5",     // 31 digits
            "1a2b3c4d5e6f4a7b8c9d0e1f2a3b4c5dd",   // 33 digits
            "1a2b3c4d5e6f4a7b8c9d0e1f2a3b4c5g",    // not hex
            "1a2b3c4d-5e6f4a7b-8c9d-0e1f2a3b4c5d", // dashes misplaced
            "Quarterly plan",
        ] {
            assert!(
                matches!(NotionId::parse(text), Err(IdError::NotAnId(_))),
                "{text:?}"
            );
        }
        assert!(matches!(
            NotionId::parse("https://example.com/1a2b3c4d5e6f4a7b8c9d0e1f2a3b4c5d"),
            Err(IdError::ForeignUrl(_))
        ));
        assert!(matches!(
            NotionId::parse("https://notnotion.so/1a2b3c4d5e6f4a7b8c9d0e1f2a3b4c5d"),
            Err(IdError::ForeignUrl(_))
        ));
        assert!(matches!(
            NotionId::parse("https://www.notion.so/acme/Plan"),
            Err(IdError::NoIdInUrl(_))
        ));
        // The id must end the last segment, not an earlier one.
        assert!(matches!(
            NotionId::parse("https://www.notion.so/1a2b3c4d5e6f4a7b8c9d0e1f2a3b4c5d/comments"),
            Err(IdError::NoIdInUrl(_))
        ));
    }
}
