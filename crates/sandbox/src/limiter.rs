//! The sandbox's own rate limiter, per token: a token bucket (`--rate`, `--burst`) and an optional
//! budget per fixed 60-second window (`--window-budget`). It reads tokio's clock, so tests can
//! pause and advance time.

use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

/// Length of one budget window.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);

/// A classic token bucket: `rate` tokens a second, at most `burst` stored, starting full.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub(crate) fn new(rate: f64, burst: u32, now: Instant) -> Self {
        TokenBucket {
            rate,
            burst: f64::from(burst),
            tokens: f64::from(burst),
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
    }

    /// How long until a token is available (zero if one is).
    fn wait(&mut self, now: Instant) -> Duration {
        self.refill(now);
        // A hair of tolerance so that waiting the announced time always suffices.
        if self.tokens >= 1.0 - 1e-9 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / self.rate)
        }
    }

    fn take(&mut self) {
        self.tokens = (self.tokens - 1.0).max(0.0);
    }
}

/// A budget of requests per fixed 60-second window, windows counted from the limiter's origin.
#[derive(Debug, Clone)]
pub(crate) struct WindowBudget {
    budget: u32,
    origin: Instant,
    window: u64,
    used: u32,
}

impl WindowBudget {
    pub(crate) fn new(budget: u32, origin: Instant) -> Self {
        WindowBudget {
            budget,
            origin,
            window: 0,
            used: 0,
        }
    }

    fn wait(&mut self, now: Instant) -> Duration {
        let since = now.saturating_duration_since(self.origin);
        let window = since.as_secs() / WINDOW.as_secs();
        if window != self.window {
            self.window = window;
            self.used = 0;
        }
        if self.used < self.budget {
            Duration::ZERO
        } else {
            let next = Duration::from_secs((window + 1) * WINDOW.as_secs());
            next.saturating_sub(since)
        }
    }

    fn take(&mut self) {
        self.used += 1;
    }
}

/// The limits for one token.
#[derive(Debug, Clone)]
struct TokenLimits {
    bucket: Option<TokenBucket>,
    window: Option<WindowBudget>,
}

/// Rate limits per token. A request either takes a permit from every configured limit, or from
/// none and learns how many whole seconds to wait.
#[derive(Debug)]
pub(crate) struct Limiter {
    rate: Option<(f64, u32)>,
    window_budget: Option<u32>,
    origin: Instant,
    per_token: HashMap<String, TokenLimits>,
}

impl Limiter {
    pub(crate) fn new(
        rate: Option<(f64, u32)>,
        window_budget: Option<u32>,
        origin: Instant,
    ) -> Self {
        Limiter {
            rate,
            window_budget,
            origin,
            per_token: HashMap::new(),
        }
    }

    /// Whether any limit is configured.
    pub(crate) fn is_active(&self) -> bool {
        self.rate.is_some() || self.window_budget.is_some()
    }

    /// Take a permit for `token` at `now`, or return the `Retry-After` in whole seconds (the
    /// ceiling of the wait, at least 1).
    pub(crate) fn check(&mut self, token: &str, now: Instant) -> Result<(), u64> {
        if !self.is_active() {
            return Ok(());
        }
        let (rate, window_budget, origin) = (self.rate, self.window_budget, self.origin);
        let limits = self
            .per_token
            .entry(token.to_string())
            .or_insert_with(|| TokenLimits {
                bucket: rate.map(|(r, b)| TokenBucket::new(r, b, now)),
                window: window_budget.map(|b| WindowBudget::new(b, origin)),
            });
        let wait_window = limits
            .window
            .as_mut()
            .map_or(Duration::ZERO, |w| w.wait(now));
        let wait_bucket = limits
            .bucket
            .as_mut()
            .map_or(Duration::ZERO, |b| b.wait(now));
        let wait = wait_window.max(wait_bucket);
        if wait > Duration::ZERO {
            return Err(retry_after_secs(wait));
        }
        if let Some(bucket) = limits.bucket.as_mut() {
            bucket.take();
        }
        if let Some(window) = limits.window.as_mut() {
            window.take();
        }
        Ok(())
    }
}

/// Whole seconds to announce for a wait: its ceiling, at least 1.
fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs_f64().ceil() as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::{advance, pause};

    #[tokio::test]
    async fn no_limit_when_nothing_is_configured() {
        let mut limiter = Limiter::new(None, None, Instant::now());
        for _ in 0..10_000 {
            assert_eq!(limiter.check("t", Instant::now()), Ok(()));
        }
    }

    #[tokio::test]
    async fn burst_then_retry_after_then_success() {
        pause();
        let mut limiter = Limiter::new(Some((2.0, 3)), None, Instant::now());
        for _ in 0..3 {
            assert_eq!(limiter.check("t", Instant::now()), Ok(()));
        }
        // Empty bucket at 2/s: a token in 0.5 s, announced as 1 s.
        assert_eq!(limiter.check("t", Instant::now()), Err(1));
        advance(Duration::from_millis(499)).await;
        assert_eq!(limiter.check("t", Instant::now()), Err(1));
        advance(Duration::from_millis(1)).await;
        assert_eq!(limiter.check("t", Instant::now()), Ok(()));
        assert_eq!(limiter.check("t", Instant::now()), Err(1));
    }

    #[tokio::test]
    async fn slow_rate_announces_the_ceiling_of_the_wait() {
        pause();
        let mut limiter = Limiter::new(Some((0.25, 1)), None, Instant::now());
        assert_eq!(limiter.check("t", Instant::now()), Ok(()));
        assert_eq!(limiter.check("t", Instant::now()), Err(4));
        advance(Duration::from_millis(1500)).await;
        // 2.5 s left -> 3.
        assert_eq!(limiter.check("t", Instant::now()), Err(3));
        advance(Duration::from_millis(2500)).await;
        assert_eq!(limiter.check("t", Instant::now()), Ok(()));
    }

    #[tokio::test]
    async fn refused_requests_do_not_consume() {
        pause();
        let mut limiter = Limiter::new(Some((1.0, 1)), None, Instant::now());
        assert_eq!(limiter.check("t", Instant::now()), Ok(()));
        for _ in 0..5 {
            assert_eq!(limiter.check("t", Instant::now()), Err(1));
        }
        advance(Duration::from_secs(1)).await;
        assert_eq!(limiter.check("t", Instant::now()), Ok(()));
    }

    #[tokio::test]
    async fn bucket_never_holds_more_than_the_burst() {
        pause();
        let mut limiter = Limiter::new(Some((10.0, 2)), None, Instant::now());
        advance(Duration::from_secs(100)).await;
        assert_eq!(limiter.check("t", Instant::now()), Ok(()));
        assert_eq!(limiter.check("t", Instant::now()), Ok(()));
        assert_eq!(limiter.check("t", Instant::now()), Err(1));
    }

    #[tokio::test]
    async fn tokens_are_limited_separately() {
        pause();
        let mut limiter = Limiter::new(Some((1.0, 1)), None, Instant::now());
        assert_eq!(limiter.check("a", Instant::now()), Ok(()));
        assert_eq!(limiter.check("b", Instant::now()), Ok(()));
        assert_eq!(limiter.check("a", Instant::now()), Err(1));
    }

    #[tokio::test]
    async fn window_budget_waits_until_the_window_resets() {
        pause();
        let origin = Instant::now();
        let mut limiter = Limiter::new(None, Some(3), origin);
        advance(Duration::from_secs(10)).await;
        for _ in 0..3 {
            assert_eq!(limiter.check("t", Instant::now()), Ok(()));
        }
        assert_eq!(limiter.check("t", Instant::now()), Err(50));
        advance(Duration::from_millis(49_500)).await;
        assert_eq!(limiter.check("t", Instant::now()), Err(1));
        advance(Duration::from_millis(500)).await;
        assert_eq!(limiter.check("t", Instant::now()), Ok(()));
    }

    #[tokio::test]
    async fn both_limits_apply_and_a_refusal_takes_from_neither() {
        pause();
        let mut limiter = Limiter::new(Some((1.0, 1)), Some(2), Instant::now());
        assert_eq!(limiter.check("t", Instant::now()), Ok(()));
        assert_eq!(limiter.check("t", Instant::now()), Err(1));
        advance(Duration::from_secs(1)).await;
        assert_eq!(limiter.check("t", Instant::now()), Ok(()));
        advance(Duration::from_secs(1)).await;
        // The bucket has a token, the window is spent: 58 s to its end.
        assert_eq!(limiter.check("t", Instant::now()), Err(58));
        advance(Duration::from_secs(58)).await;
        assert_eq!(limiter.check("t", Instant::now()), Ok(()));
    }
}
