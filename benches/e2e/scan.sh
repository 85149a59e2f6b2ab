#!/usr/bin/env bash
# Scan benchmarks (SPEC §8.5 scaled to the sandbox, §8.6), against the sandbox at --rate 20.
# Release build first:
#   cargo build --release && bash benches/e2e/scan.sh [runs]
# Prints one line per run; the medians go to BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-3}
BIN=./target/release/notion-bulk
DS=d23f0824-128b-4f33-8c5c-7fd0a6a3a450
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

source benches/e2e/sandbox.sh
stop_sandbox() { kill "$SPID" 2>/dev/null || true; wait "$SPID" 2>/dev/null || true; }

# §8.5: 20,000 pages, 20,000 rows keyed by page id, 300 of which change something.
python3 benches/e2e/scan_data.py 20000 300 "$WORK/s85"
for run in $(seq "$RUNS"); do
  start_sandbox "$WORK/s85/seed.json" --rate 20 --burst 5
  rm -f "$WORK/r.jsonl" "$WORK/s.json"
  NOTION_TOKEN=bench_token "$BIN" apply "$WORK/s85/rows.csv" --data-source $DS \
    --api-base "http://127.0.0.1:$PORT" --rate 20 --burst 5 --report "$WORK/r.jsonl" \
    --summary-json "$WORK/s.json" --progress none 2>/dev/null || true
  python3 - "$WORK/s.json" "$run" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
req, wall = s["requests"], s["wall_time_s"]
print(f"8.5 run {sys.argv[2]}: {req} requests ({s['scan_requests']} reads), ok {s['rows']['ok']}, "
      f"skipped {s['rows']['skipped']}, 429s {s['rate_limited']}, wall {wall:.1f}s; "
      f"requests/(300+200) = {req / 500:.3f}, wall/(requests/20) = {wall / (req / 20):.3f}")
PY
  stop_sandbox
done

# §8.5 keyed by SKU (issue 12): 20,000 pages (5 SKUs on two pages each), 20,000 rows found by
# SKU: 300 change something, 20 have SKUs no page has (created), 5 are ambiguous.
python3 benches/e2e/scan_data.py 20000 300 "$WORK/k85" --keyed 20 5
for run in $(seq "$RUNS"); do
  start_sandbox "$WORK/k85/seed.json" --rate 20 --burst 5
  rm -f "$WORK/r.jsonl" "$WORK/s.json"
  NOTION_TOKEN=bench_token "$BIN" apply "$WORK/k85/rows.csv" --data-source $DS \
    --match-on SKU --create-missing \
    --api-base "http://127.0.0.1:$PORT" --rate 20 --burst 5 --report "$WORK/r.jsonl" \
    --summary-json "$WORK/s.json" --progress none 2>/dev/null || true
  python3 - "$WORK/s.json" "$run" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
req, wall, a = s["requests"], s["wall_time_s"], s["actions"]
ideal = a["updated"] + a["created"] + 200
print(f"8.5 keyed run {sys.argv[2]}: {req} requests ({s['scan_requests']} reads), updated {a['updated']}, "
      f"created {a['created']}, unchanged {a['unchanged']}, ambiguous {a['ambiguous_key']}, "
      f"429s {s['rate_limited']}, wall {wall:.1f}s; requests/({a['updated']}+{a['created']}+200) = "
      f"{req / ideal:.3f}, wall/(requests/20) = {wall / (req / 20):.3f}")
PY
  stop_sandbox
done

# §8.6: a scan of 100,000 pages comparing 10 properties (plan reads the data source, one row).
python3 benches/e2e/scan_data.py 100000 0 "$WORK/s86"
head -2 "$WORK/s86/rows.csv" > "$WORK/s86/one.csv"
start_sandbox "$WORK/s86/seed.json" --rate 20 --burst 5
for run in $(seq "$RUNS"); do
  NOTION_TOKEN=bench_token /usr/bin/time -v "$BIN" plan "$WORK/s86/one.csv" --data-source $DS \
    --api-base "http://127.0.0.1:$PORT" --rate 20 --burst 5 > /dev/null 2> "$WORK/time.txt" || true
  python3 - "$WORK/time.txt" "$run" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1))
m = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", t)
wall = int(m.group(1) or 0) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
reqs = re.findall(r"scan: (\d+) pages read, (\d+) requests", t)[-1]
print(f"8.6 run {sys.argv[2]}: {reqs[0]} pages, {reqs[1]} requests, wall {wall:.1f}s, "
      f"peak RSS {rss / 1024:.1f} MB; wall/(requests/20) = {wall / (int(reqs[1]) / 20):.3f}, "
      f"wall/(1000/20) = {wall / 50:.3f}")
PY
done
stop_sandbox
