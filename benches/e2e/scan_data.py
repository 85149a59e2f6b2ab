#!/usr/bin/env python3
"""Data for the scan benchmarks of SPEC §8.5-§8.6: a sandbox seed with N pages (the demo's
schema and users) holding 10 compared properties, created ten to a minute, and a CSV of one
row per page that repeats every page's values except for K rows, which change their status.

    python3 benches/e2e/scan_data.py N K OUT
    # -> OUT/seed.json, OUT/rows.csv (page_id + the 10 properties, typed by the schema)

With `--keyed MISSING AMBIGUOUS` (SPEC §8.5 keyed by a property, issue 12): every page also has
an SKU (rich_text) `SKU-i`, except that the last AMBIGUOUS pages repeat the SKUs of pages 1..;
the rows carry no page id but the SKU: one row for each SKU of pages 1 .. N - MISSING (so each
ambiguous key has one row), then MISSING rows with SKUs no page has (`NEW-1`, …), which
--create-missing creates; N rows in all. The K changed rows are among the unambiguous keys.
"""
import datetime
import json
import os
import sys

n, k, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
keyed = "--keyed" in sys.argv
missing, ambiguous = (int(sys.argv[5]), int(sys.argv[6])) if keyed else (0, 0)
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


def sku(i):
    """The SKU of page i: the last `ambiguous` pages repeat those of pages 1, 2, …"""
    return f"SKU-{i - (n - ambiguous) if i > n - ambiguous else i}"


def with_key(i):
    v = values(i)
    if keyed:
        v["SKU"] = sku(i)
    return v


if keyed:
    seed["data_sources"][0]["properties"].append({"id": "sK%3Fu", "name": "SKU", "type": "rich_text"})
seed["pages"] = [
    {"id": page_id(i), "data_source_id": ds, "properties": with_key(i),
     "created_time": (start + datetime.timedelta(minutes=i // 10)).isoformat().replace("+00:00", "Z")}
    for i in range(1, n + 1)
]
json.dump(seed, open(os.path.join(out, "seed.json"), "w"))
def cells(v, status):
    return [v["Name"], status, v["Priority"], ";".join(v["Tags"]), v["Due"],
            "true" if v["Done"] else "false", str(v["Estimate"]), v["Link"], v["Notes"], v["Contact"]]


columns = "Name,Status,Priority,Tags,Due,Done,Estimate,Link,Notes,Contact"
with open(os.path.join(out, "rows.csv"), "w") as f:
    if not keyed:
        f.write(f"page_id,{columns}\n")
        for i in range(1, n + 1):
            v = values(i)
            status = "Done" if i <= k else v["Status"]
            f.write(",".join([page_id(i)] + cells(v, status)) + "\n")
    else:
        f.write(f"SKU,{columns}\n")
        # One row per SKU of pages 1 .. n - missing (the first `ambiguous` of them
        # ambiguous), then the missing ones; N rows in all. The k changes follow the ambiguous.
        for i in range(1, n - missing + 1):
            v = values(i)
            status = "Done" if ambiguous < i <= ambiguous + k else v["Status"]
            f.write(",".join([sku(i)] + cells(v, status)) + "\n")
        for j in range(1, missing + 1):
            v = values(n + j)
            f.write(",".join([f"NEW-{j}"] + cells(v, v["Status"])) + "\n")
