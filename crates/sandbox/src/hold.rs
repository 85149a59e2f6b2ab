//! Holding requests, so that a test can act between two of a client's requests without
//! guessing at timing: while a hold is set, every API request of its method whose path starts
//! with its prefix waits, before any check, until the hold is released. The waiting requests
//! are counted, and [`Holds::waiting`] resolves once enough of them are waiting: "the client
//! has reached this request" is then an event, not a sleep. (Another client's requests of
//! other methods or paths go through meanwhile.)

use serde::Serialize;
use tokio::sync::watch;

/// What is held now, and how many requests wait.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HoldState {
    /// `(method, path prefix)` of the requests held; none: nothing is held.
    pub rule: Option<(String, String)>,
    /// Requests waiting now.
    pub waiting: usize,
    /// Requests that have waited since the sandbox started.
    pub held: u64,
}

impl HoldState {
    fn holds(&self, method: &str, path: &str) -> bool {
        self.rule
            .as_ref()
            .is_some_and(|(m, prefix)| m.eq_ignore_ascii_case(method) && path.starts_with(prefix))
    }
}

/// The sandbox's one hold.
#[derive(Debug)]
pub(crate) struct Holds {
    state: watch::Sender<HoldState>,
}

impl Default for Holds {
    fn default() -> Self {
        Holds {
            state: watch::channel(HoldState::default()).0,
        }
    }
}

/// Counts a request as waiting while it lives (a client that gives up drops it).
struct Waiting<'a>(&'a watch::Sender<HoldState>);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|s| s.waiting -= 1);
    }
}

impl Holds {
    /// Holds the requests of `method` whose path starts with `prefix` (replacing any hold).
    pub(crate) fn hold(&self, method: &str, prefix: &str) {
        self.state
            .send_modify(|s| s.rule = Some((method.to_ascii_uppercase(), prefix.to_string())));
    }

    /// Lets every waiting request go on, and holds no more.
    pub(crate) fn release(&self) {
        self.state.send_modify(|s| s.rule = None);
    }

    pub(crate) fn state(&self) -> HoldState {
        self.state.borrow().clone()
    }

    /// Resolves once at least `n` requests are waiting.
    pub(crate) async fn waiting(&self, n: usize) -> HoldState {
        let mut rx = self.state.subscribe();
        let state = rx.wait_for(|s| s.waiting >= n).await.map(|s| s.clone());
        state.unwrap_or_default()
    }

    /// Where a request waits, if it is held, until the hold is released.
    pub(crate) async fn pass(&self, method: &str, path: &str) {
        let mut rx = self.state.subscribe();
        if !rx.borrow().holds(method, path) {
            return;
        }
        self.state.send_modify(|s| {
            s.waiting += 1;
            s.held += 1;
        });
        let _waiting = Waiting(&self.state);
        let _ = rx.wait_for(|s| !s.holds(method, path)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn held_requests_wait_until_released_and_others_pass() {
        let holds = Arc::new(Holds::default());
        holds.hold("get", "/v1/pages/");
        // Not held: another method, another path.
        holds.pass("PATCH", "/v1/pages/x").await;
        holds.pass("GET", "/v1/users").await;
        let h = holds.clone();
        let held = tokio::spawn(async move { h.pass("GET", "/v1/pages/x").await });
        let state = holds.waiting(1).await;
        assert_eq!((state.waiting, state.held), (1, 1));
        assert!(!held.is_finished());
        holds.release();
        held.await.unwrap();
        assert_eq!(holds.state().waiting, 0);
        assert_eq!(holds.state().rule, None);
    }
}
