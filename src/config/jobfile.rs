//! Job files: a TOML file that names the input, how its columns map to properties, and default
//! values for any flag. Every path in a job file is relative to the job file's folder. Keys are
//! the flags' names with `_` for `-` (`max_attempts = 8`); the command line wins over the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::filter::Clause;
use crate::mapping::{ColumnMapping, EditOp};
use crate::notion::PropertyType;

/// A job file as written.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JobFile {
    /// The rows to apply, relative to the job file.
    pub input: Option<PathBuf>,
    /// `csv` or `jsonl`, when the input's extension does not say.
    pub format: Option<String>,
    pub id_column: Option<String>,
    pub delimiter: Option<String>,
    pub separator: Option<String>,
    pub empty: Option<String>,
    /// IANA time zone for date-times written without an offset.
    pub time_zone: Option<String>,
    /// The input's character encoding (`windows-1252`, `utf-16`, ...).
    pub encoding: Option<String>,
    /// Number cells write decimals with a comma.
    pub decimal_comma: Option<bool>,
    /// The character that groups thousands in number cells.
    pub thousands_separator: Option<String>,
    /// The only input columns to use (`--columns`); the others are ignored.
    pub columns_only: Option<Vec<String>>,
    pub notion_version: Option<String>,
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
    pub api_base: Option<String>,
    pub schema_from: Option<String>,
    pub schema_file: Option<PathBuf>,
    /// The data source to scan before writing (`--data-source`).
    pub data_source: Option<String>,
    /// With a data source, send every cell (`--send-unchanged`).
    pub send_unchanged: Option<bool>,
    /// The key property rows are matched by (`--match-on`).
    pub match_on: Option<String>,
    /// Keys match whatever their case (`--match-ignore-case`).
    pub match_ignore_case: Option<bool>,
    /// Create a page for each key no page has (`--create-missing`).
    pub create_missing: Option<bool>,
    /// How pages are found by key: auto, scan or batch (`--key-lookup`).
    pub key_lookup: Option<String>,
    /// Add the options the input names that the schema lacks, before any write
    /// (`--add-missing-options`).
    pub add_missing_options: Option<bool>,
    /// Create the related pages of keys no page has (`--create-missing-related`).
    pub create_missing_related: Option<bool>,
    /// Edit the pages this filter selects instead of reading an input (`--where`, SPEC §11):
    /// `NAME = VALUE`, a list of them (joined with `and`), or a filter object as a table. The
    /// values to set are then `[constants]` (page-level fields too: `"@in_trash" = true`).
    #[serde(rename = "where")]
    pub where_: Option<WhereEntry>,
    /// The most pages a filter may select (`--max-rows`).
    pub max_rows: Option<u64>,
    /// What becomes of pages whose key no input row has (`--missing-pages`).
    pub missing_pages: Option<String>,
    /// The most pages `missing_pages` may trash or flag (`--max-missing`): `60` or `"6%"`.
    pub max_missing: Option<CountOrShare>,
    /// Check preconditions against a read just before each write (`--recheck`).
    pub recheck: Option<bool>,
    pub report: Option<PathBuf>,
    // apply's flags
    pub rate: Option<f64>,
    pub burst: Option<u32>,
    pub concurrency: Option<usize>,
    pub max_attempts: Option<u32>,
    pub timeout: Option<f64>,
    pub max_errors: Option<u64>,
    pub max_runtime: Option<String>,
    pub failed_out: Option<PathBuf>,
    pub backup: Option<PathBuf>,
    pub summary_json: Option<PathBuf>,
    pub progress: Option<String>,
    /// Seed file for `apply --sandbox`.
    pub sandbox_seed: Option<PathBuf>,
    /// `--shared-limiter URL`, `--limiter-key NAME`, `--shared-limiter-required`.
    pub shared_limiter: Option<String>,
    pub limiter_key: Option<String>,
    pub shared_limiter_required: Option<bool>,
    /// Column -> property mapping: `Status = "status"` or a table.
    #[serde(default)]
    pub columns: BTreeMap<String, ColumnEntry>,
    /// Values written to every row that is sent: `Done = true`, `"Migrated:checkbox" = true`.
    #[serde(default)]
    pub constants: BTreeMap<String, toml::Value>,
    /// Preconditions of every row (SPEC §11): the value each property must have now for a row
    /// to be written, keyed like a constant (`Status = "In progress"`).
    #[serde(default)]
    pub expect: BTreeMap<String, toml::Value>,
}

/// A job file's `where`: one `NAME = VALUE`, several, or a Notion filter object as a table.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum WhereEntry {
    One(String),
    Many(Vec<String>),
    Filter(toml::Table),
}

/// One `[columns]` entry: a type name alone, or a table.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum ColumnEntry {
    Type(String),
    Table(ColumnTable),
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ColumnTable {
    pub property: Option<String>,
    #[serde(rename = "type")]
    pub ty: Option<String>,
    pub separator: Option<String>,
    pub time_zone: Option<String>,
    #[serde(default)]
    pub ignore: bool,
    /// `"add"` or `"remove"`: the cells add items to a multi-valued property, or remove them
    /// (`"set"`, the default, sets the whole value).
    pub op: Option<String>,
    /// A relation column's cells name the related pages by this property of theirs.
    pub relation_key: Option<String>,
}

/// A job file that cannot be used; the run exits 2.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("cannot read job file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("job file {path} is not valid: {message}")]
    Invalid { path: String, message: String },
}

impl JobFile {
    /// Reads a job file and makes its paths relative to the current folder.
    pub fn load(path: &Path) -> Result<JobFile, JobError> {
        let text = std::fs::read_to_string(path).map_err(|source| JobError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut job: JobFile = toml::from_str(&text).map_err(|e| JobError::Invalid {
            path: path.display().to_string(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        let dir = path.parent().unwrap_or(Path::new(""));
        for p in [
            &mut job.input,
            &mut job.token_file,
            &mut job.schema_file,
            &mut job.report,
            &mut job.failed_out,
            &mut job.backup,
            &mut job.summary_json,
            &mut job.sandbox_seed,
        ]
        .into_iter()
        .flatten()
        {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        }
        Ok(job)
    }

    /// The `[columns]` table as mappings, each checked.
    pub fn column_mappings(&self) -> Result<Vec<ColumnMapping>, String> {
        self.columns
            .iter()
            .map(|(column, entry)| {
                let table = match entry {
                    ColumnEntry::Type(ty) => ColumnTable {
                        ty: Some(ty.clone()),
                        ..ColumnTable::default()
                    },
                    ColumnEntry::Table(t) => t.clone(),
                };
                let ty = table
                    .ty
                    .as_deref()
                    .map(str::parse::<PropertyType>)
                    .transpose()
                    .map_err(|e| format!("[columns] {column:?}: {e}"))?;
                let separator = table
                    .separator
                    .as_deref()
                    .map(|s| single_char(s, "separator"))
                    .transpose()
                    .map_err(|e| format!("[columns] {column:?}: {e}"))?;
                if let Some(zone) = &table.time_zone {
                    crate::notion::time_zone::check(zone)
                        .map_err(|e| format!("[columns] {column:?}: time_zone {e}"))?;
                }
                let edit = match table.op.as_deref() {
                    None | Some("set") => None,
                    Some("add") => Some(EditOp::Add),
                    Some("remove") => Some(EditOp::Remove),
                    Some(other) => {
                        return Err(format!(
                            "[columns] {column:?}: op {other:?} is not one of set, add, remove"
                        ))
                    }
                };
                Ok(ColumnMapping {
                    edit,
                    relation_key: table.relation_key.clone(),
                    column: column.clone(),
                    property: table.property,
                    ty,
                    separator,
                    time_zone: table.time_zone,
                    ignore: table.ignore,
                })
            })
            .collect()
    }
}

impl JobFile {
    /// The `[constants]` table as flat JSONL keys and values (a TOML date becomes its text).
    pub fn constants(&self) -> Result<Vec<(String, serde_json::Value)>, String> {
        flat_values(&self.constants, "constants")
    }

    /// The `[expect]` table, keyed and converted like `[constants]`.
    pub fn expectations(&self) -> Result<Vec<(String, serde_json::Value)>, String> {
        flat_values(&self.expect, "expect")
    }

    /// `where` as filter clauses.
    pub fn where_clauses(&self) -> Result<Vec<Clause>, String> {
        Ok(match &self.where_ {
            None => Vec::new(),
            Some(WhereEntry::One(text)) => vec![Clause::Text(text.clone())],
            Some(WhereEntry::Many(texts)) => texts.iter().cloned().map(Clause::Text).collect(),
            Some(WhereEntry::Filter(table)) => {
                let filter = table_to_json(table).map_err(|e| format!("where: {e}"))?;
                vec![Clause::Json(filter)]
            }
        })
    }
}

/// A table of flat values (`[constants]`, `[expect]`) as JSON, in key order.
fn flat_values(
    table: &BTreeMap<String, toml::Value>,
    name: &str,
) -> Result<Vec<(String, serde_json::Value)>, String> {
    table
        .iter()
        .map(|(key, value)| {
            toml_to_json(value)
                .map(|v| (key.clone(), v))
                .map_err(|e| format!("[{name}] {key:?}: {e}"))
        })
        .collect()
}

/// A TOML table (a filter object) as JSON: nested tables are objects.
fn table_to_json(table: &toml::Table) -> Result<serde_json::Value, String> {
    table
        .iter()
        .map(|(key, value)| {
            let v = match value {
                toml::Value::Table(t) => table_to_json(t)?,
                toml::Value::Array(items) if items.iter().any(toml::Value::is_table) => {
                    serde_json::Value::Array(
                        items
                            .iter()
                            .map(|item| match item {
                                toml::Value::Table(t) => table_to_json(t),
                                other => toml_to_json(other),
                            })
                            .collect::<Result<_, _>>()?,
                    )
                }
                other => toml_to_json(other)?,
            };
            Ok((key.clone(), v))
        })
        .collect()
}

fn toml_to_json(value: &toml::Value) -> Result<serde_json::Value, String> {
    use serde_json::Value as J;
    Ok(match value {
        toml::Value::String(s) => J::String(s.clone()),
        toml::Value::Integer(i) => J::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(J::Number)
            .ok_or_else(|| format!("{f} is not a number Notion takes"))?,
        toml::Value::Boolean(b) => J::Bool(*b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(items) => {
            J::Array(items.iter().map(toml_to_json).collect::<Result<_, _>>()?)
        }
        toml::Value::Table(_) => {
            return Err("a table is not a value: write a string, number, boolean or list".into())
        }
    })
}

/// A one-character setting such as a delimiter or separator; `\t` and `tab` mean a tab.
pub fn single_char(text: &str, what: &str) -> Result<char, String> {
    match text {
        "\\t" | "tab" => return Ok('\t'),
        _ => {}
    }
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Ok(c),
        _ => Err(format!("{what} must be one character, got {text:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_relative_to_the_job_file_and_columns_parse() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("job.toml");
        std::fs::write(
            &path,
            r#"
input = "rows.csv"
id_column = "Page"
rate = 2.5
sandbox_seed = "seed.json"

[columns]
Status = "status"
State = { property = "Status 2", type = "select" }
Tags = { type = "multi_select", separator = "|" }
Comment = { ignore = true }

[constants]
"Migrated:checkbox" = true
Due = 2026-01-31
Tags = ["a", "b"]
"#,
        )
        .unwrap();
        let job = JobFile::load(&path).unwrap();
        assert_eq!(
            job.constants().unwrap(),
            [
                ("Due".to_string(), serde_json::json!("2026-01-31")),
                ("Migrated:checkbox".to_string(), serde_json::json!(true)),
                ("Tags".to_string(), serde_json::json!(["a", "b"])),
            ]
        );
        assert_eq!(job.input, Some(dir.path().join("rows.csv")));
        assert_eq!(job.sandbox_seed, Some(dir.path().join("seed.json")));
        assert_eq!(job.rate, Some(2.5));
        let columns = job.column_mappings().unwrap();
        assert_eq!(columns.len(), 4);
        let tags = columns.iter().find(|c| c.column == "Tags").unwrap();
        assert_eq!(
            (tags.ty, tags.separator),
            (Some(PropertyType::MultiSelect), Some('|'))
        );
        let state = columns.iter().find(|c| c.column == "State").unwrap();
        assert_eq!(state.property.as_deref(), Some("Status 2"));
        assert!(
            columns
                .iter()
                .find(|c| c.column == "Comment")
                .unwrap()
                .ignore
        );
    }

    #[test]
    fn bad_job_files_say_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("job.toml");
        std::fs::write(&path, "input = \"a.csv\"\nconcurency = 3\n").unwrap();
        let err = JobFile::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("concurency") && err.contains("job.toml"),
            "{err}"
        );
        std::fs::write(&path, "[columns]\nStatus = \"statsu\"\n").unwrap();
        let err = JobFile::load(&path).unwrap().column_mappings().unwrap_err();
        assert!(err.contains("did you mean \"status\""), "{err}");
        let err = JobFile::load(&dir.path().join("missing.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot read job file"), "{err}");
    }

    #[test]
    fn where_is_a_clause_a_list_or_a_filter_table() {
        let job = |text: &str| -> JobFile { toml::from_str(text).unwrap() };
        assert_eq!(
            job("where = \"Status = Done\"").where_clauses().unwrap(),
            [Clause::Text("Status = Done".into())]
        );
        assert_eq!(
            job("where = [\"A = 1\", \"B = 2\"]")
                .where_clauses()
                .unwrap()
                .len(),
            2
        );
        let table = job(
            "[where]\nor = [{ property = \"Status\", status = { equals = \"Done\" } }, \
             { property = \"Done\", checkbox = { equals = true } }]\n",
        );
        assert_eq!(
            table.where_clauses().unwrap(),
            [Clause::Json(serde_json::json!({"or": [
                {"property": "Status", "status": {"equals": "Done"}},
                {"property": "Done", "checkbox": {"equals": true}}
            ]}))]
        );
        let expect = job("[expect]\nStatus = \"In progress\"\n");
        assert_eq!(
            expect.expectations().unwrap(),
            [("Status".to_string(), serde_json::json!("In progress"))]
        );
    }

    #[test]
    fn single_chars() {
        assert_eq!(single_char(";", "separator"), Ok(';'));
        assert_eq!(single_char("\\t", "delimiter"), Ok('\t'));
        assert!(single_char(";;", "separator").is_err());
        assert!(single_char("", "separator").is_err());
    }
}

/// A count (`60`) or a share written as text (`"6%"`, or `"60"`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum CountOrShare {
    Count(u64),
    Text(String),
}

impl CountOrShare {
    /// As it would be written on the command line.
    pub fn as_flag(&self) -> String {
        match self {
            CountOrShare::Count(n) => n.to_string(),
            CountOrShare::Text(t) => t.clone(),
        }
    }
}
