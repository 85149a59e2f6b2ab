//! The end-of-run summary: counts by outcome and by code, requests, 429s, retries, wall time
//! and effective rate; on stderr for people and as JSON for scripts (`--summary-json`).

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use crate::outcome::Outcome;

/// Rows by outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub ok: u64,
    pub failed: u64,
    pub unknown: u64,
    pub invalid: u64,
    pub skipped: u64,
}

impl Counts {
    pub fn add(&mut self, outcome: Outcome) {
        *match outcome {
            Outcome::Ok => &mut self.ok,
            Outcome::Failed => &mut self.failed,
            Outcome::Unknown => &mut self.unknown,
            Outcome::Invalid => &mut self.invalid,
            Outcome::Skipped => &mut self.skipped,
        } += 1;
    }

    pub fn rows(&self) -> u64 {
        self.ok + self.failed + self.unknown + self.invalid + self.skipped
    }

    /// Rows that did not end ok or skipped.
    pub fn not_ok(&self) -> u64 {
        self.failed + self.unknown + self.invalid
    }
}

/// Rows by what they did to their page (`--data-source`, `--match-on`): the report's
/// `action`, and the two codes of a key that found no page or several.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Actions {
    pub updated: u64,
    pub created: u64,
    pub unchanged: u64,
    pub no_match: u64,
    pub ambiguous_key: u64,
}

impl Actions {
    pub fn add(&mut self, action: Option<crate::outcome::RowAction>, code: Option<&str>) {
        use crate::outcome::RowAction;
        let slot = match (action, code) {
            (Some(RowAction::Updated), _) => &mut self.updated,
            (Some(RowAction::Created), _) => &mut self.created,
            (Some(RowAction::Unchanged), _) => &mut self.unchanged,
            (None, Some("no_match")) => &mut self.no_match,
            (None, Some("ambiguous_key")) => &mut self.ambiguous_key,
            _ => return,
        };
        *slot += 1;
    }
}

/// `--missing-pages`: the pages of the data source whose key no input row has, and what
/// became of them in this run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MissingPages {
    /// `trash` or `set:PROPERTY=VALUE`.
    pub action: String,
    /// Pages found missing after the scan.
    pub found: u64,
    pub trashed: u64,
    pub flagged: u64,
    /// Already flagged with the value: nothing sent.
    pub unchanged: u64,
    /// Failed or unknown.
    pub not_ok: u64,
    /// Why none was sent, when none was.
    pub not_applied: Option<String>,
}

impl MissingPages {
    /// Counts one missing page's result.
    pub fn add(&mut self, outcome: Outcome, action: Option<crate::outcome::RowAction>) {
        use crate::outcome::RowAction;
        match (outcome, action) {
            (Outcome::Ok, Some(RowAction::Trashed)) => self.trashed += 1,
            (Outcome::Ok, Some(RowAction::Flagged)) => self.flagged += 1,
            (Outcome::Ok | Outcome::Skipped, _) => self.unchanged += 1,
            _ => self.not_ok += 1,
        }
    }
}

/// The summary of one run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Rows that ended in this run, by outcome.
    pub rows: Counts,
    /// Rows that did not end ok, by HTTP status and Notion code (`400 validation_error`,
    /// `timeout`, ...).
    pub by_code: BTreeMap<String, u64>,
    /// Rows by what they did to their page.
    pub actions: Actions,
    /// `--missing-pages`: the pages whose key no input row has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_pages: Option<MissingPages>,
    /// `--match-on` was used: the text form says what became of the keys.
    #[serde(skip)]
    pub keyed: bool,
    /// Rows skipped with a code, by code (`unchanged`, `precondition_failed`, ...).
    pub skipped_by_code: BTreeMap<String, u64>,
    pub requests: u64,
    /// Of `requests`, those that read the data source (`--data-source`: queries, and the
    /// property reads that complete long values).
    pub scan_requests: u64,
    pub rate_limited: u64,
    /// The 429s by the limit Notion named (`additional_data.rate_limit_reason`; `unstated`
    /// when it named none): whether this run's connection spent its budget, or the workspace's
    /// shared budget ran out (another integration may be using it).
    pub rate_limit_reasons: BTreeMap<String, u64>,
    pub retries: u64,
    /// Files copied into Notion, when the run had any to copy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uploads: Option<UploadSummary>,
    pub wall_time_s: f64,
    /// Requests per second over the whole run.
    pub effective_rate: f64,
    /// Why the run stopped early, if it did.
    pub stopped: Option<String>,
    pub exit_code: u8,
    pub report: String,
    pub failed_out: Option<String>,
    /// Rows left from an earlier run that `--resume` did not send: already ok (or skipped).
    pub resumed_ok: u64,
    /// Rows an earlier run ended not ok for good (refused by Notion, or invalid) that
    /// `--resume` did not send: they are in `--failed-out`, for a person to fix.
    pub resumed_final: u64,
}

impl Summary {
    /// The human form, for stderr.
    pub fn write_text(&self, err: &mut dyn Write) -> io::Result<()> {
        let r = &self.rows;
        writeln!(
            err,
            "summary: {} rows: {} ok, {} failed, {} unknown, {} invalid, {} skipped{}",
            r.rows(),
            r.ok,
            r.failed,
            r.unknown,
            r.invalid,
            r.skipped,
            if self.resumed_ok > 0 {
                format!(
                    " ({} already ok or skipped in an earlier run, not sent again)",
                    self.resumed_ok
                )
            } else {
                String::new()
            }
        )?;
        if self.keyed {
            let a = &self.actions;
            writeln!(
                err,
                "summary: by key: {} updated, {} created, {} unchanged, {} no match, {} ambiguous",
                a.updated, a.created, a.unchanged, a.no_match, a.ambiguous_key
            )?;
        }
        if let Some(m) = &self.missing_pages {
            let mut line = format!(
                "summary: missing pages ({}): {} found, {} trashed, {} flagged, {} already flagged, {} not ok",
                m.action, m.found, m.trashed, m.flagged, m.unchanged, m.not_ok
            );
            if let Some(why) = &m.not_applied {
                line += &format!("; none sent: {why}");
            }
            writeln!(err, "{line}")?;
        }
        let reads = if self.scan_requests > 0 {
            format!(
                " ({} reading the data source, {} writing)",
                self.scan_requests,
                self.requests - self.scan_requests
            )
        } else {
            String::new()
        };
        if self.resumed_final > 0 {
            writeln!(
                err,
                "summary: {} rows refused by Notion or invalid in an earlier run are final: not \
                 sent again (they could only fail again, or land out of order); fix them and run \
                 the --failed-out file",
                self.resumed_final
            )?;
        }
        writeln!(
            err,
            "summary: {} requests{reads} in {:.1}s ({:.2}/s), {} retries, {} rate-limited (429/529)",
            self.requests, self.wall_time_s, self.effective_rate, self.retries, self.rate_limited
        )?;
        if !self.rate_limit_reasons.is_empty() {
            let reasons: Vec<String> = self
                .rate_limit_reasons
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            writeln!(
                err,
                "summary: 429s by the limit Notion named: {}",
                reasons.join(", ")
            )?;
        }
        if let Some(u) = &self.uploads {
            writeln!(
                err,
                "summary: files: {} uploaded ({} sent, {} imported by Notion from URLs), {} taken from the earlier run's uploads",
                u.uploaded,
                crate::mapping::file::human_bytes(u.bytes),
                u.imported,
                u.reused
            )?;
        }
        for (what, codes) in [
            ("not ok", &self.by_code),
            ("skipped", &self.skipped_by_code),
        ] {
            if !codes.is_empty() {
                let codes: Vec<String> = codes.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                writeln!(err, "summary: {what} by code: {}", codes.join(", "))?;
            }
        }
        writeln!(err, "summary: report: {}", self.report)?;
        Ok(())
    }
}

/// What a run copied into Notion (`--summary-json`'s `uploads`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UploadSummary {
    /// Files uploaded or imported by this run, each distinct file once.
    pub uploaded: u64,
    /// Bytes of local files sent.
    pub bytes: u64,
    /// Of `uploaded`, the files Notion imported from an `upload:` URL.
    pub imported: u64,
    /// Uploads an earlier run (`--resume`) had made, used again.
    pub reused: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_text() {
        let mut s = Summary {
            requests: 10,
            wall_time_s: 4.0,
            effective_rate: 2.5,
            report: "r.jsonl".into(),
            ..Summary::default()
        };
        for o in [
            Outcome::Ok,
            Outcome::Ok,
            Outcome::Failed,
            Outcome::Invalid,
            Outcome::Skipped,
            Outcome::Unknown,
        ] {
            s.rows.add(o);
        }
        s.by_code.insert("400 validation_error".into(), 1);
        s.skipped_by_code.insert("precondition_failed".into(), 1);
        assert_eq!((s.rows.rows(), s.rows.not_ok()), (6, 3));
        let mut out = Vec::new();
        s.write_text(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("6 rows: 2 ok, 1 failed, 1 unknown, 1 invalid, 1 skipped"),
            "{text}"
        );
        assert!(text.contains("10 requests in 4.0s (2.50/s)"), "{text}");
        assert!(text.contains("400 validation_error: 1"), "{text}");
        assert!(
            text.contains("skipped by code: precondition_failed: 1"),
            "{text}"
        );
    }
}
