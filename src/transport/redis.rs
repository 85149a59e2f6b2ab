//! `--shared-limiter`: one budget for every process that uses the same integration, held in
//! Redis or Valkey (SPEC §12). Each permit is a GCRA slot taken by one atomic script on the
//! server's clock (`TIME`), so machines with skewed clocks agree; a 429 anywhere sets a pause key
//! for its Retry-After that every process honours before its next permit; the adaptive rate
//! ([`Adaptive`], the same cuts and climbs as the local limiter) is one value on the server,
//! changed by compare-and-set, so one process's 429 slows all of them once.
//!
//! Three keys per budget, in one hash slot (`{name}`) so that the scripts also run on a
//! cluster: `notion-bulk:{name}:tat` (the next free slot, expires when the bucket is full
//! again), `…:pause` (the reason, for the Retry-After), `…:rate` (the adaptive state, JSON,
//! expires after ten minutes without a change). The name is `--limiter-key` or a hash of the
//! token; the token itself is never sent.
//!
//! Every call has its own short timeout. A failed call is reported to the caller, which falls
//! back to its local limiter (see [`crate::transport::limiter::Limiter`]).

use std::sync::Mutex;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Script;
use tokio::time::Instant;

use crate::transport::limiter::Adaptive;

/// The longest any one Redis call may take before the budget counts as lost.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(500);
/// How long the adaptive state outlives its last change.
const STATE_TTL_MS: u64 = 600_000;

/// Where the budget lives and what to do if it goes away (the validated flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedSettings {
    /// `redis://`, `rediss://` or `unix://` URL, as given.
    pub url: String,
    /// The budget's name: `--limiter-key`, or a hash of the token.
    pub name: String,
    /// `--shared-limiter-required`: stop (exit 3) instead of falling back when Redis is lost.
    pub required: bool,
}

/// A Redis call that failed.
#[derive(Debug, thiserror::Error)]
pub enum SharedError {
    #[error("{url}: {source}")]
    Redis {
        url: String,
        source: redis::RedisError,
    },
    #[error("{url}: no answer within {} ms", CALL_TIMEOUT.as_millis())]
    Timeout { url: String },
    #[error("{url}: unexpected answer: {what}")]
    Answer { url: String, what: String },
    #[error(
        "{url}: the server there did not answer as Redis (its reply is not the Redis protocol: \
         another service, HTTP perhaps, listens at that address). Check the host and port of \
         your Redis or Valkey server (redis://HOST:PORT/DB, rediss:// for TLS, unix:///PATH for \
         a socket), or leave out --shared-limiter to use this process's own limiter"
    )]
    NotRedis { url: String },
}

impl SharedError {
    /// A failed Redis call to `url` (shown without its password): a reply that is not the
    /// Redis protocol at all says so, instead of the parser's words.
    fn redis(url: &str, source: redis::RedisError) -> SharedError {
        use redis::ErrorKind;
        match source.kind() {
            ErrorKind::Parse | ErrorKind::UnexpectedReturnType | ErrorKind::RESP3NotSupported => {
                SharedError::NotRedis {
                    url: url.to_owned(),
                }
            }
            _ => SharedError::Redis {
                url: url.to_owned(),
                source,
            },
        }
    }
}

/// Connects the budget `config` names (its `--limiter-key`, or the token's fingerprint).
pub async fn connect(
    config: &super::SharedLimiterConfig,
    token: &crate::notion::client::Token,
) -> Result<SharedBudget, SharedError> {
    SharedBudget::connect(&SharedSettings {
        url: config.url.clone(),
        name: config.key.clone().unwrap_or_else(|| token.fingerprint()),
        required: config.required,
    })
    .await
}

/// What the permit script answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Permit {
    /// Send now.
    Granted,
    /// Ask again after this long.
    Wait(Duration),
    /// Every process is paused for this long, for this reason.
    Paused(Duration, String),
}

/// Takes a slot, or says how long to wait. KEYS: tat, pause, rate. ARGV: this process's
/// `--rate`, `--burst`, the spacing margin, and a reservation in µs (0: none): the next free
/// slot is first moved to at least now + the reservation (a process back from its local
/// limiter charges the budget for the burst it may have just spent). Returns {granted, wait
/// µs, server µs, state, pause reason}.
const PERMIT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local reserve = tonumber(ARGV[4]) or 0
if reserve > 0 then
  local held = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
  if held < now + reserve then
    redis.call('SET', KEYS[1], string.format('%.0f', now + reserve), 'PX', math.ceil(reserve / 1000) + 1000)
  end
end
local state = redis.call('GET', KEYS[3]) or ''
local rate = tonumber(ARGV[1])
if state ~= '' then
  local ok, decoded = pcall(cjson.decode, state)
  if ok and type(decoded) == 'table' and tonumber(decoded.rate) and tonumber(decoded.rate) < rate then
    rate = tonumber(decoded.rate)
  end
end
local pause = redis.call('PTTL', KEYS[2])
if pause > 0 then
  return {0, pause * 1000, now, state, redis.call('GET', KEYS[2]) or ''}
end
local interval = 1000000 / (rate * tonumber(ARGV[3]))
local tolerance = (tonumber(ARGV[2]) - 1) * interval
local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if tat < now then tat = now end
if now < tat - tolerance then
  return {0, math.ceil(tat - tolerance - now), now, state, ''}
end
local next_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', math.ceil((next_tat - now) / 1000) + 1000)
return {1, 0, now, state, ''}
"#;

/// Compare-and-set of the adaptive state, with an optional pause. KEYS: tat, pause, rate.
/// ARGV: the state expected ('' for none), the new state, the pause in ms (0: none), its
/// reason, and the burst tolerance in µs (after a pause the slots start empty). Returns {1, ''}
/// when set, or {0, the state now}.
const UPDATE: &str = r#"
local current = redis.call('GET', KEYS[3]) or ''
if current ~= ARGV[1] then return {0, current} end
redis.call('SET', KEYS[3], ARGV[2], 'PX', tonumber(ARGV[6]))
local pause = tonumber(ARGV[3])
if pause > 0 and redis.call('PTTL', KEYS[2]) < pause then
  redis.call('SET', KEYS[2], ARGV[4], 'PX', pause)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local tat = now + pause * 1000 + tonumber(ARGV[5])
  redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', pause + 1000 + math.ceil(tonumber(ARGV[5]) / 1000))
end
return {1, ''}
"#;

/// A connection to the shared budget.
pub struct SharedBudget {
    conn: ConnectionManager,
    shown: String,
    keys: [String; 3],
    permit: Script,
    update: Script,
    origin: Instant,
    seen: Mutex<Seen>,
}

/// The last adaptive state read from the server, as stored (for compare-and-set), and the
/// server's clock minus ours.
#[derive(Default)]
struct Seen {
    raw: String,
    offset: i64,
}

impl SharedBudget {
    /// Connects, and checks the server answers and runs scripts.
    pub async fn connect(settings: &SharedSettings) -> Result<SharedBudget, SharedError> {
        let shown = super::redacted_url(&settings.url);
        let fail = |source| SharedError::redis(&shown, source);
        let client = redis::Client::open(settings.url.as_str()).map_err(fail)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let conn = within(&shown, ConnectionManager::new_with_config(client, config))
            .await?
            .map_err(fail)?;
        let prefix = format!("notion-bulk:{{{}}}", settings.name);
        let budget = SharedBudget {
            conn,
            keys: [
                format!("{prefix}:tat"),
                format!("{prefix}:pause"),
                format!("{prefix}:rate"),
            ],
            shown,
            permit: Script::new(PERMIT),
            update: Script::new(UPDATE),
            origin: Instant::now(),
            seen: Mutex::new(Seen::default()),
        };
        budget.ping().await?;
        Ok(budget)
    }

    /// The URL without its password.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// The keys this budget uses: tat, pause, rate.
    pub fn keys(&self) -> &[String; 3] {
        &self.keys
    }

    /// PING, and load both scripts (so a server that cannot run them fails at the start).
    pub async fn ping(&self) -> Result<(), SharedError> {
        let mut conn = self.conn.clone();
        let pong: String = self.call(redis::cmd("PING").query_async(&mut conn)).await?;
        if pong != "PONG" {
            return Err(self.answer(format!("PING answered {pong:?}")));
        }
        for script in [&self.permit, &self.update] {
            let _: String = self
                .call(script.prepare_invoke().load_async(&mut conn))
                .await?;
        }
        Ok(())
    }

    /// Asks for a slot at this process's `--rate` and `--burst`, after moving the next free
    /// slot to at least `reserve` from now (zero: as it is).
    pub async fn permit(
        &self,
        max_rate: f64,
        burst: u32,
        margin: f64,
        reserve: Duration,
    ) -> Result<(Permit, Option<Adaptive>), SharedError> {
        let mut conn = self.conn.clone();
        let mut invocation = self.permit.prepare_invoke();
        for key in &self.keys {
            invocation.key(key);
        }
        invocation
            .arg(max_rate)
            .arg(burst)
            .arg(margin)
            .arg(u64::try_from(reserve.as_micros()).unwrap_or(u64::MAX));
        let (granted, wait, server, raw, reason): (i64, i64, i64, String, String) =
            self.call(invocation.invoke_async(&mut conn)).await?;
        let state = self.observe(server, raw);
        let wait = Duration::from_micros(u64::try_from(wait).unwrap_or(0));
        let permit = match (granted, reason.is_empty()) {
            (1, _) => Permit::Granted,
            (_, true) => Permit::Wait(wait),
            (_, false) => Permit::Paused(wait, reason),
        };
        Ok((permit, state))
    }

    /// The server's clock now (µs), estimated from the last answer.
    pub fn server_now(&self) -> u64 {
        self.server_time(Instant::now())
    }

    /// `at` on the server's clock (µs), estimated from the last answer.
    pub fn server_time(&self, at: Instant) -> u64 {
        let offset = self.seen.lock().expect("seen lock").offset;
        let local = i64::try_from(at.saturating_duration_since(self.origin).as_micros())
            .unwrap_or(i64::MAX);
        u64::try_from(local.saturating_add(offset)).unwrap_or(0)
    }

    /// The adaptive state last seen, if any.
    pub fn last_state(&self) -> Option<Adaptive> {
        parse(&self.seen.lock().expect("seen lock").raw)
    }

    /// Replaces the adaptive state by `change` applied to it (a fresh one at `max_rate` when
    /// there is none), retrying while another process changed it first, and with `pause`
    /// (its length from `change`; `change` returns `None` when it changed nothing) sets the
    /// shared pause. `once`: give up instead of retrying (a climb that another process made
    /// first need not be made again). Returns the state set and the pause, or `None` when
    /// nothing was set.
    pub async fn change<F>(
        &self,
        max_rate: f64,
        burst: u32,
        once: bool,
        reason: Option<&str>,
        mut change: F,
    ) -> Result<Option<(Adaptive, Duration)>, SharedError>
    where
        F: FnMut(&mut Adaptive) -> Option<Duration>,
    {
        for _ in 0..8 {
            let expected = self.seen.lock().expect("seen lock").raw.clone();
            let mut state =
                parse(&expected).unwrap_or_else(|| Adaptive::new(max_rate, self.server_now()));
            let Some(pause) = change(&mut state) else {
                return Ok(None);
            };
            let new = serde_json::to_string(&state).expect("a state serialises");
            let tolerance = f64::from(burst.max(1) - 1) * 1e6 / (state.rate.max(0.1));
            let mut conn = self.conn.clone();
            let mut invocation = self.update.prepare_invoke();
            for key in &self.keys {
                invocation.key(key);
            }
            invocation
                .arg(&expected)
                .arg(&new)
                .arg(u64::try_from(pause.as_millis()).unwrap_or(u64::MAX))
                .arg(reason.unwrap_or(""))
                .arg(tolerance.round() as u64)
                .arg(STATE_TTL_MS);
            let (set, current): (i64, String) =
                self.call(invocation.invoke_async(&mut conn)).await?;
            let mut seen = self.seen.lock().expect("seen lock");
            if set == 1 {
                seen.raw = new;
                return Ok(Some((state, pause)));
            }
            seen.raw = current;
            if once {
                return Ok(None);
            }
        }
        Ok(None)
    }

    /// Remembers the state and the clock offset from an answer; the state parsed.
    fn observe(&self, server: i64, raw: String) -> Option<Adaptive> {
        let local = i64::try_from(
            Instant::now()
                .saturating_duration_since(self.origin)
                .as_micros(),
        )
        .unwrap_or(i64::MAX);
        let state = parse(&raw);
        let mut seen = self.seen.lock().expect("seen lock");
        seen.offset = server - local;
        seen.raw = raw;
        state
    }

    async fn call<T>(
        &self,
        future: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, SharedError> {
        within(&self.shown, future)
            .await?
            .map_err(|source| SharedError::redis(&self.shown, source))
    }

    fn answer(&self, what: String) -> SharedError {
        SharedError::Answer {
            url: self.shown.clone(),
            what,
        }
    }
}

/// `future`, or a timeout error after [`CALL_TIMEOUT`].
async fn within<T>(
    shown: &str,
    future: impl std::future::Future<Output = T>,
) -> Result<T, SharedError> {
    tokio::time::timeout(CALL_TIMEOUT, future)
        .await
        .map_err(|_| SharedError::Timeout { url: shown.into() })
}

fn parse(raw: &str) -> Option<Adaptive> {
    (!raw.is_empty())
        .then(|| serde_json::from_str(raw).ok())
        .flatten()
}
