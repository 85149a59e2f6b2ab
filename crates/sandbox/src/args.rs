//! The `sandbox` command's flags, and their validation into [`Options`].

use super::{FailFirst, FaultSpec, Options, SandboxError, Seed};
use std::path::PathBuf;

/// Flags of `notion-bulk sandbox`.
#[derive(Debug, Clone, Default, PartialEq, clap::Args)]
pub struct SandboxArgs {
    /// Port on 127.0.0.1 (0: any free port; the first stdout line says which).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Seed file (JSON, see docs/SANDBOX.md); empty workspace when absent.
    #[arg(long, value_name = "FILE")]
    pub seed: Option<PathBuf>,
    /// The one bearer token accepted [default: secret_sandbox].
    #[arg(long, value_name = "T")]
    pub token: Option<String>,
    /// Requests per second allowed per token (token bucket); unlimited when absent.
    #[arg(long, value_name = "R")]
    pub rate: Option<String>,
    /// Requests allowed back to back [default: the rate rounded up].
    #[arg(long, value_name = "B")]
    pub burst: Option<String>,
    /// Requests allowed per token in each fixed 60-second window.
    #[arg(long, value_name = "N")]
    pub window_budget: Option<String>,
    /// Injected faults on PATCH and queries, e.g. `conflict=0.02,e500=0.01,e502=0.01,e503=0.01,e504_applied=0.01,e529=0.01,reset=0.005,stall=0.002`.
    #[arg(long, value_name = "SPEC")]
    pub faults: Option<String>,
    /// Seed of the fault draws (same seed, same sequence of faults).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub fault_seed: u64,
    /// The first requests of METHOD to paths starting with PATH get these faults, in order,
    /// e.g. `GET /v1/data_sources/=e429,e503,reset` (repeatable; reads too).
    #[arg(long, value_name = "METHOD PATH=KINDS")]
    pub fail_first: Vec<String>,
    /// Uniform random delay per request in milliseconds, `MIN,MAX`.
    #[arg(long, value_name = "MIN,MAX")]
    pub latency: Option<String>,
    /// Most results one data source query pages through (Notion's cap) [default: 10000].
    #[arg(long, value_name = "N")]
    pub query_cap: Option<String>,
    /// Most options a data source may hold, all properties together (Notion's schema-size
    /// ceiling); writes that add options past it are refused [default: no ceiling].
    #[arg(long, value_name = "N")]
    pub max_schema_options: Option<String>,
    /// The workspace's per-file upload limit in bytes, refused past it and shown as
    /// `bot.workspace_limits.max_file_upload_size_in_bytes` [default: 5368709120, 5 GiB].
    #[arg(long, value_name = "BYTES")]
    pub max_file_upload_size: Option<String>,
    /// Retrieves of an `external_url` file upload until its import is done [default: 1].
    #[arg(long, value_name = "N")]
    pub import_polls: Option<String>,
}

impl TryFrom<SandboxArgs> for Options {
    type Error = SandboxError;

    fn try_from(args: SandboxArgs) -> Result<Options, SandboxError> {
        let bad = |m: String| SandboxError::Options(m);
        let seed = match &args.seed {
            Some(path) => {
                let seed = Seed::load(path)?;
                seed.check()?;
                seed
            }
            None => Seed::default(),
        };
        let rate = args
            .rate
            .as_deref()
            .map(|r| {
                r.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite() && *x > 0.0)
                    .ok_or_else(|| {
                        bad(format!(
                            "--rate `{r}` should be a number of requests per second above 0"
                        ))
                    })
            })
            .transpose()?;
        let burst = parse_count(args.burst.as_deref(), "--burst")?;
        let window_budget = parse_count(args.window_budget.as_deref(), "--window-budget")?;
        let faults = match args.faults.as_deref() {
            None => FaultSpec::none(),
            Some(spec) => spec
                .parse::<FaultSpec>()
                .map_err(|e| bad(format!("--faults `{spec}`: {e}")))?,
        };
        let fail_first = args
            .fail_first
            .iter()
            .map(|rule| {
                rule.parse::<FailFirst>()
                    .map_err(|e| bad(format!("--fail-first `{rule}`: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let latency = args.latency.as_deref().map(parse_latency).transpose()?;
        let query_cap = parse_count::<u32>(args.query_cap.as_deref(), "--query-cap")?
            .map_or(super::DEFAULT_QUERY_CAP, |n| n as usize);
        let max_schema_options =
            parse_count::<u32>(args.max_schema_options.as_deref(), "--max-schema-options")?
                .map(|n| n as usize);
        let max_file_upload_size = parse_count::<u64>(
            args.max_file_upload_size.as_deref(),
            "--max-file-upload-size",
        )?
        .unwrap_or(super::DEFAULT_MAX_FILE_UPLOAD_SIZE);
        let import_polls = parse_count(args.import_polls.as_deref(), "--import-polls")?
            .unwrap_or(super::DEFAULT_IMPORT_POLLS);
        let opts = Options {
            port: args.port,
            seed,
            token: args.token,
            rate,
            burst,
            window_budget,
            faults,
            fault_seed: args.fault_seed,
            fail_first,
            latency,
            stall: super::DEFAULT_STALL,
            query_cap,
            max_schema_options,
            max_file_upload_size,
            import_polls,
        };
        opts.validate()?;
        Ok(opts)
    }
}

/// A whole number of at least 1 (`u32` or `u64`), if given.
fn parse_count<T: std::str::FromStr + PartialOrd + From<u8>>(
    text: Option<&str>,
    flag: &str,
) -> Result<Option<T>, SandboxError> {
    text.map(|t| {
        t.trim()
            .parse::<T>()
            .ok()
            .filter(|n| *n >= T::from(1))
            .ok_or_else(|| {
                SandboxError::Options(format!(
                    "{flag} `{t}` should be a whole number of at least 1"
                ))
            })
    })
    .transpose()
}

/// `MIN,MAX` in milliseconds, MIN <= MAX.
pub(crate) fn parse_latency(text: &str) -> Result<(u64, u64), SandboxError> {
    let bad = || {
        SandboxError::Options(format!(
            "--latency `{text}` should be MIN,MAX in whole milliseconds with MIN <= MAX"
        ))
    };
    let (min, max) = text.split_once(',').ok_or_else(bad)?;
    let min: u64 = min.trim().parse().map_err(|_| bad())?;
    let max: u64 = max.trim().parse().map_err(|_| bad())?;
    if min > max {
        return Err(bad());
    }
    Ok((min, max))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FaultKind;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: SandboxArgs,
    }

    fn parse(flags: &[&str]) -> Result<Options, String> {
        let mut argv = vec!["sandbox"];
        argv.extend_from_slice(flags);
        let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        Options::try_from(cli.args).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults() {
        let o = parse(&[]).unwrap();
        assert_eq!(o.port, 0);
        assert_eq!(o.token, None);
        assert_eq!(o.rate, None);
        assert_eq!(o.burst, None);
        assert_eq!(o.window_budget, None);
        assert!(o.faults.is_empty());
        assert_eq!(o.fault_seed, 0);
        assert_eq!(o.latency, None);
        assert!(o.seed.pages.is_empty());
        assert_eq!(o.query_cap, 10_000);
        assert_eq!(o.max_schema_options, None);
        assert_eq!(o.max_file_upload_size, 5 * 1024 * 1024 * 1024);
        assert_eq!(o.import_polls, 1);
    }

    #[test]
    fn upload_limits() {
        let o = parse(&["--max-file-upload-size", "5242880", "--import-polls", "3"]).unwrap();
        assert_eq!((o.max_file_upload_size, o.import_polls), (5_242_880, 3));
        for bad in ["0", "-1", "x", "2.5"] {
            let err = parse(&[&format!("--max-file-upload-size={bad}")]).unwrap_err();
            assert!(err.contains("--max-file-upload-size"), "{bad}: {err}");
            let err = parse(&[&format!("--import-polls={bad}")]).unwrap_err();
            assert!(err.contains("--import-polls"), "{bad}: {err}");
        }
    }

    #[test]
    fn max_schema_options() {
        assert_eq!(
            parse(&["--max-schema-options", "500"])
                .unwrap()
                .max_schema_options,
            Some(500)
        );
        for bad in ["0", "-1", "x", "2.5"] {
            let err = parse(&[&format!("--max-schema-options={bad}")]).unwrap_err();
            assert!(err.contains("--max-schema-options"), "{bad}: {err}");
        }
    }

    #[test]
    fn query_cap() {
        assert_eq!(parse(&["--query-cap", "250"]).unwrap().query_cap, 250);
        for bad in ["0", "-1", "x", "2.5"] {
            let err = parse(&[&format!("--query-cap={bad}")]).unwrap_err();
            assert!(err.contains("--query-cap"), "{bad}: {err}");
        }
    }

    #[test]
    fn port() {
        assert_eq!(parse(&["--port", "8080"]).unwrap().port, 8080);
        assert!(parse(&["--port", "70000"]).is_err());
        assert!(parse(&["--port", "x"]).is_err());
    }

    #[test]
    fn seed_file() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../jobs/demo-seed.json");
        assert_eq!(parse(&["--seed", path]).unwrap().seed.pages.len(), 19);
        let err = parse(&["--seed", "/nonexistent/seed.json"]).unwrap_err();
        assert!(
            err.contains("cannot read seed file /nonexistent/seed.json"),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, r#"{"users": [{"id": "nope", "name": "x"}]}"#).unwrap();
        let err = parse(&["--seed", bad.to_str().unwrap()]).unwrap_err();
        assert!(err.contains("user id `nope` is not a UUID"), "{err}");
        std::fs::write(&bad, "{not json").unwrap();
        let err = parse(&["--seed", bad.to_str().unwrap()]).unwrap_err();
        assert!(err.contains("is not a valid seed"), "{err}");
    }

    #[test]
    fn token() {
        assert_eq!(
            parse(&["--token", "abc"]).unwrap().token.as_deref(),
            Some("abc")
        );
        assert!(parse(&["--token", ""]).unwrap_err().contains("--token"));
    }

    #[test]
    fn rate_and_burst() {
        let o = parse(&["--rate", "2.5", "--burst", "4"]).unwrap();
        assert_eq!((o.rate, o.burst), (Some(2.5), Some(4)));
        assert_eq!(o.rate_and_burst(), Some((2.5, 4)));
        assert_eq!(
            parse(&["--rate", "2.5"]).unwrap().rate_and_burst(),
            Some((2.5, 3))
        );
        assert_eq!(
            parse(&["--rate", "0.2"]).unwrap().rate_and_burst(),
            Some((0.2, 1))
        );
        for bad in ["0", "-1", "inf", "NaN", "fast"] {
            let err = parse(&[&format!("--rate={bad}")]).unwrap_err();
            assert!(err.contains("--rate"), "{bad}: {err}");
        }
        assert!(parse(&["--rate", "1", "--burst", "0"])
            .unwrap_err()
            .contains("--burst"));
        assert!(parse(&["--rate", "1", "--burst", "1.5"])
            .unwrap_err()
            .contains("--burst"));
        assert!(parse(&["--burst", "3"])
            .unwrap_err()
            .contains("--burst needs --rate"));
    }

    #[test]
    fn window_budget() {
        assert_eq!(
            parse(&["--window-budget", "180"]).unwrap().window_budget,
            Some(180)
        );
        assert!(parse(&["--window-budget", "0"])
            .unwrap_err()
            .contains("--window-budget"));
    }

    #[test]
    fn faults_and_seed() {
        let o = parse(&["--faults", "conflict=0.5,reset=0.25", "--fault-seed", "42"]).unwrap();
        assert_eq!(
            o.faults.rates(),
            &[(FaultKind::Conflict, 0.5), (FaultKind::Reset, 0.25)]
        );
        assert_eq!(o.fault_seed, 42);
        let err = parse(&["--faults", "boom=1"]).unwrap_err();
        assert!(err.contains("unknown fault kind `boom`"), "{err}");
        assert!(parse(&["--fault-seed", "-1"]).is_err());
    }

    #[test]
    fn fail_first() {
        let o = parse(&[
            "--fail-first",
            "GET /v1/data_sources/=e429,reset",
            "--fail-first",
            "GET /v1/users=e500",
        ])
        .unwrap();
        assert_eq!(
            o.fail_first,
            [
                FailFirst::new(
                    "GET",
                    "/v1/data_sources/",
                    &[FaultKind::E429, FaultKind::Reset]
                ),
                FailFirst::new("GET", "/v1/users", &[FaultKind::E500]),
            ]
        );
        let err = parse(&["--fail-first", "GET /v1/x=boom"]).unwrap_err();
        assert!(
            err.contains("--fail-first `GET /v1/x=boom`: unknown fault kind `boom`"),
            "{err}"
        );
    }

    #[test]
    fn latency_parser() {
        assert_eq!(parse_latency("50,250").unwrap(), (50, 250));
        assert_eq!(parse_latency(" 7 , 7 ").unwrap(), (7, 7));
        for bad in ["", "5", "5,", ",5", "9,3", "1.5,2", "1,2,3"] {
            assert!(parse_latency(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn latency() {
        assert_eq!(
            parse(&["--latency", "50,250"]).unwrap().latency,
            Some((50, 250))
        );
        assert_eq!(parse(&["--latency", "0,0"]).unwrap().latency, Some((0, 0)));
        for bad in ["250,50", "50", "a,b", "-1,5", "1,2,3"] {
            let err = parse(&[&format!("--latency={bad}")]).unwrap_err();
            assert!(err.contains("--latency"), "{bad}: {err}");
        }
    }
}
