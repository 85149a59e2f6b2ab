#!/usr/bin/env bash
# Files through the File Upload API (issue 21): 40 rows naming 10 files of 25 MiB (multi-part,
# 3 parts each), 20 of 1 MiB (single part) and 10 upload: URLs, applied against the sandbox.
# Two settings: --rate 1000 (the limiter never binds: loopback throughput of the upload path,
# MB/s of file bytes) and --rate 3 (Notion's rate: wall time against requests / 3).
# Ideal requests = 1 schema read + 1 users/me + per 25 MiB file (create + 3 parts + complete)
# + per 1 MiB file (create + send) + per import (create + 1 read) + one PATCH per row.
#   cargo build --release && bash benches/e2e/uploads.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-3}
BIN=./target/release/notion-bulk
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
source benches/e2e/sandbox.sh
stop_sandbox() { kill "$SPID" 2>/dev/null || true; wait "$SPID" 2>/dev/null || true; }
DS=0e5c5a4f-0000-4000-8000-0000000000f1

python3 - "$WORK" "$DS" <<'PY'
import json, os, sys
work, ds = sys.argv[1], sys.argv[2]
os.makedirs(f"{work}/scans", exist_ok=True)
rows, pages = ["page_id,Scan"], []
for i in range(40):
    pid = f"0e5c5a4f-0000-4000-8000-{0x3000 + i:012x}"
    pages.append({"id": pid, "data_source_id": ds, "properties": {"Name": f"Doc {i}"}})
    if i < 30:
        size = 25 * 1024 * 1024 if i < 10 else 1024 * 1024
        with open(f"{work}/scans/f-{i}.bin", "wb") as f:
            f.write(os.urandom(size))
        rows.append(f"{pid},scans/f-{i}.bin")
    else:
        rows.append(f"{pid},upload:https://files.example.test/a-{i}.png")
open(f"{work}/docs.csv", "w").write("\n".join(rows) + "\n")
seed = {"databases": [{"id": "0e5c5a4f-0000-4000-8000-0000000000f0", "title": "Docs"}],
        "data_sources": [{"id": ds, "title": "Docs", "database_id": "0e5c5a4f-0000-4000-8000-0000000000f0",
                          "properties": [{"name": "Name", "type": "title"}, {"name": "Scan", "type": "files"}]}],
        "users": [], "pages": pages}
json.dump(seed, open(f"{work}/seed.json", "w"))
PY
for rate in 1000 3; do
  for run in $(seq "$RUNS"); do
    start_sandbox "$WORK/seed.json" --rate "$rate" --burst 3
    rm -f "$WORK/r.jsonl" "$WORK/r.jsonl.uploads" "$WORK/s.json"
    NOTION_TOKEN=bench_token "$BIN" apply "$WORK/docs.csv" --schema-from $DS \
      --api-base "http://127.0.0.1:$PORT" --rate "$rate" --burst 3 --concurrency 3 \
      --report "$WORK/r.jsonl" --summary-json "$WORK/s.json" --progress none 2> "$WORK/err.txt" || true
    curl -s "http://127.0.0.1:$PORT/__sandbox/stats" > "$WORK/stats.json"
    python3 - "$WORK/s.json" "$WORK/stats.json" "$rate" "$run" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); st = json.load(open(sys.argv[2]))
rate, run = float(sys.argv[3]), sys.argv[4]
ideal = 2 + 10 * 5 + 20 * 2 + 10 * 2 + 40
total, wall = st["requests"], s["wall_time_s"]
mb = s["uploads"]["bytes"] / 1e6
fu = st["file_uploads"]
print(f"rate {rate:g} run {run}: ok {s['rows']['ok']}/40, {total} requests (ideal {ideal}, {total / ideal:.3f}x), "
      f"{mb:.0f} MB in {wall:.2f}s = {mb / wall:.0f} MB/s, wall/(requests/rate) = {wall / (total / rate):.3f}, "
      f"duplicates {fu['duplicate_uploads']}, 429s {s['rate_limited']}")
PY
    stop_sandbox
  done
done
