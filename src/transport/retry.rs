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

/// The table. `template`: the row applies a template, which is not idempotent.
pub fn classify(attempt: Attempt, template: bool) -> Action {
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
        assert_eq!(classify(Attempt::Status(200), false), Action::Done);
        assert_eq!(classify(Attempt::Status(200), true), Action::Done);
    }

    #[test]
    fn rate_limits_and_overload_pause_everyone() {
        for template in [false, true] {
            assert_eq!(classify(Attempt::Status(429), template), Action::Pause);
            assert_eq!(classify(Attempt::Status(529), template), Action::Pause);
        }
    }

    #[test]
    fn a_refused_token_aborts_the_run() {
        assert_eq!(classify(Attempt::Status(401), false), Action::Abort);
    }

    #[test]
    fn conflicts_retry_even_for_templates() {
        assert_eq!(
            classify(Attempt::Status(409), false),
            Action::Retry { ambiguous: false }
        );
        assert_eq!(
            classify(Attempt::Status(409), true),
            Action::Retry { ambiguous: false }
        );
    }

    #[test]
    fn server_errors_retry_property_writes_and_leave_templates_unknown() {
        for status in [500, 502, 503, 504] {
            assert_eq!(
                classify(Attempt::Status(status), false),
                Action::Retry { ambiguous: true },
                "{status}"
            );
            assert_eq!(
                classify(Attempt::Status(status), true),
                Action::Unknown,
                "{status}"
            );
        }
    }

    #[test]
    fn timeouts_and_resets_are_ambiguous() {
        for attempt in [Attempt::TimedOut, Attempt::Reset] {
            assert_eq!(classify(attempt, false), Action::Retry { ambiguous: true });
            assert_eq!(classify(attempt, true), Action::Unknown);
        }
    }

    #[test]
    fn a_request_never_sent_is_safe_to_retry() {
        assert_eq!(
            classify(Attempt::ConnectFailed, false),
            Action::Retry { ambiguous: false }
        );
        assert_eq!(
            classify(Attempt::ConnectFailed, true),
            Action::Retry { ambiguous: false }
        );
    }

    #[test]
    fn other_client_errors_fail_the_row_at_once() {
        for status in [400, 403, 404, 405, 413, 422] {
            assert_eq!(
                classify(Attempt::Status(status), false),
                Action::Fail,
                "{status}"
            );
        }
        assert_eq!(classify(Attempt::Status(302), false), Action::Fail);
    }
}
