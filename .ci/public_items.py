#!/usr/bin/env python3
"""Counts the public API of a crate from rustdoc's JSON output: every item an outside crate
can name, reached from the crate root through public modules and re-exports, with the
methods of inherent impls. Trait-impl methods, struct fields and enum variants are not
counted; re-exports (`use`) are counted, and listed apart.

Usage (rustdoc's JSON needs a nightly toolchain; not part of CI):

    cargo +nightly rustdoc -p cctv-core --lib -- -Z unstable-options --output-format json
    python3 .ci/public_items.py target/doc/cctv_core.json
"""
import collections
import json
import sys


def main(path):
    doc = json.load(open(path, encoding="utf-8"))
    index = doc["index"]
    kinds = collections.Counter()
    seen = set()

    def kind_of(item):
        inner = item["inner"]
        return next(iter(inner)) if isinstance(inner, dict) else inner

    def visit(item_id):
        item_id = str(item_id)
        if item_id in seen or item_id not in index:
            return
        seen.add(item_id)
        item = index[item_id]
        if item.get("crate_id", 0) != 0:
            return
        kind = kind_of(item)
        inner = item["inner"][kind] if isinstance(item["inner"], dict) else {}
        if kind == "impl":
            if inner.get("trait") is None:
                for method in inner.get("items", []):
                    found = index.get(str(method))
                    if found and found.get("visibility") == "public":
                        kinds["method"] += 1
                        seen.add(str(method))
            return
        if item.get("visibility") != "public" or kind in ("variant", "struct_field"):
            return
        kinds[kind] += 1
        if kind == "module":
            for child in inner.get("items", []):
                visit(child)
        elif kind == "use" and inner.get("id") is not None:
            visit(inner["id"])
        for impl in inner.get("impls", []) if isinstance(inner, dict) else []:
            visit(impl)

    visit(doc["root"])
    total = sum(kinds.values())
    print(f"{total} public items ({total - kinds['use']} without re-exports): "
          + ", ".join(f"{k} {n}" for k, n in kinds.most_common()))


if __name__ == "__main__":
    main(sys.argv[1])
