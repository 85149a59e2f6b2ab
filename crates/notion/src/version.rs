//! The Notion API versions the tool speaks (`Notion-Version` header).

use std::{fmt, str::FromStr};

/// A `Notion-Version` the tool knows how to write bodies for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Version {
    /// The long-lived version: no `is_locked`, `template` or `erase_content`.
    V2022_06_28,
    /// Data sources; `is_locked`, `template`, `erase_content` on pages.
    #[default]
    V2025_09_03,
    /// `archived` removed in favour of `in_trash`.
    V2026_03_11,
    /// Queries return only the title of each page unless `filter_properties` names more (the
    /// tool always names every property it reads); a status `equals` no longer matches a
    /// status group.
    V2026_12_01,
}

impl Version {
    pub const ALL: [Version; 4] = [
        Version::V2022_06_28,
        Version::V2025_09_03,
        Version::V2026_03_11,
        Version::V2026_12_01,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Version::V2022_06_28 => "2022-06-28",
            Version::V2025_09_03 => "2025-09-03",
            Version::V2026_03_11 => "2026-03-11",
            Version::V2026_12_01 => "2026-12-01",
        }
    }

    /// Whether page bodies may carry `is_locked`, `template` and `erase_content`.
    pub fn has_page_locking_and_templates(self) -> bool {
        self >= Version::V2025_09_03
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Version {
    type Err = String;

    fn from_str(text: &str) -> Result<Version, String> {
        Version::ALL
            .into_iter()
            .find(|v| v.as_str() == text.trim())
            .ok_or_else(|| {
                let known: Vec<&str> = Version::ALL.iter().map(|v| v.as_str()).collect();
                format!(
                    "unknown Notion-Version {text:?}: expected one of {}",
                    known.join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_known_version_and_refuses_others() {
        for v in Version::ALL {
            assert_eq!(v.as_str().parse::<Version>(), Ok(v));
        }
        let err = "2021-08-16".parse::<Version>().unwrap_err();
        assert!(
            err.contains("2021-08-16") && err.contains("2025-09-03"),
            "{err}"
        );
        assert!(!Version::V2022_06_28.has_page_locking_and_templates());
        assert!(Version::V2026_03_11.has_page_locking_and_templates());
        assert!(Version::V2026_12_01.has_page_locking_and_templates());
        assert!(err.contains("2026-12-01"), "{err}");
    }
}
