#!/usr/bin/env python3
"""Write a large CSV for `plan` benchmarks (SPEC §8.4): N rows of the demo's task tracker
columns, each row a different page.

    python3 scripts/generate-csv.py 5000000 > /tmp/rows-5m.csv
"""
import sys

n = int(sys.argv[1])
out = sys.stdout
out.write("page_id,Name:title,Status:status,Priority:select,Tags:multi_select,Due:date,"
          "Done:checkbox,Estimate:number,Link:url,Owner:people,Notes:text\n")
statuses = ["Not started", "In progress", "Done"]
for i in range(n):
    out.write(f"{i * 7919 + 1:032x},Task number {i},{statuses[i % 3]},High,backend;urgent,"
              f"2026-12-{i % 28 + 1:02d},{'yes' if i % 2 else 'no'},{i}.5,https://example.com/t/{i},"
              f"9531985d-5d9d-49f8-9818-e811892f902b,Notes about task {i}\n")
