//! The adaptive rate (`Adaptive`): how a 429 or 529 lowers it and success raises it again.
//! Pure and serialisable: the local limiter (`limiter`) and the shared budget in Redis
//! (`redis`) run the same rules on it.

use std::time::Duration;

/// The lowest rate the limiter falls to, in requests per second.
pub const MIN_RATE: f64 = 0.1;
/// A pause without a Retry-After header: 1 s, doubling while 429s go on, at most 60 s.
const FIRST_PAUSE: Duration = Duration::from_secs(1);
const MAX_PAUSE: Duration = Duration::from_secs(60);
/// Past 90 % of the last ceiling the rate climbs by this fraction of `--rate` per second, halved
/// each time the same ceiling is hit again (but never below the floor, so no process starves).
const FIRST_PROBE_STEP: f64 = 0.005;
const MIN_PROBE_STEP: f64 = 0.00125;
/// The probe doubles for every this long without a pause, up to `MAX_PROBE_STEP`: budget that
/// frees up (another process finished) is taken up in seconds, not minutes.
const CALM_DOUBLING: Duration = Duration::from_secs(3);
const MAX_PROBE_STEP: f64 = 0.08;
/// The rate climbs at most this often.
const RAISE_EVERY: Duration = Duration::from_secs(1);
/// A 429 this soon after a pause ended means the rate is still well over the limit.
const QUICK_REPEAT: Duration = Duration::from_secs(2);

/// The adaptive rate: how a pause lowers it and success raises it again, additive increase and
/// multiplicative decrease as in TCP congestion control, so that processes that cannot see
/// each other converge to fair shares of one limit. Pure and serialisable, with times in
/// microseconds on one clock (tokio's since the limiter began, or a shared server's): one
/// process, or several through `--shared-limiter`, run the same rules.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Adaptive {
    /// The rate now, in requests per second.
    pub rate: f64,
    /// The rate at which the server last said "too many".
    ceiling: f64,
    /// When the current (or last) pause began: a 429 to a request sent before it belongs to
    /// that pause and does not lower the rate again.
    pause_started: Option<u64>,
    /// The next pause length when the server gives no Retry-After, in microseconds.
    next_default_pause: u64,
    last_raise: u64,
    pauses: u64,
    /// How fast the rate climbs past 90 % of the ceiling, as a fraction of `--rate` per second.
    probe_step: f64,
    /// The rate when the current (or last) pause began, and how many requests it caught.
    hit: f64,
    caught: u32,
    /// Whether the current pause began soon after the last one ended, and when that one ended.
    quick: bool,
    last_until: Option<u64>,
}

/// A duration in whole microseconds, the unit of [`Adaptive`]'s clock.
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Adaptive {
    /// At `rate` requests per second, nothing seen yet, at time `now`.
    pub fn new(rate: f64, now: u64) -> Adaptive {
        Adaptive {
            rate,
            ceiling: rate,
            pause_started: None,
            next_default_pause: micros(FIRST_PAUSE),
            last_raise: now,
            pauses: 0,
            probe_step: FIRST_PROBE_STEP,
            hit: rate,
            caught: 0,
            quick: false,
            last_until: None,
        }
    }

    /// The server said "too many" at `now` to a request sent at `sent`: how long everyone
    /// waits (`retry_after`, or 1 s doubling up to 60 s when the server gave none), with the
    /// rate lowered once per pause, by how far over the limit the pause shows the run to be: a
    /// lone 429 takes 10 % off; several requests caught by the first pause take half (the real
    /// limit is unknown and well below); later, two or three caught take 25 % and four or more
    /// half. Hitting the same ceiling again halves how fast the rate then probes past it.
    pub fn paused(&mut self, now: u64, sent: u64, retry_after: Option<Duration>) -> Duration {
        let wait = match retry_after {
            Some(d) => d.min(Duration::from_secs(3600)),
            None => {
                let d = Duration::from_micros(self.next_default_pause);
                self.next_default_pause = micros((d * 2).min(MAX_PAUSE));
                d
            }
        };
        let until = now.saturating_add(micros(wait));
        let same_pause = self.pause_started.is_some_and(|started| sent <= started);
        if same_pause {
            self.caught += 1;
        } else {
            self.pauses += 1;
            self.pause_started = Some(now);
            self.caught = 1;
            // A 429 soon after the last pause ended: still well over the limit.
            self.quick = self
                .last_until
                .is_some_and(|u| now < u.saturating_add(micros(QUICK_REPEAT)));
            // The same ceiling hit again (not a lower one: that is the limit moving, or another
            // process taking more): probe past it more slowly.
            let hit = self.rate;
            if (0.95 * self.ceiling..=1.15 * self.ceiling).contains(&hit) && self.pauses > 1 {
                self.probe_step = (self.probe_step / 2.0).max(MIN_PROBE_STEP);
            }
            self.hit = hit;
        }
        // One cut per pause, sized by what it shows: a lone 429 after a calm spell is a run at
        // the limit (10 % off); several caught by the first pause, a 429 right after the last
        // pause, or four or more caught mean the limit is well below (half); two or three, 25 %.
        let severe = self.quick || (self.pauses == 1 && self.caught >= 2) || self.caught >= 4;
        let factor = if severe {
            0.5
        } else if self.caught >= 2 {
            0.75
        } else {
            0.9
        };
        let lowered = (self.hit * factor).max(MIN_RATE);
        // After a lone 429 the limit is just below the rate hit: climb back to it quickly. After
        // more, it is nearer the lowered rate: probe from there.
        self.ceiling = if factor == 0.9 { self.hit } else { lowered };
        self.rate = lowered;
        self.last_until = Some(self.last_until.map_or(until, |u| u.max(until)));
        self.last_raise = until;
        wait
    }

    /// A request succeeded at `now`: the default pause resets, and at most once a second the
    /// rate climbs, never past `max_rate` (`--rate`): by a tenth of the last ceiling while below
    /// 90 % of it (back to where it was), then additively, by the probe step times `max_rate`
    /// (0.5 % of `--rate` a second at first) whatever this process's own share: the same
    /// climb for every process, and the cuts proportional to each one's rate, are what bring
    /// processes that cannot see each other to fair shares. Once well past the old ceiling
    /// without a 429, the ceiling moves up and the probe speeds up again. Returns whether
    /// anything changed.
    pub fn succeeded(&mut self, now: u64, max_rate: f64) -> bool {
        let reset = self.next_default_pause != micros(FIRST_PAUSE);
        self.next_default_pause = micros(FIRST_PAUSE);
        if self.rate >= max_rate || now.saturating_sub(self.last_raise) < micros(RAISE_EVERY) {
            return reset;
        }
        self.last_raise = now;
        let ceiling = self.ceiling.max(MIN_RATE);
        let step = if self.rate < 0.89 * ceiling {
            0.1 * ceiling
        } else if self.rate < ceiling {
            self.probe_step * max_rate
        } else {
            // Past the last ceiling the probe doubles for every CALM_DOUBLING since the last
            // pause ended: budget that freed up is taken up in seconds.
            let calm = now.saturating_sub(self.last_until.unwrap_or(0)) / micros(CALM_DOUBLING);
            let boost = 2f64.powi(i32::try_from(calm.min(16)).unwrap_or(16));
            (self.probe_step * boost).min(MAX_PROBE_STEP) * max_rate
        };
        let raised = (self.rate + step).min(max_rate);
        if raised > ceiling * 1.15 {
            self.ceiling = raised;
        }
        self.rate = raised;
        true
    }

    /// Whether [`Adaptive::succeeded`] at `now` would change anything.
    pub fn success_changes(&self, now: u64, max_rate: f64) -> bool {
        self.next_default_pause != micros(FIRST_PAUSE)
            || (self.rate < max_rate && now.saturating_sub(self.last_raise) >= micros(RAISE_EVERY))
    }

    /// How many pauses there have been.
    pub fn pauses(&self) -> u64 {
        self.pauses
    }
}
