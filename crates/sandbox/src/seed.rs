//! The seed file: the databases, data sources, users and pages the sandbox starts with
//! (format in docs/SANDBOX.md), the shipped demo seed, and a generator of large seeds.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// The demo seed shipped as `jobs/demo-seed.json`; its schema is also the generator's.
const DEMO_SEED: &str = include_str!("../../../jobs/demo-seed.json");

/// The whole seed file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    #[serde(default)]
    pub databases: Vec<SeedDatabase>,
    #[serde(default)]
    pub data_sources: Vec<SeedDataSource>,
    #[serde(default)]
    pub users: Vec<SeedUser>,
    #[serde(default)]
    pub pages: Vec<SeedPage>,
}

/// A database: a container of one or more data sources.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedDatabase {
    pub id: String,
    pub title: String,
    /// Its data sources, in order; those naming this database in `database_id` are added.
    #[serde(default)]
    pub data_sources: Vec<String>,
}

/// A data source: the schema pages live under.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedDataSource {
    pub id: String,
    pub title: String,
    pub database_id: String,
    pub properties: Vec<SeedProperty>,
}

/// One property of a data source's schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedProperty {
    /// The property id as the API shows it (URL-encoded short id, e.g. `a%3Fb`); `title` for the
    /// title property; derived from the name when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    /// The property type, as Notion names it (`status`, `multi_select`, …).
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// select, multi_select, status: the options.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<SeedOption>,
    /// number: the format (default `number`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// relation: the related data source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_source_id: Option<String>,
    /// formula: the expression (shown only; never evaluated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// unique_id: the prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

/// An option of a select, multi_select or status property.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedOption {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    /// One of Notion's option colours; `default` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// status only: `to_do`, `in_progress` or `complete`. By default the first option is to do,
    /// the last complete, the others in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// A workspace user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedUser {
    pub id: String,
    pub name: String,
    /// `person` (default) or `bot`.
    #[serde(rename = "type", default = "person")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

fn person() -> String {
    "person".to_string()
}

/// A page in a data source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedPage {
    pub id: String,
    /// The parent data source.
    pub data_source_id: String,
    /// Values by property name (or id): Notion's request shape or the simpler forms of
    /// docs/SANDBOX.md (a string for text and options, a list of names or ids, …).
    #[serde(default)]
    pub properties: Map<String, Value>,
    /// Request shape (`{"emoji":"🚀"}`, `{"external":{"url":…}}`) or null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cover: Option<Value>,
    #[serde(default)]
    pub in_trash: bool,
    #[serde(default)]
    pub is_locked: bool,
    /// RFC 3339; the sandbox's start time when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_edited_time: Option<String>,
    /// A user id; the first user when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

/// Why a seed could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("cannot read seed file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("seed file {} is not a valid seed: {source}", path.display())]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("seed is not valid JSON for the seed format: {0}")]
    Json(#[from] serde_json::Error),
    #[error("invalid seed: {0}")]
    Invalid(String),
}

impl Seed {
    /// Read and parse a seed file (the contents are checked when the sandbox starts, or with
    /// [`Seed::check`]).
    pub fn load(path: &Path) -> Result<Seed, SeedError> {
        let text = std::fs::read_to_string(path).map_err(|source| SeedError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| SeedError::Parse {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Parse a seed from JSON text.
    pub fn from_json(text: &str) -> Result<Seed, SeedError> {
        Ok(serde_json::from_str(text)?)
    }

    /// The demo task tracker of `jobs/demo-seed.json`.
    pub fn demo() -> Seed {
        // The file is part of the crate and covered by a test; it always parses.
        serde_json::from_str(DEMO_SEED).unwrap_or_default()
    }

    /// The demo schema and users with `n_pages` generated pages, for benchmarks and large tests.
    /// Page ids are `00000000-0000-4000-8000-` followed by the 1-based index in 12 hex digits
    /// (see [`Seed::generated_page_id`]); every page has a title, a status and a priority.
    pub fn generate(n_pages: usize) -> Seed {
        let mut seed = Seed::demo();
        let Some(data_source_id) = seed.data_sources.first().map(|ds| ds.id.clone()) else {
            return seed;
        };
        let statuses = ["Not started", "In progress"];
        let priorities = ["Low", "Medium", "High"];
        seed.pages = (1..=n_pages)
            .map(|i| {
                let mut properties = Map::new();
                properties.insert("Name".into(), Value::String(format!("Task {i}")));
                properties.insert("Status".into(), statuses[i % 2].into());
                properties.insert("Priority".into(), priorities[i % 3].into());
                SeedPage {
                    id: Seed::generated_page_id(i),
                    data_source_id: data_source_id.clone(),
                    properties,
                    icon: None,
                    cover: None,
                    in_trash: false,
                    is_locked: false,
                    created_time: None,
                    last_edited_time: None,
                    created_by: None,
                }
            })
            .collect();
        seed
    }

    /// Give the pages created times from `first` on, `per_minute` pages to each minute (at
    /// seconds 0, 1, 2, … within it, which the sandbox rounds down to the minute as Notion
    /// does): page `i` (0-based) is created at `first + i / per_minute` minutes. With
    /// `per_minute` above 1, pages share a `created_time`; 0 counts as 1.
    pub fn created_per_minute(mut self, first: DateTime<Utc>, per_minute: usize) -> Seed {
        let per_minute = per_minute.max(1);
        for (i, page) in self.pages.iter_mut().enumerate() {
            let minutes = i64::try_from(i / per_minute).unwrap_or(i64::MAX);
            let seconds = i64::try_from(i % per_minute % 60).unwrap_or(0);
            let t = first + Duration::minutes(minutes) + Duration::seconds(seconds);
            page.created_time = Some(t.to_rfc3339_opts(SecondsFormat::Millis, true));
        }
        self
    }

    /// The id [`Seed::generate`] gives its `index`-th page (1-based).
    pub fn generated_page_id(index: usize) -> String {
        format!("00000000-0000-4000-8000-{index:012x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_seed_parses_and_checks() {
        let seed: Seed = serde_json::from_str(DEMO_SEED).expect("demo seed parses");
        assert_eq!(seed.pages.len(), 19);
        seed.check().expect("demo seed is valid");
    }

    #[test]
    fn generated_seed_checks() {
        let seed = Seed::generate(250);
        assert_eq!(seed.pages.len(), 250);
        assert_eq!(seed.pages[0].id, "00000000-0000-4000-8000-000000000001");
        seed.check().expect("generated seed is valid");
    }

    #[test]
    fn created_per_minute_shares_minutes() {
        let first = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let seed = Seed::generate(8).created_per_minute(first, 3);
        let times: Vec<&str> = seed
            .pages
            .iter()
            .map(|p| p.created_time.as_deref().unwrap())
            .collect();
        assert_eq!(times[0], "2026-01-01T00:00:00.000Z");
        assert_eq!(times[2], "2026-01-01T00:00:02.000Z");
        assert_eq!(times[3], "2026-01-01T00:01:00.000Z");
        assert_eq!(times[7], "2026-01-01T00:02:01.000Z");
        seed.check().expect("valid");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = Seed::from_json(r#"{"pages": [], "extra": 1}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `extra`"), "{err}");
    }
}
