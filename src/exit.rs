//! Exit codes (SPEC §2). When several apply, the first in the order 2, 3, 130, 4, 1, 0 wins.

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every row ok or skipped.
    Ok,
    /// Finished; some rows failed, were invalid or unknown.
    RowsFailed,
    /// Usage, input or configuration error before any write.
    Usage,
    /// Aborted: token refused, --max-errors, the first rows all failed alike, the shared
    /// limiter lost with `--shared-limiter-required`, or a file the run writes not written.
    Aborted,
    /// --max-runtime reached.
    Deadline,
    /// SIGINT or SIGTERM, after a clean drain.
    Interrupted,
}

impl Exit {
    /// Every exit, in the order of their codes.
    pub const ALL: [Exit; 6] = [
        Exit::Ok,
        Exit::RowsFailed,
        Exit::Usage,
        Exit::Aborted,
        Exit::Deadline,
        Exit::Interrupted,
    ];

    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::RowsFailed => 1,
            Exit::Usage => 2,
            Exit::Aborted => 3,
            Exit::Deadline => 4,
            Exit::Interrupted => 130,
        }
    }

    /// What the code tells the person who reads it, and what to do next.
    pub fn meaning(self) -> &'static str {
        match self {
            Exit::Ok => "every row ok or skipped",
            Exit::RowsFailed => {
                "finished; some rows failed, were invalid or unknown (see the report)"
            }
            Exit::Usage => "usage, input or config error before any write",
            Exit::Aborted => {
                "aborted: token refused, --max-errors reached, the first 20 rows all failed alike, or the report or backup could not be written (a full disk)"
            }
            Exit::Deadline => "--max-runtime reached (continue with --resume)",
            Exit::Interrupted => {
                "interrupted by SIGINT/SIGTERM after a clean drain (continue with --resume)"
            }
        }
    }

    fn precedence(self) -> u8 {
        match self {
            Exit::Usage => 0,
            Exit::Aborted => 1,
            Exit::Interrupted => 2,
            Exit::Deadline => 3,
            Exit::RowsFailed => 4,
            Exit::Ok => 5,
        }
    }

    /// "When several apply, the first in the order 2, 3, 130, 4, 1, 0 wins."
    pub fn precedence_note() -> String {
        let mut order = Exit::ALL;
        order.sort_by_key(|e| e.precedence());
        let codes: Vec<String> = order.iter().map(|e| e.code().to_string()).collect();
        format!(
            "When several apply, the first in the order {} wins.",
            codes.join(", ")
        )
    }

    /// The exit code table that `--help` ends with.
    pub fn help_table() -> String {
        let mut text = String::from("Exit codes:\n");
        for exit in Exit::ALL {
            text.push_str(&format!("  {:<5}{}\n", exit.code(), exit.meaning()));
        }
        text.push_str(&Exit::precedence_note());
        text
    }

    /// The exit that wins when both happened.
    pub fn worst(self, other: Exit) -> Exit {
        if other.precedence() < self.precedence() {
            other
        } else {
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_is_2_3_130_4_1_0() {
        let order = [
            Exit::Usage,
            Exit::Aborted,
            Exit::Interrupted,
            Exit::Deadline,
            Exit::RowsFailed,
            Exit::Ok,
        ];
        for (i, a) in order.iter().enumerate() {
            for b in &order[i..] {
                assert_eq!(a.worst(*b), *a);
                assert_eq!(b.worst(*a), *a);
            }
        }
        assert_eq!(order.map(Exit::code), [2, 3, 130, 4, 1, 0]);
    }
}
