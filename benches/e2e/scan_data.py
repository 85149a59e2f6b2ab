#!/usr/bin/env python3
"""Data for the scan benchmarks of SPEC §8.5-§8.6: a sandbox seed with N pages (the demo's
schema and users) holding 10 compared properties, created ten to a minute, and a CSV of one
row per page that repeats every page's values except for K rows, which change their status.

    python3 benches/e2e/scan_data.py N K OUT
    # -> OUT/seed.json, OUT/rows.csv (page_id + the 10 properties, typed by the schema)
"""
import datetime
import json
import os
import sys

n, k, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
os.makedirs(out, exist_ok=True)
here = os.path.dirname(os.path.abspath(__file__))
seed = json.load(open(os.path.join(here, "..", "..", "jobs", "demo-seed.json")))
ds = seed["data_sources"][0]["id"]
start = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
statuses = ["Not started", "In progress"]
priorities = ["Low", "Medium", "High"]
tags = ["backend", "frontend", "docs", "infra"]


def page_id(i):
    return f"00000000-0000-4000-8000-{i:012x}"


def values(i):
    return {
        "Name": f"Task {i}",
        "Status": statuses[i % 2],
        "Priority": priorities[i % 3],
        "Tags": [tags[i % 4], tags[(i + 1) % 4]],
        "Due": f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}",
        "Done": i % 5 == 0,
        "Estimate": i % 13 + 0.5,
        "Link": f"https://example.com/tasks/{i}",
        "Notes": f"Notes for task {i}",
        "Contact": f"owner{i % 50}@example.com",
    }


seed["pages"] = [
    {"id": page_id(i), "data_source_id": ds, "properties": values(i),
     "created_time": (start + datetime.timedelta(minutes=i // 10)).isoformat().replace("+00:00", "Z")}
    for i in range(1, n + 1)
]
json.dump(seed, open(os.path.join(out, "seed.json"), "w"))
with open(os.path.join(out, "rows.csv"), "w") as f:
    f.write("page_id,Name,Status,Priority,Tags,Due,Done,Estimate,Link,Notes,Contact\n")
    for i in range(1, n + 1):
        v = values(i)
        status = "Done" if i <= k else v["Status"]
        f.write(",".join([page_id(i), v["Name"], status, v["Priority"], ";".join(v["Tags"]), v["Due"],
                          "true" if v["Done"] else "false", str(v["Estimate"]), v["Link"], v["Notes"],
                          v["Contact"]]) + "\n")
