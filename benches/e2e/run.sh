#!/usr/bin/env bash
# End-to-end benchmarks of `apply` against the sandbox (SPEC §8.1-§8.3). Release build first:
#   cargo build --release && bash benches/e2e/run.sh [runs]
# Prints one line per run; the medians go to BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-3}
BIN=./target/release/notion-bulk
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
N=1200
python3 benches/e2e/generate.py $N "$WORK"
# §8.3 needs a run long enough to measure: 50,000 rows cycling over the same pages.
python3 benches/e2e/generate.py $N "$WORK" 50000 rows-50k.csv

source benches/e2e/sandbox.sh

apply_run() { # label, extra apply flags
  local label=$1; shift
  rm -f "$WORK/r.jsonl" "$WORK/s.json"
  NOTION_TOKEN=bench_token "$BIN" apply "$WORK/rows.csv" --api-base "http://127.0.0.1:$PORT" \
    --report "$WORK/r.jsonl" --summary-json "$WORK/s.json" --progress none "$@" 2>/dev/null || true
  python3 - "$WORK/s.json" "$label" $N <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); n = int(sys.argv[3]); ideal = n / 20
print(f"{sys.argv[2]}: wall {s['wall_time_s']:.2f}s ratio_to_ideal {s['wall_time_s']/ideal:.3f} "
      f"requests {s['requests']} 429s {s['rate_limited']} ({100*s['rate_limited']/max(s['requests'],1):.2f}%) ok {s['rows']['ok']} "
      f"rate {s['effective_rate']:.2f}/s")
PY
}

echo "== §8.1 and §8.2: sandbox --rate 20 --burst 5 --latency 50,250, N=$N, ideal $((N / 20)) s"
for i in $(seq "$RUNS"); do
  PIN="taskset -c 0" start_sandbox "$WORK/seed.json" --rate 20 --burst 5 --latency 50,250
  apply_run "8.1 run $i (--rate 20)" --rate 20
  kill $SPID; wait $SPID 2>/dev/null || true
  PIN="taskset -c 0" start_sandbox "$WORK/seed.json" --rate 20 --burst 5 --latency 50,250
  apply_run "8.2 run $i (--rate 40)" --rate 40
  kill $SPID; wait $SPID 2>/dev/null || true
done

echo "== §8.3: no limit, no latency; tool vs wrk at concurrency 16, sandbox on core 0, client on core 1"
for i in $(seq "$RUNS"); do
  PIN="taskset -c 0" start_sandbox "$WORK/seed.json"
  rm -f "$WORK/r.jsonl" "$WORK/s.json"
  NOTION_TOKEN=bench_token taskset -c 1 "$BIN" apply "$WORK/rows-50k.csv" --api-base "http://127.0.0.1:$PORT" \
    --report "$WORK/r.jsonl" --summary-json "$WORK/s.json" --progress none --rate 1000000 --burst 1000 --concurrency 16 2>/dev/null || true
  tool=$(python3 -c "import json;s=json.load(open('$WORK/s.json'));print(f\"{s['requests']/s['wall_time_s']:.0f}\")")
  wrk_rps=$(GENERATED_PAGES=$N TOKEN=bench_token taskset -c 1 wrk -t1 -c16 -d5s -s benches/wrk/patch.lua "http://127.0.0.1:$PORT" | sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p')
  python3 -c "print(f'8.3 run $i: tool {float($tool):.0f} req/s, wrk {float($wrk_rps):.0f} req/s, ratio {float($tool)/float($wrk_rps):.3f}')"
  kill $SPID; wait $SPID 2>/dev/null || true
done
