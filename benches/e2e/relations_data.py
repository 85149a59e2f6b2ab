"""Data of the relation benchmark (issue 20): ORDERS orders, each naming one or two of KEYS
parts by SKU (every key named once), MISSING SKUs with no part (spread evenly) and AMBIGUOUS
SKUs on two parts. Writes OUT/seed.json and OUT/orders.csv.

    python3 benches/e2e/relations_data.py 500 800 40 3 OUT
"""
import json
import os
import sys

orders, keys, missing, ambiguous, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
ORDERS = "0e5c5a4f-0000-4000-8000-00000000000a"
PARTS = "0e5c5a4f-0000-4000-8000-00000000000b"
step = keys // missing
gone = {k for k in range(keys) if k % step == step // 2 and len({x for x in range(k) if x % step == step // 2}) < missing}
doubled = [k for k in range(1, keys) if k not in gone][:: max(1, keys // max(1, ambiguous))][:ambiguous]


def uid(n):
    return f"0e5c5a4f-0000-4000-8000-{n:012x}"


def sku(k):
    return f"SKU-{k:05d}"


pages = []
for k in range(keys):
    if k in gone:
        continue
    for copy in range(2 if k in doubled else 1):
        pages.append({"id": uid(0x100000 + 2 * k + copy), "data_source_id": PARTS,
                      "properties": {"Name": f"Part {k}", "SKU": sku(k)}})
for i in range(orders):
    pages.append({"id": uid(0x1000 + i), "data_source_id": ORDERS, "properties": {"Name": f"Order {i}"}})
seed = {
    "databases": [{"id": uid(0xDA), "title": "Orders"}, {"id": uid(0xDB), "title": "Parts"}],
    "data_sources": [
        {"id": ORDERS, "title": "Orders", "database_id": uid(0xDA), "properties": [
            {"name": "Name", "type": "title"},
            {"name": "Parts", "type": "relation", "data_source_id": PARTS}]},
        {"id": PARTS, "title": "Parts", "database_id": uid(0xDB), "properties": [
            {"name": "Name", "type": "title"}, {"name": "SKU", "type": "rich_text"}]}],
    "users": [],
    "pages": pages,
}
os.makedirs(out, exist_ok=True)
json.dump(seed, open(os.path.join(out, "seed.json"), "w"))
with open(os.path.join(out, "orders.csv"), "w") as f:
    f.write("page_id,Parts:relation[SKU]\n")
    for i in range(orders):
        named = [k for k in range(i, keys, orders)]
        f.write(f"{uid(0x1000 + i)},{';'.join(sku(k) for k in named)}\n")
rows_ambiguous = sum(1 for i in range(orders) if any(k in doubled for k in range(i, keys, orders)))
print(json.dumps({"keys": keys, "missing": len(gone), "ambiguous": len(doubled),
                  "rows_ambiguous": rows_ambiguous}))
