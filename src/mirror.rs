//! Mirror mode (issue 21, point 2): after a keyed sync (`--match-on` with an input file), the
//! pages of the data source whose key no input row has are trashed or flagged
//! (`--missing-pages trash|set:PROPERTY=VALUE`; `keep`, the default, leaves them).
//!
//! The set of missing pages needs every page's key, so the scan reads the whole data source
//! (never key lookups); the input's keys are read ahead before any write
//! ([`crate::scan::keys::read_input_keys`]), and a row has its key whenever its key cell was
//! read, even if the rest of the row is invalid. The brake (`--max-missing N` or `P%`, default
//! 10 % of the pages in scope) is judged before any write. The pages become rows of their own
//! ([`Missing::rows`]: a flat JSONL line of the page id and the values to set, as `--where`'s
//! pages are), numbered after the input's rows and kept across resumed runs, which `apply`
//! sends after every input row has ended, through the same matcher (changes only, the
//! backup's before-image), dispatcher and report.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::mapping::{Mapper, MappingOptions};
use crate::notion::NotionId;
use crate::outcome::{RowAction, RowResult};
use crate::scan::keys::InputKeys;
use crate::scan::Index;
use crate::select::{self, PreparedSet};
use crate::source::Source;

/// What becomes of a page whose key no input row has (`keep` is no mirror at all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MissingAction {
    /// Moved to the trash (`in_trash: true`).
    Trash,
    /// PROPERTY gets VALUE, a cell typed by the schema (as `--set`).
    Set { property: String, value: String },
}

/// `--max-missing`: the most pages the run may trash or flag.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaxMissing {
    Count(u64),
    /// A share of the pages in scope, in percent.
    Percent(f64),
}

/// `--max-missing`'s default: 10 % of the pages in scope.
pub const DEFAULT_MAX_MISSING: MaxMissing = MaxMissing::Percent(10.0);

/// `--missing-pages` other than `keep`, and its brake.
#[derive(Debug, Clone, PartialEq)]
pub struct MirrorConfig {
    pub action: MissingAction,
    pub max: MaxMissing,
}

impl MissingAction {
    /// `keep` (`None`), `trash`, or `set:PROPERTY=VALUE`.
    pub fn parse(text: &str) -> Result<Option<MissingAction>, String> {
        let text = text.trim();
        if text == "keep" {
            return Ok(None);
        }
        if text == "trash" {
            return Ok(Some(MissingAction::Trash));
        }
        let bad = || {
            format!(
                "unknown --missing-pages {text:?}: expected keep, trash or set:PROPERTY=VALUE (set:Status=Gone)"
            )
        };
        let rest = text.strip_prefix("set:").ok_or_else(bad)?;
        let (property, value) = rest.split_once('=').ok_or_else(bad)?;
        if property.trim().is_empty() {
            return Err(bad());
        }
        Ok(Some(MissingAction::Set {
            property: property.trim().to_owned(),
            value: value.to_owned(),
        }))
    }

    /// As the flag's value.
    pub fn as_flag(&self) -> String {
        match self {
            MissingAction::Trash => "trash".into(),
            MissingAction::Set { property, value } => format!("set:{property}={value}"),
        }
    }

    /// What a page it landed on was done (the report's `action`).
    pub fn done(&self) -> RowAction {
        match self {
            MissingAction::Trash => RowAction::Trashed,
            MissingAction::Set { .. } => RowAction::Flagged,
        }
    }

    /// The values each missing page gets, keyed like flat JSONL keys.
    fn set(&self) -> Vec<(String, Value)> {
        match self {
            MissingAction::Trash => vec![("@in_trash".into(), json!("true"))],
            MissingAction::Set { property, value } => vec![(property.clone(), json!(value))],
        }
    }
}

impl MaxMissing {
    /// `60` or `6%` (a share of the pages in scope).
    pub fn parse(text: &str) -> Result<MaxMissing, String> {
        let text = text.trim();
        let bad = || {
            format!("--max-missing {text:?}: expected a count (60) or a share of the pages in scope (6%)")
        };
        match text.strip_suffix('%') {
            Some(p) => {
                let p: f64 = p.trim().parse().map_err(|_| bad())?;
                if !(0.0..=100.0).contains(&p) {
                    return Err(bad());
                }
                Ok(MaxMissing::Percent(p))
            }
            None => text.parse().map(MaxMissing::Count).map_err(|_| bad()),
        }
    }

    /// The most pages allowed out of `scope`: a share is rounded down.
    pub fn limit(self, scope: u64) -> u64 {
        match self {
            MaxMissing::Count(n) => n,
            MaxMissing::Percent(p) => (scope as f64 * p / 100.0 + 1e-9).floor() as u64,
        }
    }

    fn shown(self) -> String {
        match self {
            MaxMissing::Count(n) => n.to_string(),
            MaxMissing::Percent(p) => format!("{p}%"),
        }
    }
}

/// A mirror checked against the schema before anything is read: the values each missing page
/// gets, mapped once.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub action: MissingAction,
    pub max: MaxMissing,
    set: PreparedSet,
    /// The mapping of the missing pages' rows: by page id, no key, no input columns.
    options: MappingOptions,
}

/// The id key of a missing page's row.
const ID_KEY: &str = "page_id";

/// Checks `--missing-pages`' values against the schema (a property it lacks or cannot write, a
/// bad value: the reason, exit 2).
pub fn prepare(config: &MirrorConfig, options: &MappingOptions) -> Result<Prepared, String> {
    let options = MappingOptions {
        id_column: ID_KEY.into(),
        match_on: None,
        columns: Vec::new(),
        constants: Vec::new(),
        columns_only: None,
        ..options.clone()
    };
    let flag = format!("--missing-pages {}", config.action.as_flag());
    let set = select::prepare_set(&config.action.set(), &options, &flag)?;
    Ok(Prepared {
        action: config.action.clone(),
        max: config.max,
        set,
        options,
    })
}

impl Prepared {
    /// The body keys the missing pages' rows write (the scan reads them, for changes only and
    /// the backup's before-image).
    pub fn keys(&self) -> &[String] {
        &self.set.keys
    }

    /// The mapper of the missing pages' rows.
    pub fn mapper(&self) -> Result<Mapper, String> {
        Mapper::for_jsonl(self.options.clone()).map_err(|e| e.to_string())
    }
}

/// The pages in scope whose key no input row has, found before any write.
#[derive(Debug, Clone)]
pub struct Missing {
    pub action: MissingAction,
    /// Pages in scope: the data source's pages, not in the trash.
    pub scope: u64,
    /// Pages with an empty key: never missing.
    pub unkeyed_pages: u64,
    /// Input rows whose key could not be read: any page might be theirs, so none is handled.
    pub unkeyed_rows: Vec<u64>,
    /// The missing pages and their keys (canonical), by key.
    pub pages: Vec<(NotionId, Arc<str>)>,
    /// `--max-missing` for this scope.
    pub limit: u64,
    max: MaxMissing,
}

/// The pages of `index` (a whole scan) whose key is not among the input's `keys`.
pub fn find(index: &Index, keys: &InputKeys, prepared: &Prepared) -> Missing {
    let wanted: std::collections::HashSet<&str> = keys.keys.iter().map(|k| &*k.canonical).collect();
    let mut keyed = 0u64;
    let mut pages: Vec<(NotionId, Arc<str>)> = Vec::new();
    for (key, of_key) in index.keyed_pages() {
        keyed += of_key.len() as u64;
        if !wanted.contains(key) {
            let key: Arc<str> = key.into();
            pages.extend(of_key.iter().map(|p| (*p, key.clone())));
        }
    }
    pages.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
    let scope = index.len() as u64;
    Missing {
        action: prepared.action.clone(),
        scope,
        unkeyed_pages: scope.saturating_sub(keyed),
        unkeyed_rows: keys.unkeyed.clone(),
        pages,
        limit: prepared.max.limit(scope),
        max: prepared.max,
    }
}

impl Missing {
    /// More pages than `--max-missing` allows: the run stops before any write.
    pub fn stops(&self) -> bool {
        self.pages.len() as u64 > self.limit
    }

    /// Whether the missing pages are handled at all: not when a row's key could not be read.
    pub fn applies(&self) -> bool {
        self.unkeyed_rows.is_empty() && !self.pages.is_empty()
    }

    /// `plan`'s line: `{"missing_pages": {…}}`.
    pub fn json(&self) -> Value {
        json!({"missing_pages": {
            "action": self.action.as_flag(),
            "scope": self.scope,
            "count": self.pages.len(),
            "limit": self.limit,
            "stops": self.stops(),
            "empty_keys": self.unkeyed_pages,
            "rows_without_key": self.unkeyed_rows,
            "pages": self.pages.iter().map(|(id, key)| json!({"page_id": id.to_string(), "key": &**key})).collect::<Vec<_>>(),
        }})
    }

    /// One line saying what was found and what becomes of it.
    pub fn summary(&self, title: &str) -> String {
        let n = self.pages.len();
        let verb = match &self.action {
            MissingAction::Trash => "to trash".to_owned(),
            MissingAction::Set { property, value } => format!("to flag {property} = {value:?}"),
        };
        let mut line = format!(
            "missing pages: {n} of the {} pages of {title:?} have a key no input row has ({verb}; --max-missing {} allows {}); {} pages with an empty key are kept",
            self.scope,
            self.max.shown(),
            self.limit,
            self.unkeyed_pages
        );
        if !self.unkeyed_rows.is_empty() {
            line += &format!(
                "; none is handled: {} input rows have no key that could be read (rows {}), and any page might be theirs",
                self.unkeyed_rows.len(),
                shown_rows(&self.unkeyed_rows)
            );
        } else if self.stops() {
            line += "; over the limit: nothing would be sent";
        }
        line
    }

    /// Why the run stops before any write (the brake), and what to do.
    pub fn brake(&self) -> String {
        let n = self.pages.len() as u64;
        let percent = (n * 100).div_ceil(self.scope.max(1));
        format!(
            "--missing-pages {}: {n} pages of the {} in scope have a key no input row has, more than --max-missing {} allows ({}): nothing was sent. Check the input (plan lists the pages), or raise the limit if every one of them is meant: --max-missing {n} (or --max-missing {percent}%)",
            self.action.as_flag(),
            self.scope,
            self.max.shown(),
            self.limit,
        )
    }

    /// The missing pages as rows numbered after `after` (the input's rows), each keeping the
    /// row an earlier run gave it in `report` (with `--resume`).
    pub fn rows(
        &self,
        prepared: &Prepared,
        report: Option<&Path>,
        after: u64,
    ) -> std::io::Result<Source> {
        let ids: Vec<NotionId> = self.pages.iter().map(|(id, _)| *id).collect();
        let numbered = select::number(&ids, report, after)?;
        Ok(Source::selection(numbered, ID_KEY, &prepared.set.rest))
    }

    /// What marks a missing page's result as one: its key, and the action that landed.
    pub fn marks(&self) -> Marks {
        Marks {
            keys: self.pages.iter().cloned().collect(),
            done: self.action.done(),
        }
    }
}

/// Marks the results of missing pages' rows (the report's `key` and `action`).
#[derive(Debug, Clone)]
pub struct Marks {
    keys: HashMap<NotionId, Arc<str>>,
    done: RowAction,
}

impl Marks {
    /// The page's key, and `trashed` or `flagged` for a write that landed.
    pub fn mark(&self, result: &mut RowResult) {
        if let Some(key) = result.page_id.and_then(|p| self.keys.get(&p)) {
            result.key = Some(key.clone());
        }
        if result.action == Some(RowAction::Updated) {
            result.action = Some(self.done);
        }
    }
}

/// Row numbers for a message: the first 10, then how many more.
fn shown_rows(rows: &[u64]) -> String {
    let mut text: Vec<String> = rows.iter().take(10).map(u64::to_string).collect();
    if rows.len() > 10 {
        text.push(format!("and {} more", rows.len() - 10));
    }
    text.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_and_limits_parse() {
        assert_eq!(MissingAction::parse("keep"), Ok(None));
        assert_eq!(
            MissingAction::parse("trash"),
            Ok(Some(MissingAction::Trash))
        );
        assert_eq!(
            MissingAction::parse("set:Status=Gone"),
            Ok(Some(MissingAction::Set {
                property: "Status".into(),
                value: "Gone".into()
            }))
        );
        for bad in ["delete", "set:", "set:=x", "set:Status"] {
            assert!(MissingAction::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(MaxMissing::parse("60"), Ok(MaxMissing::Count(60)));
        assert_eq!(MaxMissing::parse("6%"), Ok(MaxMissing::Percent(6.0)));
        assert!(MaxMissing::parse("-1").is_err());
        assert!(MaxMissing::parse("101%").is_err());
        assert_eq!(DEFAULT_MAX_MISSING.limit(1000), 100);
        assert_eq!(MaxMissing::Percent(10.0).limit(999), 99);
        assert_eq!(MaxMissing::Count(60).limit(10), 60);
    }
}
