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
    /// Aborted: token refused, --max-errors, or the first rows all failed alike.
    Aborted,
    /// --max-runtime reached.
    Deadline,
    /// SIGINT or SIGTERM, after a clean drain.
    Interrupted,
}

impl Exit {
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
