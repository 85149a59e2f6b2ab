//! The one rate limiter all workers share. Every attempt takes a permit from a GCRA limiter
//! (governor) running on tokio's clock, so tests can drive it with paused time. A 429 or 529
//! pauses every worker until its Retry-After has passed and lowers the rate, once per pause;
//! the rate climbs back toward `--rate` while requests succeed.

use std::num::NonZeroU32;
use std::ops::Add;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::time::Instant;

/// The lowest rate the limiter falls to, in requests per second.
const MIN_RATE: f64 = 0.1;
/// A pause without a Retry-After header: 1 s, doubling while 429s go on, at most 60 s.
const FIRST_PAUSE: Duration = Duration::from_secs(1);
const MAX_PAUSE: Duration = Duration::from_secs(60);
/// Past 90 % of the last ceiling the rate climbs by this fraction of it per second, halved each
/// time the same ceiling is hit again.
const FIRST_PROBE_STEP: f64 = 0.01;
const MIN_PROBE_STEP: f64 = 0.001;
/// A 429 this soon after a pause ended means the rate is still well over the limit.
const QUICK_REPEAT: Duration = Duration::from_secs(2);

/// tokio's clock, for governor.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

/// A tokio instant, as governor needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TokioInstant(Instant);

impl Add<Nanos> for TokioInstant {
    type Output = TokioInstant;

    fn add(self, other: Nanos) -> TokioInstant {
        TokioInstant(self.0 + Duration::from(other))
    }
}

impl Reference for TokioInstant {
    fn duration_since(&self, earlier: TokioInstant) -> Nanos {
        self.0.saturating_duration_since(earlier.0).into()
    }

    fn saturating_sub(&self, duration: Nanos) -> TokioInstant {
        TokioInstant(self.0.checked_sub(duration.into()).unwrap_or(self.0))
    }
}

impl Clock for TokioClock {
    type Instant = TokioInstant;

    fn now(&self) -> TokioInstant {
        TokioInstant(Instant::now())
    }
}

type Gcra = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<TokioInstant>>;

/// Why the limiter is holding every worker back.
#[derive(Debug, Clone, PartialEq)]
pub struct Pause {
    pub until: Instant,
    pub reason: String,
}

/// The shared limiter.
pub struct Limiter {
    max_rate: f64,
    burst: NonZeroU32,
    state: Mutex<State>,
}

struct State {
    gcra: Arc<Gcra>,
    rate: f64,
    /// The rate at which the server last said "too many".
    ceiling: f64,
    pause: Option<Pause>,
    /// When the current (or last) pause began: a 429 to a request sent before it belongs to
    /// that pause and does not lower the rate again.
    pause_started: Option<Instant>,
    /// The next pause length when the server gives no Retry-After.
    next_default_pause: Duration,
    last_raise: Instant,
    pauses: u64,
    /// How fast the rate climbs past 90 % of the ceiling, as a fraction of it per second.
    probe_step: f64,
    /// The rate when the current (or last) pause began, and how many requests it caught.
    hit: f64,
    caught: u32,
    /// Whether the current pause began soon after the last one ended, and when that one ended.
    quick: bool,
    last_until: Option<Instant>,
}

impl Limiter {
    /// A limiter allowing `rate` requests per second with bursts of `burst`.
    pub fn new(rate: f64, burst: u32) -> Limiter {
        let burst = NonZeroU32::new(burst.max(1)).expect("at least 1");
        let now = Instant::now();
        Limiter {
            max_rate: rate,
            burst,
            state: Mutex::new(State {
                gcra: Arc::new(gcra(rate, burst)),
                rate,
                ceiling: rate,
                pause: None,
                pause_started: None,
                next_default_pause: FIRST_PAUSE,
                last_raise: now,
                pauses: 0,
                probe_step: FIRST_PROBE_STEP,
                hit: rate,
                caught: 0,
                quick: false,
                last_until: None,
            }),
        }
    }

    /// Waits for a permit: first for any pause to end, then for the rate.
    pub async fn acquire(&self) {
        loop {
            let (pause_until, gcra) = {
                let mut state = self.state.lock().expect("limiter lock");
                let now = Instant::now();
                if state.pause.as_ref().is_some_and(|p| p.until <= now) {
                    // Resume empty: the waiting workers must not leave in one burst the moment
                    // the pause ends (the server's own bucket may be smaller than ours).
                    state.pause = None;
                    let rate = state.rate;
                    self.set_rate(&mut state, rate);
                }
                (state.pause.as_ref().map(|p| p.until), state.gcra.clone())
            };
            if let Some(until) = pause_until {
                tokio::time::sleep_until(until).await;
                continue;
            }
            match gcra.check() {
                Ok(()) => return,
                Err(not_until) => {
                    let wait = not_until.wait_time_from(TokioClock.now());
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// The server said "too many" (429) or "overloaded" (529) to a request sent at `sent_at`.
    /// Pauses every worker until `retry_after` has passed (1 s doubling up to 60 s when the
    /// server gave none) and lowers the rate once per pause, by how far over the limit the
    /// pause shows the run to be: a lone 429 takes 10 % off; several requests caught by the
    /// first pause take half (the real limit is unknown and well below); later, two or three
    /// caught take 25 % and four or more half. Hitting the same ceiling again halves how fast
    /// the rate then probes past it.
    pub fn pause(&self, retry_after: Option<Duration>, sent_at: Instant, reason: &str) {
        let mut state = self.state.lock().expect("limiter lock");
        let now = Instant::now();
        let wait = match retry_after {
            Some(d) => d.min(Duration::from_secs(3600)),
            None => {
                let d = state.next_default_pause;
                state.next_default_pause = (d * 2).min(MAX_PAUSE);
                d
            }
        };
        let until = now + wait;
        let same_pause = state
            .pause_started
            .is_some_and(|started| sent_at <= started);
        if same_pause {
            state.caught += 1;
        } else {
            state.pauses += 1;
            state.pause_started = Some(now);
            state.caught = 1;
            // A 429 soon after the last pause ended: still well over the limit.
            state.quick = state.last_until.is_some_and(|u| now < u + QUICK_REPEAT);
            let hit = state.rate;
            if hit <= state.ceiling * 1.15 && state.pauses > 1 {
                state.probe_step = (state.probe_step / 2.0).max(MIN_PROBE_STEP);
            }
            state.hit = hit;
        }
        // One cut per pause, sized by what it shows: a lone 429 after a calm spell is a run at
        // the limit (10 % off); several caught by the first pause, a 429 right after the last
        // pause, or four or more caught mean the limit is well below (half); two or three, 25 %.
        let severe = state.quick || (state.pauses == 1 && state.caught >= 2) || state.caught >= 4;
        let factor = if severe {
            0.5
        } else if state.caught >= 2 {
            0.75
        } else {
            0.9
        };
        let lowered = (state.hit * factor).max(MIN_RATE);
        // After a lone 429 the limit is just below the rate hit: climb back to it slowly. After
        // more, it is nearer the lowered rate: probe slowly from there.
        state.ceiling = if factor == 0.9 { state.hit } else { lowered };
        self.set_rate(&mut state, lowered);
        match &mut state.pause {
            Some(p) if p.until >= until => {}
            _ => {
                state.pause = Some(Pause {
                    until,
                    reason: reason.to_owned(),
                })
            }
        }
        state.last_until = state.pause.as_ref().map(|p| p.until);
        state.last_raise = until;
    }

    /// A request succeeded: the default pause resets, and at most once a second the rate
    /// climbs: by a tenth of the last ceiling while below 90 % of it, then by the probe step
    /// (1 % of the ceiling at first), never past `--rate`. Once well past the old ceiling
    /// without a 429, the ceiling moves up and the probe speeds up again.
    pub fn succeeded(&self) {
        let mut state = self.state.lock().expect("limiter lock");
        state.next_default_pause = FIRST_PAUSE;
        let now = Instant::now();
        if state.rate >= self.max_rate
            || now.saturating_duration_since(state.last_raise) < Duration::from_secs(1)
        {
            return;
        }
        state.last_raise = now;
        let ceiling = state.ceiling.max(MIN_RATE);
        let step = if state.rate < 0.89 * ceiling {
            0.1
        } else {
            state.probe_step
        };
        let raised = (state.rate + step * ceiling).min(self.max_rate);
        if raised > ceiling * 1.15 {
            state.ceiling = raised;
            state.probe_step = (state.probe_step * 2.0).min(FIRST_PROBE_STEP * 4.0);
        }
        self.set_rate(&mut state, raised);
    }

    fn set_rate(&self, state: &mut State, rate: f64) {
        state.rate = rate;
        let gcra = gcra(rate, self.burst);
        // Start the new limiter empty, so a change of rate never allows a fresh burst.
        let _ = gcra.check_n(self.burst);
        state.gcra = Arc::new(gcra);
    }

    /// The rate now, in requests per second.
    pub fn rate(&self) -> f64 {
        self.state.lock().expect("limiter lock").rate
    }

    /// The pause in force, if any.
    pub fn pause_in_force(&self) -> Option<Pause> {
        let state = self.state.lock().expect("limiter lock");
        state.pause.clone().filter(|p| p.until > Instant::now())
    }

    /// How many pauses there have been.
    pub fn pauses(&self) -> u64 {
        self.state.lock().expect("limiter lock").pauses
    }
}

/// The limiter spaces requests for 1 % under the rate it is given. A run at exactly the
/// server's limit otherwise never gives back the tokens its first burst took from the server's
/// bucket, and network jitter then draws a 429 now and then; 1 % refills that cushion within
/// seconds (a 20/s run takes 1 % longer).
const MARGIN: f64 = 0.99;

fn gcra(rate: f64, burst: NonZeroU32) -> Gcra {
    let period = Duration::from_secs_f64(1.0 / (rate.max(MIN_RATE) * MARGIN));
    let quota = Quota::with_period(period)
        .expect("a positive period")
        .allow_burst(burst);
    RateLimiter::direct_with_clock(quota, TokioClock)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Permits granted in `window` from now, acquiring as fast as allowed.
    async fn permits_in(limiter: &Limiter, window: Duration) -> u32 {
        let end = Instant::now() + window;
        let mut n = 0;
        loop {
            limiter.acquire().await;
            if Instant::now() >= end {
                return n;
            }
            n += 1;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn grants_the_burst_then_the_rate() {
        let limiter = Limiter::new(10.0, 3);
        let start = Instant::now();
        for _ in 0..3 {
            limiter.acquire().await;
        }
        assert_eq!(Instant::now(), start, "the burst is immediate");
        limiter.acquire().await;
        // 10/s, 1 % under: one permit every 101 ms (tokio rounds timers up to the millisecond).
        let spacing = Instant::now() - start;
        assert!(
            spacing > Duration::from_millis(100) && spacing <= Duration::from_millis(102),
            "{spacing:?}"
        );
        // Over 10 s: about 98 more permits (10/s less 1 %, timers rounded up to the millisecond).
        let n = permits_in(&limiter, Duration::from_secs(10)).await;
        assert!((97..=100).contains(&n), "{n}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_everyone_until_retry_after_and_lowers_the_rate_once() {
        let limiter = Limiter::new(10.0, 1);
        limiter.acquire().await;
        let sent = Instant::now();
        limiter.pause(Some(Duration::from_secs(2)), sent, "429 rate_limited");
        assert!(
            (limiter.rate() - 9.0).abs() < 1e-9,
            "a lone 429 takes 10 %: {}",
            limiter.rate()
        );
        // More 429s for requests sent before the pause: the same pause, one cut, sized by them.
        limiter.pause(Some(Duration::from_secs(2)), sent, "429 rate_limited");
        assert_eq!(limiter.pauses(), 1);
        assert!(
            (limiter.rate() - 5.0).abs() < 1e-9,
            "several caught by the first pause halve: {}",
            limiter.rate()
        );
        let pause = limiter.pause_in_force().unwrap();
        assert_eq!(pause.reason, "429 rate_limited");
        limiter.acquire().await;
        assert!(Instant::now() >= sent + Duration::from_secs(2));
        // A calm spell, then a 429 for a request sent after the pause began: a new pause, cut
        // from the rate then;
        // on a later pause two or three caught take 25 %, four or more half.
        tokio::time::advance(Duration::from_secs(3)).await;
        let sent = Instant::now();
        limiter.pause(Some(Duration::from_secs(1)), sent, "529 service_overload");
        assert_eq!(limiter.pauses(), 2);
        assert!((limiter.rate() - 4.5).abs() < 1e-9, "{}", limiter.rate());
        limiter.pause(Some(Duration::from_secs(1)), sent, "529 service_overload");
        assert!((limiter.rate() - 3.75).abs() < 1e-9, "{}", limiter.rate());
        limiter.pause(Some(Duration::from_secs(1)), sent, "529 service_overload");
        limiter.pause(Some(Duration::from_secs(1)), sent, "529 service_overload");
        assert!((limiter.rate() - 2.5).abs() < 1e-9, "{}", limiter.rate());
        assert_eq!(limiter.pauses(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn after_several_429s_the_rate_probes_slowly_from_the_lowered_rate() {
        let limiter = Limiter::new(40.0, 1);
        let sent = Instant::now();
        for _ in 0..3 {
            limiter.pause(Some(Duration::from_secs(1)), sent, "429");
        }
        assert!((limiter.rate() - 20.0).abs() < 1e-9);
        tokio::time::advance(Duration::from_secs(2)).await;
        limiter.succeeded();
        assert!(
            (limiter.rate() - 20.2).abs() < 1e-9,
            "1 % of 20, not a fast climb toward 40: {}",
            limiter.rate()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_right_after_a_pause_halves_but_one_after_a_calm_spell_takes_ten_percent() {
        let limiter = Limiter::new(40.0, 1);
        limiter.pause(Some(Duration::from_secs(1)), Instant::now(), "429");
        assert!((limiter.rate() - 36.0).abs() < 1e-9, "{}", limiter.rate());
        // One second after the pause ended: still well over.
        tokio::time::advance(Duration::from_secs(2)).await;
        limiter.pause(Some(Duration::from_secs(1)), Instant::now(), "429");
        assert!((limiter.rate() - 18.0).abs() < 1e-9, "{}", limiter.rate());
        // Thirty seconds of calm, then a lone 429: 10 %.
        tokio::time::advance(Duration::from_secs(31)).await;
        limiter.pause(Some(Duration::from_secs(1)), Instant::now(), "429");
        assert!((limiter.rate() - 16.2).abs() < 1e-9, "{}", limiter.rate());
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_pause_requests_resume_spaced_not_in_a_burst() {
        let limiter = Limiter::new(10.0, 5);
        limiter.pause(Some(Duration::from_secs(3)), Instant::now(), "429");
        let rate = limiter.rate();
        limiter.acquire().await;
        let resumed = Instant::now();
        limiter.acquire().await;
        let gap = Instant::now() - resumed;
        let spacing = Duration::from_secs_f64(1.0 / (rate * MARGIN));
        // Without the fresh start the two would leave together (a gap of zero).
        assert!(
            gap >= spacing / 2,
            "the second request waits its turn: {gap:?} < {spacing:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn missing_retry_after_doubles_from_one_second_and_resets_on_success() {
        let limiter = Limiter::new(10.0, 1);
        let mut waits = Vec::new();
        for _ in 0..8 {
            let start = Instant::now();
            limiter.pause(None, start, "429");
            waits.push(limiter.pause_in_force().unwrap().until - start);
            tokio::time::advance(waits.last().copied().unwrap()).await;
        }
        let secs: Vec<u64> = waits.iter().map(Duration::as_secs).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 60, 60]);
        limiter.succeeded();
        let start = Instant::now();
        limiter.pause(None, start, "429");
        assert_eq!(
            limiter.pause_in_force().unwrap().until - start,
            Duration::from_secs(1)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_climbs_back_while_requests_succeed_but_never_past_the_ceiling() {
        let limiter = Limiter::new(20.0, 1);
        // A lone 429 at 20/s: down to 18, with 20 as the ceiling.
        limiter.pause(Some(Duration::from_secs(1)), Instant::now(), "429");
        assert!((limiter.rate() - 18.0).abs() < 1e-9);
        let mut rates = vec![];
        for _ in 0..11 {
            tokio::time::advance(Duration::from_secs(1)).await;
            limiter.succeeded();
            rates.push(limiter.rate());
        }
        // Within 90 % of the ceiling it probes by 1 % of it (0.2/s); the first second is the pause.
        assert!(
            (rates[1] - 18.2).abs() < 1e-9 && (rates[10] - 20.0).abs() < 1e-9,
            "{rates:?}"
        );
        // Another lone 429 at the same ceiling: down 10 %, and the probe halves.
        limiter.pause(Some(Duration::from_secs(1)), Instant::now(), "429");
        assert!((limiter.rate() - 18.0).abs() < 1e-9, "{}", limiter.rate());
        tokio::time::advance(Duration::from_secs(2)).await;
        limiter.succeeded();
        assert!(
            (limiter.rate() - 18.1).abs() < 1e-9,
            "0.5 % of 20: {}",
            limiter.rate()
        );
        // Never past --rate.
        for _ in 0..2000 {
            tokio::time::advance(Duration::from_secs(1)).await;
            limiter.succeeded();
        }
        assert_eq!(limiter.rate(), 20.0);
    }
}
