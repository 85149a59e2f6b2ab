//! Injected faults: the `--faults` grammar, and the seeded draw that picks a fault for the n-th
//! page write (PATCH or create) or query that passed the token, version and rate checks; and
//! `--fail-first` rules, which give the first requests to one path a scripted list of faults
//! (so that a test can fail a read that the random draw never touches, such as the schema).

use rand::{rngs::StdRng, Rng, SeedableRng};
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// One kind of injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// 409 `conflict_error`; not applied.
    Conflict,
    /// 500 `internal_server_error`; not applied.
    E500,
    /// 502 from the "edge proxy": an HTML body and a `cf-ray` header; not applied.
    E502,
    /// 503 `service_unavailable`; not applied.
    E503,
    /// 504 `gateway_timeout`, sent after the update was applied (or the page created).
    E504Applied,
    /// 529 `service_overload` with `Retry-After: 1`; not applied.
    E529,
    /// 429 `rate_limited` with `Retry-After: 1`, whatever the limiter says; not applied.
    E429,
    /// The connection is closed without a response; not applied.
    Reset,
    /// No answer until the stall time passes (then the connection is closed); not applied.
    Stall,
    /// 409 `row_limit_exceeded`: a code notion-sdk-js v5.26 lists among its errors, whose
    /// meaning Notion does not document; not applied, and sending it again does not help.
    RowLimit,
    /// 429 `rate_limited` with `rate_limit_reason` `workspace_limit` and `Retry-After: 1`: the
    /// workspace's budget, shared by every connection, ran out; not applied.
    E429Workspace,
}

impl FaultKind {
    /// Every kind, in the order the grammar documents them.
    pub const ALL: [FaultKind; 11] = [
        FaultKind::Conflict,
        FaultKind::E500,
        FaultKind::E502,
        FaultKind::E503,
        FaultKind::E504Applied,
        FaultKind::E529,
        FaultKind::E429,
        FaultKind::Reset,
        FaultKind::Stall,
        FaultKind::RowLimit,
        FaultKind::E429Workspace,
    ];

    /// The name used in `--faults` and in the stats.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Conflict => "conflict",
            FaultKind::E500 => "e500",
            FaultKind::E502 => "e502",
            FaultKind::E503 => "e503",
            FaultKind::E504Applied => "e504_applied",
            FaultKind::E529 => "e529",
            FaultKind::E429 => "e429",
            FaultKind::Reset => "reset",
            FaultKind::Stall => "stall",
            FaultKind::RowLimit => "row_limit",
            FaultKind::E429Workspace => "e429_workspace",
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Fault kinds with their rates (each in 0..=1, summing to at most 1). Empty: no faults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultSpec {
    rates: Vec<(FaultKind, f64)>,
}

/// Why a `--faults` value was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FaultSpecError {
    #[error("fault entry `{0}` should be KIND=RATE")]
    NotAPair(String),
    #[error("unknown fault kind `{0}` (known: conflict, e500, e502, e503, e504_applied, e529, e429, reset, stall, row_limit, e429_workspace)")]
    UnknownKind(String),
    #[error("fault rate `{1}` for {0} should be a number between 0 and 1")]
    BadRate(FaultKind, String),
    #[error("fault kind {0} is given twice")]
    Duplicate(FaultKind),
    #[error("fault rates add up to {0}, more than 1")]
    SumAboveOne(f64),
}

impl FaultSpec {
    /// No faults.
    pub fn none() -> Self {
        FaultSpec::default()
    }

    /// A spec with one kind at the given rate (1.0: every eligible PATCH, create and query).
    pub fn only(kind: FaultKind, rate: f64) -> Self {
        FaultSpec {
            rates: vec![(kind, rate)],
        }
    }

    /// The kinds and rates, in the order given.
    pub fn rates(&self) -> &[(FaultKind, f64)] {
        &self.rates
    }

    pub fn is_empty(&self) -> bool {
        self.rates.iter().all(|(_, rate)| *rate == 0.0)
    }

    /// The fault for the `n`-th eligible request (0-based) under `seed`: the same pair always
    /// gives the same answer, whatever the timing or the concurrency.
    pub fn pick(&self, seed: u64, n: u64) -> Option<FaultKind> {
        if self.is_empty() {
            return None;
        }
        let mut rng = StdRng::seed_from_u64(mix(seed, n));
        let draw: f64 = rng.random();
        let mut upper = 0.0;
        for &(kind, rate) in &self.rates {
            upper += rate;
            if draw < upper {
                return Some(kind);
            }
        }
        None
    }
}

impl FromStr for FaultKind {
    type Err = FaultSpecError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let name = name.trim();
        FaultKind::ALL
            .into_iter()
            .find(|k| k.as_str() == name)
            .ok_or_else(|| FaultSpecError::UnknownKind(name.to_string()))
    }
}

/// `--fail-first METHOD PATH=KIND[,KIND…]`: the first requests of `method` whose path starts
/// with `prefix` get these faults, one each, in order (after the token, version, rate and size
/// checks, like the drawn faults); later ones are served as usual. Such a request takes no
/// draw from `--faults`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailFirst {
    /// Upper case: `GET`, `POST`, `PATCH`.
    pub method: String,
    pub prefix: String,
    pub faults: Vec<FaultKind>,
}

/// Why a `--fail-first` value was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FailFirstError {
    #[error("should be `METHOD PATH=KIND[,KIND…]`, e.g. `GET /v1/data_sources/=e503,reset`")]
    Shape,
    #[error("the path `{0}` should start with /v1/")]
    Path(String),
    #[error(transparent)]
    Kind(#[from] FaultSpecError),
}

impl FailFirst {
    /// The first `faults.len()` requests of `method` to paths starting with `prefix`.
    pub fn new(method: &str, prefix: &str, faults: &[FaultKind]) -> FailFirst {
        FailFirst {
            method: method.to_ascii_uppercase(),
            prefix: prefix.to_owned(),
            faults: faults.to_vec(),
        }
    }

    /// Whether a request is one this rule is about.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        self.method.eq_ignore_ascii_case(method) && path.starts_with(&self.prefix)
    }
}

impl FromStr for FailFirst {
    type Err = FailFirstError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (target, kinds) = text.split_once('=').ok_or(FailFirstError::Shape)?;
        let (method, prefix) = target
            .trim()
            .split_once(char::is_whitespace)
            .ok_or(FailFirstError::Shape)?;
        let prefix = prefix.trim();
        if !["GET", "POST", "PATCH"].contains(&method.to_ascii_uppercase().as_str()) {
            return Err(FailFirstError::Shape);
        }
        if !prefix.starts_with("/v1/") {
            return Err(FailFirstError::Path(prefix.to_owned()));
        }
        let faults = kinds
            .split(',')
            .map(str::parse)
            .collect::<Result<Vec<FaultKind>, _>>()?;
        Ok(FailFirst::new(method, prefix, &faults))
    }
}

/// splitmix64 of the seed and the sequence number, so neighbouring requests get unrelated streams.
fn mix(seed: u64, n: u64) -> u64 {
    let mut z = seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl FromStr for FaultSpec {
    type Err = FaultSpecError;

    /// `KIND=RATE[,KIND=RATE…]`, e.g. `conflict=0.02,e500=0.01`; empty means none.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut rates: Vec<(FaultKind, f64)> = Vec::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (name, rate_text) = entry
                .split_once('=')
                .ok_or_else(|| FaultSpecError::NotAPair(entry.to_string()))?;
            let kind: FaultKind = name.parse()?;
            let rate_text = rate_text.trim();
            let rate: f64 = rate_text
                .parse()
                .ok()
                .filter(|r: &f64| (0.0..=1.0).contains(r))
                .ok_or_else(|| FaultSpecError::BadRate(kind, rate_text.to_string()))?;
            if rates.iter().any(|(k, _)| *k == kind) {
                return Err(FaultSpecError::Duplicate(kind));
            }
            rates.push((kind, rate));
        }
        let sum: f64 = rates.iter().map(|(_, r)| r).sum();
        if sum > 1.0 + 1e-9 {
            return Err(FaultSpecError::SumAboveOne(sum));
        }
        Ok(FaultSpec { rates })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let spec: FaultSpec = "conflict=0.02,e500=0.01,e502=0.01,e503=0.01,e504_applied=0.01,e529=0.01,reset=0.005,stall=0.002"
            .parse()
            .unwrap();
        assert_eq!(spec.rates().len(), 8);
        assert_eq!(spec.rates()[0], (FaultKind::Conflict, 0.02));
        assert_eq!(spec.rates()[4], (FaultKind::E504Applied, 0.01));
        assert_eq!(spec.rates()[7], (FaultKind::Stall, 0.002));
    }

    #[test]
    fn empty_means_none_and_spaces_are_ignored() {
        assert!("".parse::<FaultSpec>().unwrap().is_empty());
        let spec: FaultSpec = " reset = 0.5 , ".parse().unwrap();
        assert_eq!(spec.rates(), &[(FaultKind::Reset, 0.5)]);
    }

    #[test]
    fn refuses_bad_entries() {
        assert_eq!(
            "conflict".parse::<FaultSpec>(),
            Err(FaultSpecError::NotAPair("conflict".into()))
        );
        assert_eq!(
            "e418=0.1".parse::<FaultSpec>(),
            Err(FaultSpecError::UnknownKind("e418".into()))
        );
        assert_eq!(
            "e500=1.5".parse::<FaultSpec>(),
            Err(FaultSpecError::BadRate(FaultKind::E500, "1.5".into()))
        );
        assert_eq!(
            "e500=x".parse::<FaultSpec>(),
            Err(FaultSpecError::BadRate(FaultKind::E500, "x".into()))
        );
        assert_eq!(
            "e500=-0.1".parse::<FaultSpec>(),
            Err(FaultSpecError::BadRate(FaultKind::E500, "-0.1".into()))
        );
        assert_eq!(
            "e500=0.1,e500=0.2".parse::<FaultSpec>(),
            Err(FaultSpecError::Duplicate(FaultKind::E500))
        );
        assert!(matches!(
            "e500=0.6,e503=0.6".parse::<FaultSpec>(),
            Err(FaultSpecError::SumAboveOne(_))
        ));
    }

    #[test]
    fn picks_are_deterministic_and_follow_the_rates() {
        let spec: FaultSpec = "conflict=0.2,reset=0.1".parse().unwrap();
        let a: Vec<_> = (0..1000).map(|n| spec.pick(7, n)).collect();
        let b: Vec<_> = (0..1000).map(|n| spec.pick(7, n)).collect();
        let c: Vec<_> = (0..1000).map(|n| spec.pick(8, n)).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        let conflicts = a
            .iter()
            .filter(|f| **f == Some(FaultKind::Conflict))
            .count();
        let resets = a.iter().filter(|f| **f == Some(FaultKind::Reset)).count();
        assert!((150..250).contains(&conflicts), "{conflicts}");
        assert!((60..140).contains(&resets), "{resets}");
    }

    #[test]
    fn fail_first_rules_name_a_method_a_path_and_faults_in_order() {
        let rule: FailFirst = "get /v1/data_sources/=e429, conflict,reset"
            .parse()
            .unwrap();
        assert_eq!(
            rule,
            FailFirst::new(
                "GET",
                "/v1/data_sources/",
                &[FaultKind::E429, FaultKind::Conflict, FaultKind::Reset]
            )
        );
        assert!(rule.matches("GET", "/v1/data_sources/abc"));
        assert!(!rule.matches("POST", "/v1/data_sources/abc/query"));
        assert!(!rule.matches("GET", "/v1/pages/abc"));
        for bad in ["GET /v1/x", "/v1/x=e500", "PUT /v1/x=e500", "GET=e500"] {
            assert_eq!(
                bad.parse::<FailFirst>(),
                Err(FailFirstError::Shape),
                "{bad}"
            );
        }
        assert_eq!(
            "GET x=e500".parse::<FailFirst>(),
            Err(FailFirstError::Path("x".into()))
        );
        assert_eq!(
            "GET /v1/x=e418".parse::<FailFirst>(),
            Err(FailFirstError::Kind(FaultSpecError::UnknownKind(
                "e418".into()
            )))
        );
    }

    #[test]
    fn rate_one_always_and_zero_never() {
        let always = FaultSpec::only(FaultKind::Stall, 1.0);
        assert!((0..100).all(|n| always.pick(1, n) == Some(FaultKind::Stall)));
        let never = FaultSpec::only(FaultKind::Stall, 0.0);
        assert!((0..100).all(|n| never.pick(1, n).is_none()));
    }
}
