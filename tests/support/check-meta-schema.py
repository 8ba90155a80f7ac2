#!/usr/bin/python3
"""Checks meta.json files against docs/meta.schema.json.

usage: check-meta-schema.py SCHEMA FILE...
       check-meta-schema.py SCHEMA --samples DIR --producer TOOL=BINARY...

The second form is the store.meta-schema test: every *.json in DIR (copied there by the
integration and e2e tests from the dumps they took) must validate, and each producer TOOL must
have at least one sample whose "tool" is TOOL and that is newer than BINARY, so a producer whose
test did not run since it was rebuilt fails the check instead of passing on an old file.
"""
import argparse
import glob
import json
import os
import sys

import jsonschema


def validate(validator, path):
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        return None, [f"{path}: not readable JSON: {e}"]
    errors = [f"{path}: {'/'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message}"
              for e in validator.iter_errors(doc)]
    return doc, errors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("schema")
    ap.add_argument("files", nargs="*")
    ap.add_argument("--samples")
    ap.add_argument("--producer", action="append", default=[])
    args = ap.parse_args()
    with open(args.schema, encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)

    files = list(args.files)
    if args.samples:
        files += sorted(glob.glob(os.path.join(args.samples, "*.json")))
    if not files:
        print("check-meta-schema: no meta.json to check", file=sys.stderr)
        return 1
    problems = []
    fresh = {}
    for path in files:
        doc, errors = validate(validator, path)
        problems += errors
        if doc is not None and not errors:
            fresh.setdefault(doc["tool"], []).append(os.path.getmtime(path))
            print(f"ok {path} ({doc['tool']})")
    for spec in args.producer:
        tool, _, binary = spec.partition("=")
        built = os.path.getmtime(binary)
        if not any(t >= built for t in fresh.get(tool, [])):
            problems.append(f"no valid meta.json sample from {tool} newer than {binary} in "
                            f"{args.samples}: run its integration/e2e test first")
    for p in problems:
        print(f"FAIL: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
