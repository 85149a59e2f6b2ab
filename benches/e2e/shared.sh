#!/usr/bin/env bash
# SPEC §8.7: three processes with one token, 400 rows each, each at --rate 20, against the
# sandbox at --rate 20 --burst 5 --latency 50,250; with and without --shared-limiter (a
# throwaway redis-server on a unix socket). Release build first:
#   cargo build --release && bash benches/e2e/shared.sh [runs]
# Prints one line per run: the combined 429 share and the last process's wall time over the
# ideal (1,200 rows / 20 per s = 60 s).
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-3}
BIN=$PWD/target/release/notion-bulk
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
N=1200
python3 benches/e2e/generate.py $N "$WORK"
# Three inputs of 400 rows each (the header, then a third of the rows).
for p in 0 1 2; do
  { head -1 "$WORK/rows.csv"; tail -n +2 "$WORK/rows.csv" | sed -n "$((p * 400 + 1)),$((p * 400 + 400))p"; } > "$WORK/rows$p.csv"
done

redis-server --port 0 --unixsocket "$WORK/redis.sock" --save '' --appendonly no --dir "$WORK" > "$WORK/redis.log" &
for _ in $(seq 200); do
  if redis-cli -s "$WORK/redis.sock" ping 2>/dev/null | grep -q PONG; then break; fi
  sleep 0.05
done

source benches/e2e/sandbox.sh

three() { # label, extra apply flags
  local label=$1; shift
  redis-cli -s "$WORK/redis.sock" flushall > /dev/null
  PIN="taskset -c 0" start_sandbox "$WORK/seed.json" --rate 20 --burst 5 --latency 50,250
  local pids=()
  for p in 0 1 2; do
    rm -f "$WORK/r$p.jsonl" "$WORK/s$p.json"
    NOTION_TOKEN=bench_token "$BIN" apply "$WORK/rows$p.csv" --api-base "http://127.0.0.1:$PORT" \
      --report "$WORK/r$p.jsonl" --summary-json "$WORK/s$p.json" --progress none --rate 20 "$@" 2>/dev/null &
    pids+=($!)
  done
  wait "${pids[@]}" || true
  kill $SPID; wait $SPID 2>/dev/null || true
  python3 - "$WORK" "$label" <<'PY'
import json, sys
s = [json.load(open(f"{sys.argv[1]}/s{p}.json")) for p in range(3)]
req = sum(x["requests"] for x in s); lim = sum(x["rate_limited"] for x in s)
last = max(x["wall_time_s"] for x in s)
print(f"{sys.argv[2]}: last {last:.2f}s ratio {last / 60:.3f} walls {[round(x['wall_time_s'], 1) for x in s]} "
      f"requests {req} 429s {lim} ({100 * lim / max(req, 1):.2f}%) ok {sum(x['rows']['ok'] for x in s)}")
PY
}

echo "== §8.7: three processes x 400 rows at --rate 20; sandbox --rate 20 --burst 5 --latency 50,250; ideal 60 s"
for i in $(seq "$RUNS"); do
  three "8.7 run $i shared" --shared-limiter "unix://$WORK/redis.sock"
  three "8.7 run $i alone"
done
