//! Issue 14, `--shared-limiter`: several processes of the real binary against one sandbox share
//! one budget through a real `redis-server` that each test starts on a unix socket in its
//! temporary folder (and kills at the end). Everything is counted by the sandbox or read from
//! Redis; nothing is timed.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use notion_sandbox::{self as sandbox, Handle, Options, Seed};

use crate::resume::{printed_continue_command, run_printed, until_report_has};
use crate::util::{read_report, run_against, spawn_against, Dir, Run};

const TOKEN: &str = "secret_shared_limiter_token_8c1d";

/// A throwaway `redis-server` on a unix socket, killed on drop.
struct Redis {
    child: Child,
    socket: PathBuf,
    /// `requirepass`: clients must give it (`?pass=` in the URL).
    password: Option<String>,
    _dir: tempfile::TempDir,
}

impl Redis {
    fn start() -> Redis {
        Redis::start_with(None)
    }

    /// A server that requires `password` of every client.
    fn start_with(password: Option<&str>) -> Redis {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let socket = dir.path().join("redis.sock");
        let child = Redis::spawn(&socket, dir.path(), password);
        let redis = Redis {
            child,
            socket,
            password: password.map(str::to_owned),
            _dir: dir,
        };
        redis.wait_ready();
        redis
    }

    fn spawn(socket: &std::path::Path, dir: &std::path::Path, password: Option<&str>) -> Child {
        let bin = std::env::var("REDIS_SERVER_BIN").unwrap_or_else(|_| "redis-server".into());
        let mut command = Command::new(&bin);
        command
            .args(["--port", "0", "--unixsocket"])
            .arg(socket)
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(dir);
        if let Some(password) = password {
            command.args(["--requirepass", password]);
        }
        command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {bin} ({e}): install Debian's redis-server (.ci/run does)")
            })
    }

    /// Ready when it answers PING (bounded: about five seconds).
    fn wait_ready(&self) {
        for _ in 0..500 {
            if self.connection().is_some_and(|mut c| {
                redis::cmd("PING").query::<String>(&mut c).ok().as_deref() == Some("PONG")
            }) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!(
            "redis-server did not answer PING on {}",
            self.socket.display()
        );
    }

    /// A new server on the same socket, after [`Redis::kill`]: empty, as after a crash.
    fn restart(&mut self) {
        self.child = Redis::spawn(&self.socket, self._dir.path(), self.password.as_deref());
        self.wait_ready();
    }

    fn url(&self) -> String {
        match &self.password {
            Some(password) => format!("unix://{}?pass={password}", self.socket.display()),
            None => format!("unix://{}", self.socket.display()),
        }
    }

    fn connection(&self) -> Option<redis::Connection> {
        redis::Client::open(self.url()).ok()?.get_connection().ok()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Every key on the server, with its value.
    fn dump(&self) -> Vec<(String, String)> {
        let mut c = self.connection().expect("redis answers");
        let mut keys = Vec::new();
        let mut cursor = 0u64;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("COUNT")
                .arg(1000)
                .query(&mut c)
                .expect("SCAN");
            keys.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        keys.into_iter()
            .map(|k| {
                let value: Option<String> = redis::cmd("GET").arg(&k).query(&mut c).expect("GET");
                (k, value.unwrap_or_default())
            })
            .collect()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn sandbox(pages: usize, configure: impl FnOnce(&mut Options)) -> Handle {
    let mut options = Options::new(Seed::generate(pages));
    options.token = Some(TOKEN.into());
    configure(&mut options);
    sandbox::start(options).await.expect("the sandbox starts")
}

/// A folder with `rows` rows, one per page, for pages `first..first + rows`.
fn rows_dir(first: usize, rows: usize) -> Dir {
    let dir = Dir::new();
    let mut csv = String::from("page_id,Status:status,Estimate:number\n");
    for i in first..first + rows {
        csv += &format!("{},Done,{i}\n", Seed::generated_page_id(i));
    }
    dir.write("rows.csv", csv);
    dir
}

/// Runs `n` processes at once, each on its own `rows` pages, with `extra` flags.
async fn processes(handle: &Handle, n: usize, rows: usize, extra: &[&str]) -> Vec<(Dir, Run)> {
    let dirs: Vec<Dir> = (0..n).map(|p| rows_dir(1 + p * rows, rows)).collect();
    let base = handle.base_url();
    let mut args = vec![
        "apply",
        "rows.csv",
        "--report",
        "r.jsonl",
        "--progress",
        "none",
    ];
    args.extend_from_slice(extra);
    let runs =
        futures::future::join_all(dirs.iter().map(|dir| run_against(dir, &base, TOKEN, &args)))
            .await;
    dirs.into_iter().zip(runs).collect()
}

/// Every row of every process has exactly one report line, `ok`.
fn every_row_ok_once(runs: &[(Dir, Run)], rows: usize) {
    for (dir, run) in runs {
        assert_eq!(run.code, 0, "{}", run.stderr);
        let report = dir.report("r.jsonl");
        let mut seen: Vec<u64> = report.iter().map(|l| l.row).collect();
        seen.sort_unstable();
        assert_eq!(
            seen,
            (1..=rows as u64).collect::<Vec<_>>(),
            "one line per row"
        );
        assert!(report.iter().all(|l| l.outcome == "ok"), "{}", run.stderr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_sharing_a_budget_draw_almost_no_429s() {
    let rows = 80;
    let limited = |o: &mut Options| {
        o.rate = Some(20.0);
        o.burst = Some(5);
    };
    let redis = Redis::start();
    let url = redis.url();
    let handle = sandbox(3 * rows, limited).await;
    let shared = processes(
        &handle,
        3,
        rows,
        &["--rate", "20", "--shared-limiter", &url],
    )
    .await;
    every_row_ok_once(&shared, rows);
    let with = handle.stats();
    let handle = sandbox(3 * rows, limited).await;
    let alone = processes(&handle, 3, rows, &["--rate", "20"]).await;
    every_row_ok_once(&alone, rows);
    let without = handle.stats();
    // Under 1 % of the requests drew a 429 together, and at least five times fewer than the
    // same three processes each on its own limiter.
    assert!(
        with.rate_limited * 100 < with.requests,
        "shared: {} 429s in {} requests",
        with.rate_limited,
        with.requests
    );
    assert!(
        without.rate_limited > 0 && without.rate_limited >= 5 * with.rate_limited,
        "shared {} 429s, alone {}",
        with.rate_limited,
        without.rate_limited
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_seen_by_one_process_pauses_all_of_them() {
    // The sandbox allows half the rate the processes share, so 429s come; each carries
    // Retry-After: 1 (the sandbox's wait is under a second at 10/s).
    let rows = 30;
    let redis = Redis::start();
    let url = redis.url();
    let handle = sandbox(3 * rows, |o| {
        o.rate = Some(10.0);
        o.burst = Some(2);
    })
    .await;
    let runs = processes(
        &handle,
        3,
        rows,
        &["--rate", "20", "--shared-limiter", &url],
    )
    .await;
    every_row_ok_once(&runs, rows);
    let log = handle.requests();
    let limited: Vec<u64> = log
        .iter()
        .filter(|r| r.status == Some(429))
        .map(|r| r.time_ms)
        .collect();
    assert!(!limited.is_empty(), "no 429 drawn: the test shows nothing");
    // The process that drew it sets the shared pause within a few milliseconds (a Redis call);
    // requests already on their way may still arrive. From 250 ms on, and for the rest of the
    // second, no process sends anything.
    for t in &limited {
        let inside: Vec<_> = log
            .iter()
            .filter(|r| r.time_ms > t + 250 && r.time_ms < t + 950)
            .collect();
        assert!(
            inside.is_empty(),
            "requests inside the pause after the 429 at {t} ms: {inside:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_redis_mid_run_falls_back_to_local_limiters_and_every_row_ends_once() {
    let rows = 60;
    let mut redis = Redis::start();
    let url = redis.url();
    let handle = sandbox(3 * rows, |o| {
        o.rate = Some(20.0);
        o.burst = Some(5);
    })
    .await;
    let extra = ["--rate", "20", "--shared-limiter", &url];
    let runs = processes(&handle, 3, rows, &extra);
    let kill = async {
        // Kill the server once a third of the rows went out (bounded wait on the sandbox).
        for _ in 0..3000 {
            if handle.stats().requests >= rows as u64 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            handle.stats().requests >= rows as u64,
            "the runs never got going"
        );
        redis.kill();
    };
    let (runs, ()) = tokio::join!(runs, kill);
    every_row_ok_once(&runs, rows);
    for (_, run) in &runs {
        let warnings = run
            .stderr
            .lines()
            .filter(|l| l.starts_with("warning: lost the shared limiter"))
            .count();
        assert_eq!(warnings, 1, "one warning per process: {}", run.stderr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_shared_limiter_required_losing_redis_stops_the_run_with_exit_3() {
    let rows = 200;
    let mut redis = Redis::start();
    let url = redis.url();
    let handle = sandbox(rows, |o| {
        o.rate = Some(20.0);
        o.burst = Some(5);
    })
    .await;
    let extra = [
        "--rate",
        "20",
        "--shared-limiter",
        &url,
        "--shared-limiter-required",
    ];
    let runs = processes(&handle, 1, rows, &extra);
    let kill = async {
        for _ in 0..3000 {
            if handle.stats().requests >= 10 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        redis.kill();
    };
    let (runs, ()) = tokio::join!(runs, kill);
    let (dir, run) = &runs[0];
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("--shared-limiter-required"),
        "{}",
        run.stderr
    );
    let report = dir.report("r.jsonl");
    let mut seen: Vec<u64> = report.iter().map(|l| l.row).collect();
    let n = seen.len();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), n, "a row recorded twice");
    assert!(n < rows, "it stopped taking rows: {n} of {rows} ended");
    assert!(run.stderr.contains("--resume"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_appears_in_no_redis_key_or_value() {
    // A sandbox slower than --rate, so that every key is written: the slot, a pause, the rate.
    let redis = Redis::start();
    let url = redis.url();
    let handle = sandbox(20, |o| {
        o.rate = Some(5.0);
        o.burst = Some(1);
    })
    .await;
    let runs = processes(&handle, 1, 20, &["--rate", "20", "--shared-limiter", &url]).await;
    every_row_ok_once(&runs, 20);
    assert!(
        handle.stats().rate_limited > 0,
        "no 429: no pause was written"
    );
    let keys = redis.dump();
    assert!(
        keys.iter().any(|(k, _)| k.ends_with(":rate")),
        "the adaptive rate is on the server: {keys:?}"
    );
    for (key, value) in &keys {
        assert!(
            !key.contains(TOKEN) && !value.contains(TOKEN),
            "{key} = {value}"
        );
        assert!(!key.contains("secret_") && !value.contains("secret_"));
    }
    // Nor in anything the processes printed.
    assert!(!runs[0].1.stderr.contains(TOKEN));
}

/// The most requests the sandbox received in any one second (a sliding window over its
/// arrival times), and where that second starts.
fn busiest_second(handle: &Handle) -> (usize, u64) {
    let times: Vec<u64> = handle.requests().iter().map(|r| r.time_ms).collect();
    let mut best = (0, 0);
    let mut first = 0;
    for (last, t) in times.iter().enumerate() {
        while times[first] + 1000 <= *t {
            first += 1;
        }
        if last + 1 - first > best.0 {
            best = (last + 1 - first, times[first]);
        }
    }
    best
}

/// Waits (bounded, on the sandbox's own count) until it has received `n` requests.
async fn until_requests(handle: &Handle, n: u64) {
    for _ in 0..3000 {
        if handle.stats().requests >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the run never reached {n} requests");
}

/// Issue 18, point 12: after an outage, one second carried 39-40 requests at --rate 20: the
/// workers already waiting on the local limiter went on taking its permits while the others
/// took the shared budget's, which Redis, restarted empty, granted in full. From the first
/// request to the last, through the loss and the rejoin, no second carries more than the rate
/// and the burst (20 + 3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejoining_after_an_outage_spends_one_budget_not_two() {
    let rows = 240;
    let mut redis = Redis::start();
    let url = redis.url();
    let handle = sandbox(rows, |_| {}).await;
    let extra = ["--rate", "20", "--burst", "3", "--shared-limiter", &url];
    let runs = processes(&handle, 1, rows, &extra);
    let outage = async {
        until_requests(&handle, 40).await;
        redis.kill();
        // On its own limiter for a while (about two seconds of requests), then Redis is back,
        // empty, on the same socket.
        until_requests(&handle, 80).await;
        redis.restart();
        until_requests(&handle, 90).await;
    };
    let (runs, ()) = tokio::join!(runs, outage);
    every_row_ok_once(&runs, rows);
    let stderr = &runs[0].1.stderr;
    assert!(
        stderr.contains("warning: lost the shared limiter") && stderr.contains("answers again"),
        "the run did not lose and rejoin the budget: the test shows nothing: {stderr}"
    );
    let (most, at) = busiest_second(&handle);
    assert!(
        most <= 23,
        "{most} requests in the second from {at} ms (at most 20 + a burst of 3): {stderr}"
    );
}

/// Issue 18, point 14: a limiter URL that reaches a server that is not Redis (here the
/// sandbox's own HTTP port) is refused before anything is sent, with a message that says so,
/// names the URL without its password, and says what to do; no raw parse error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limiter_url_that_is_not_a_redis_server_says_so_before_anything_is_sent() {
    let handle = sandbox(3, |_| {}).await;
    let port = handle.addr().port();
    let dir = rows_dir(1, 3);
    for url in [
        format!("redis://127.0.0.1:{port}"),
        format!("redis://:s3cr3t-pw@127.0.0.1:{port}/0"),
    ] {
        let out = run_against(
            &dir,
            &handle.base_url(),
            TOKEN,
            &[
                "apply",
                "rows.csv",
                "--report",
                "r.jsonl",
                "--shared-limiter",
                &url,
            ],
        )
        .await;
        assert_eq!(out.code, 2, "{}", out.stderr);
        let stderr = &out.stderr;
        assert!(
            stderr.contains(&format!("127.0.0.1:{port}"))
                && stderr.contains("did not answer as Redis")
                && stderr.contains("Nothing was sent"),
            "{stderr}"
        );
        assert!(!stderr.contains("s3cr3t-pw"), "{stderr}");
        assert!(!stderr.to_lowercase().contains("parse error"), "{stderr}");
    }
    assert_eq!(handle.stats().requests, 0, "nothing reached the API");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue18_the_redis_password_appears_in_no_output_and_the_printed_command_works_with_it_put_back(
) {
    const PASSWORD: &str = "s3cr3t-pw-5d1c";
    let rows = 100;
    let redis = Redis::start_with(Some(PASSWORD));
    let handle = sandbox(rows, |_| {}).await;
    let base = handle.base_url();
    let dir = rows_dir(1, rows);
    // The `--flag=URL` form; the unit tests of the continue command have the other.
    let limiter = format!("--shared-limiter={}", redis.url());
    let child = spawn_against(
        &dir,
        &base,
        TOKEN,
        &[
            "apply",
            "rows.csv",
            "--report",
            "r.jsonl",
            "--progress",
            "none",
            "--rate",
            "50",
            &limiter,
        ],
    );
    until_report_has(&dir, "r.jsonl", 3).await;
    let pid = child.id().unwrap();
    assert!(Command::new("sh")
        .args(["-c", &format!("kill -INT {pid}")])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().await.unwrap();
    let (stdout, stderr) = (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    );
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("shared limiter: permits come from the budget"),
        "{stderr}"
    );
    assert!(
        !stdout.contains(PASSWORD) && !stderr.contains(PASSWORD),
        "{stderr}"
    );
    let done = read_report(&dir.path("r.jsonl")).len();
    assert!(done < rows, "stopped before the end");

    // As printed, the command names the placeholder, and the run says to put the password
    // back: run as is, it is refused before anything is sent.
    let command = printed_continue_command(&stderr);
    assert!(
        command.contains("pass=***") && command.contains("--resume"),
        "{command}"
    );
    assert!(stderr.contains("put the password back"), "{stderr}");
    let patches = |h: &Handle| h.requests().iter().filter(|r| r.method == "PATCH").count();
    let before = patches(&handle);
    let masked = run_printed(&dir, &command, TOKEN).await;
    let masked_err = String::from_utf8_lossy(&masked.stderr);
    assert_eq!(masked.status.code(), Some(2), "{masked_err}");
    assert!(
        masked_err.contains("Nothing was sent")
            && masked_err.contains("the password is still the *** of a printed command"),
        "{masked_err}"
    );
    assert_eq!(patches(&handle), before);

    // With the password put back, it finishes the run, through the shared limiter.
    let command = command.replace("***", PASSWORD);
    let out = run_printed(&dir, &command, TOKEN).await;
    let resumed = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{resumed}");
    assert!(
        resumed.contains("shared limiter: permits come from the budget"),
        "{resumed}"
    );
    assert!(!resumed.contains(PASSWORD), "{resumed}");
    let report = read_report(&dir.path("r.jsonl"));
    assert_eq!(report.len(), rows, "one line per row");
    assert!(report.iter().all(|l| l.outcome == "ok"));
    assert!(
        redis.dump().iter().any(|(k, _)| k.ends_with(":tat")),
        "the budget is on the server"
    );
}
