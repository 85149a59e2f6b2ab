#!/usr/bin/env bash
# Relation cells by key (issue 20): 500 orders naming 800 parts by SKU (40 missing, 3 on two
# parts), applied with --create-missing-related against the sandbox at --rate 20 --burst 5.
# Ideal requests = 2 schema reads + ceil(800 / 100) lookups + ceil(40 / 100) contains pass
# + 40 creates + one PATCH per row sent. Release build first:
#   cargo build --release && bash benches/e2e/relations.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-3}
BIN=./target/release/notion-bulk
ORDERS=0e5c5a4f-0000-4000-8000-00000000000a
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
source benches/e2e/sandbox.sh
stop_sandbox() { kill "$SPID" 2>/dev/null || true; wait "$SPID" 2>/dev/null || true; }

python3 benches/e2e/relations_data.py 500 800 40 3 "$WORK/data" > "$WORK/shape.json"
for run in $(seq "$RUNS"); do
  start_sandbox "$WORK/data/seed.json" --rate 20 --burst 5
  rm -f "$WORK/r.jsonl" "$WORK/s.json"
  NOTION_TOKEN=bench_token "$BIN" apply "$WORK/data/orders.csv" --schema-from $ORDERS \
    --create-missing-related --api-base "http://127.0.0.1:$PORT" --rate 20 --burst 5 \
    --report "$WORK/r.jsonl" --summary-json "$WORK/s.json" --progress none 2> "$WORK/err.txt" || true
  curl -s "http://127.0.0.1:$PORT/__sandbox/requests" > "$WORK/requests.json"
  python3 - "$WORK/s.json" "$WORK/requests.json" "$WORK/shape.json" "$run" <<'PY'
import json, math, sys
s = json.load(open(sys.argv[1])); log = json.load(open(sys.argv[2])); shape = json.load(open(sys.argv[3]))
queries = sum(1 for r in log if r["path"].endswith("/query"))
creates = sum(1 for r in log if r["method"] == "POST" and r["path"] == "/v1/pages")
patches = sum(1 for r in log if r["method"] == "PATCH")
gets = sum(1 for r in log if r["method"] == "GET")
sent_rows = s["rows"]["ok"]
ideal = 2 + math.ceil(shape["keys"] / 100) + math.ceil(shape["missing"] / 100) + shape["missing"] + sent_rows
total = len(log)
wall = s["wall_time_s"]
print(f"run {sys.argv[4]}: {total} requests ({gets} GET, {queries} queries, {creates} creates, {patches} PATCH); "
      f"ok {sent_rows}, invalid {s['rows']['invalid']}, 429s {s['rate_limited']}, wall {wall:.1f}s; "
      f"requests/ideal {total}/{ideal} = {total / ideal:.3f}, wall/(requests/20) = {wall / (total / 20):.3f}")
PY
  stop_sandbox
done
