//! The `Notion-Version` header values the sandbox knows, and the rules that differ between them.

use std::fmt;

/// One of the API versions the sandbox serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum ApiVersion {
    /// The long-lived version before data sources: databases carry `properties`.
    V2022_06_28,
    /// Data sources: databases list `data_sources`; `is_locked`, `template`, `erase_content`.
    V2025_09_03,
    /// `archived` is gone from requests and responses; `in_trash` only.
    V2026_03_11,
    /// As 2026-03-11, and: a data source query returns only the title in each page's
    /// `properties` unless `filter_properties` names others; a status `equals` (or
    /// `does_not_equal`) names an option only, never a status group.
    V2026_12_01,
}

impl ApiVersion {
    /// Every known version, oldest first.
    pub(crate) const ALL: [ApiVersion; 4] = [
        ApiVersion::V2022_06_28,
        ApiVersion::V2025_09_03,
        ApiVersion::V2026_03_11,
        ApiVersion::V2026_12_01,
    ];

    pub(crate) fn parse(text: &str) -> Option<ApiVersion> {
        ApiVersion::ALL.into_iter().find(|v| v.as_str() == text)
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V2022_06_28 => "2022-06-28",
            ApiVersion::V2025_09_03 => "2025-09-03",
            ApiVersion::V2026_03_11 => "2026-03-11",
            ApiVersion::V2026_12_01 => "2026-12-01",
        }
    }

    /// Whether data sources exist (`/v1/data_sources`, `data_source_id` parents).
    pub(crate) fn has_data_sources(self) -> bool {
        self >= ApiVersion::V2025_09_03
    }

    /// Whether `archived` is still accepted in bodies and returned in objects.
    pub(crate) fn has_archived(self) -> bool {
        self < ApiVersion::V2026_03_11
    }

    /// Whether a query without `filter_properties` returns only each page's title property
    /// (Search and Query a data source, from 2026-12-01).
    pub(crate) fn lists_title_only(self) -> bool {
        self >= ApiVersion::V2026_12_01
    }

    /// Whether a status `equals` / `does_not_equal` naming no option but a status group
    /// matches that group (before 2026-12-01, where it stops).
    pub(crate) fn status_equals_matches_groups(self) -> bool {
        self < ApiVersion::V2026_12_01
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
