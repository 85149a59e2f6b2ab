#!/usr/bin/env python3
"""Extract the `patch-page` request-body schema, with every component it references, from
Notion's OpenAPI description into one self-contained JSON Schema document.

    python3 scripts/extract-patch-schema.py ../shared/reference/notion-openapi.json \
        > crates/notion/src/patch-page.schema.json
"""
import json
import sys

doc = json.load(open(sys.argv[1]))
body = doc["paths"]["/v1/pages/{page_id}"]["patch"]["requestBody"]["content"]["application/json"]["schema"]
components = doc["components"]["schemas"]
needed = set()


def walk(node):
    if isinstance(node, dict):
        ref = node.get("$ref", "")
        if ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[-1]
            if name not in needed:
                needed.add(name)
                walk(components[name])
        for value in node.values():
            walk(value)
    elif isinstance(node, list):
        for value in node:
            walk(value)


walk(body)
out = dict(body)
out["$schema"] = "https://json-schema.org/draft/2020-12/schema"
out["components"] = {"schemas": {name: components[name] for name in sorted(needed)}}
json.dump(out, sys.stdout, indent=1, ensure_ascii=False)
