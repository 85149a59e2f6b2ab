//! What to do after each attempt: a pure table from the attempt's result to an action
//! (SPEC §5), unit-tested row by row.

use crate::notion::client::Attempt;

/// What the worker does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Applied: the row is `ok`.
    Done,
    /// 429 or 529: every worker waits for Retry-After; not counted as an attempt.
    Pause,
    /// Back off and try again. `ambiguous`: the write may have happened.
    Retry { ambiguous: bool },
    /// Refused: the row is `failed` at once.
    Fail,
    /// The write may have happened and must not be replayed (a template row): `unknown`.
    Unknown,
    /// The token was refused: the whole run stops.
    Abort,
}

/// The error code of a 409 that is final: notion-sdk-js v5.26 lists it, Notion documents
/// nothing about it, and a conflict's retries would only repeat it.
pub const ROW_LIMIT: &str = "row_limit_exceeded";

/// The table. `code`: the answer's error code; `template`: the row applies a template, which is
/// not idempotent.
pub fn classify(attempt: Attempt, code: Option<&str>, template: bool) -> Action {
    let ambiguous = |template: bool| {
        if template {
            Action::Unknown
        } else {
            Action::Retry { ambiguous: true }
        }
    };
    match attempt {
        Attempt::Status(200..=299) => Action::Done,
        Attempt::Status(429 | 529) => Action::Pause,
        Attempt::Status(401) => Action::Abort,
        Attempt::Status(409) if code == Some(ROW_LIMIT) => Action::Fail,
        // A conflict was not applied: safe to send again, template or not.
        Attempt::Status(409) => Action::Retry { ambiguous: false },
        // 500, 502, 503, 504 and any other server error may have been applied.
        Attempt::Status(500..=599) => ambiguous(template),
        Attempt::Status(_) => Action::Fail,
        Attempt::ConnectFailed => Action::Retry { ambiguous: false },
        Attempt::Reset | Attempt::TimedOut => ambiguous(template),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success() {
        assert_eq!(classify(Attempt::Status(200), None, false), Action::Done);
        assert_eq!(classify(Attempt::Status(200), None, true), Action::Done);
    }

    #[test]
    fn rate_limits_and_overload_pause_everyone() {
        for template in [false, true] {
            assert_eq!(
                classify(Attempt::Status(429), None, template),
                Action::Pause
            );
            assert_eq!(
                classify(Attempt::Status(529), None, template),
                Action::Pause
            );
        }
    }

    #[test]
    fn a_refused_token_aborts_the_run() {
        assert_eq!(classify(Attempt::Status(401), None, false), Action::Abort);
    }

    #[test]
    fn a_row_limit_conflict_is_final() {
        for template in [false, true] {
            let attempt = Attempt::Status(409);
            assert_eq!(classify(attempt, Some(ROW_LIMIT), template), Action::Fail);
            let other = classify(attempt, Some("conflict_error"), template);
            assert_eq!(other, Action::Retry { ambiguous: false });
        }
    }

    #[test]
    fn conflicts_retry_even_for_templates() {
        assert_eq!(
            classify(Attempt::Status(409), None, false),
            Action::Retry { ambiguous: false }
        );
        assert_eq!(
            classify(Attempt::Status(409), None, true),
            Action::Retry { ambiguous: false }
        );
    }

    #[test]
    fn server_errors_retry_property_writes_and_leave_templates_unknown() {
        for status in [500, 502, 503, 504] {
            assert_eq!(
                classify(Attempt::Status(status), None, false),
                Action::Retry { ambiguous: true },
                "{status}"
            );
            assert_eq!(
                classify(Attempt::Status(status), None, true),
                Action::Unknown,
                "{status}"
            );
        }
    }

    #[test]
    fn timeouts_and_resets_are_ambiguous() {
        for attempt in [Attempt::TimedOut, Attempt::Reset] {
            assert_eq!(
                classify(attempt, None, false),
                Action::Retry { ambiguous: true }
            );
            assert_eq!(classify(attempt, None, true), Action::Unknown);
        }
    }

    #[test]
    fn a_request_never_sent_is_safe_to_retry() {
        assert_eq!(
            classify(Attempt::ConnectFailed, None, false),
            Action::Retry { ambiguous: false }
        );
        assert_eq!(
            classify(Attempt::ConnectFailed, None, true),
            Action::Retry { ambiguous: false }
        );
    }

    #[test]
    fn other_client_errors_fail_the_row_at_once() {
        for status in [400, 403, 404, 405, 413, 422] {
            assert_eq!(
                classify(Attempt::Status(status), None, false),
                Action::Fail,
                "{status}"
            );
        }
        assert_eq!(classify(Attempt::Status(302), None, false), Action::Fail);
    }
}
