#!/usr/bin/env python3
"""Write a sandbox seed with N pages (the demo's schema and users) and a CSV of updates (one
per page, or ROWS rows cycling over the pages), for the end-to-end benchmarks of SPEC §8.1-8.3.

    python3 benches/e2e/generate.py 1200 /tmp/bench [ROWS [NAME]]
    # -> /tmp/bench/seed.json, /tmp/bench/rows.csv (or NAME)
"""
import json
import os
import sys

n, out = int(sys.argv[1]), sys.argv[2]
rows = int(sys.argv[3]) if len(sys.argv) > 3 else n
name = sys.argv[4] if len(sys.argv) > 4 else "rows.csv"
os.makedirs(out, exist_ok=True)
here = os.path.dirname(os.path.abspath(__file__))
seed = json.load(open(os.path.join(here, "..", "..", "jobs", "demo-seed.json")))
ds = seed["data_sources"][0]["id"]


def page_id(i):
    return f"00000000-0000-4000-8000-{i:012x}"


seed["pages"] = [
    {"id": page_id(i), "data_source_id": ds,
     "properties": {"Name": f"Task {i}", "Status": "Not started", "Priority": "Low"}}
    for i in range(1, n + 1)
]
json.dump(seed, open(os.path.join(out, "seed.json"), "w"))
with open(os.path.join(out, name), "w") as f:
    f.write("page_id,Status:status,Estimate:number,Tags:multi_select,Done:checkbox\n")
    for r in range(rows):
        f.write(f"{page_id(r % n + 1)},Done,{r + 1},backend;docs,yes\n")
