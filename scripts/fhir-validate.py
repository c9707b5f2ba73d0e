#!/usr/bin/env python3
"""Strict FHIR R4 validation of Bundles, with Google's FHIR protos (PyPI `google-fhir-r4`).

    fhir-validate.py PATH...

Each PATH is a file or a directory (searched recursively for *.json and *.ndjson). A file holds one Bundle, a
JSON array of them, NDJSON (one a line), or a golden file of Hearth's tests: `{"bundle": ..., "report": ...}`
(or an array of those); anything else in a golden (an expected error) is skipped. Every Bundle is parsed into
the R4 protos with validation on, which refuses what laxer readers let through: a code outside the value set of
a required binding (MedicationRequest.status `revoked`), an instant or dateTime with nanoseconds or without an
offset, a missing required element, a malformed id or reference.

Prints one line per invalid Bundle (`FILE#N: reason`) and a total; exits 1 when any Bundle is invalid, 2 when
the validator is not installed (run scripts/fhir-validator/install.sh) or a file cannot be read.
"""

import json
import os
import sys

try:
    from google.fhir.r4 import json_format
    from google.fhir.r4.proto.core.resources import bundle_and_contained_resource_pb2
except ImportError as e:  # pragma: no cover - the install script is the fix
    print(f"fhir-validate: google-fhir-r4 is not installed ({e}); run scripts/fhir-validator/install.sh",
          file=sys.stderr)
    sys.exit(2)


def files(paths):
    for p in paths:
        if os.path.isdir(p):
            for root, _, names in os.walk(p):
                for n in sorted(names):
                    if n.endswith((".json", ".ndjson")):
                        yield os.path.join(root, n)
        else:
            yield p


def bundles(value):
    """The Bundles in a parsed JSON value (see the module docs)."""
    if isinstance(value, list):
        for v in value:
            yield from bundles(v)
    elif isinstance(value, dict):
        if value.get("resourceType") == "Bundle":
            yield value
        elif "bundle" in value:
            yield from bundles(value["bundle"])
        elif "bundles" in value:
            yield from bundles(value["bundles"])


def documents(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        yield json.loads(text)
    except json.JSONDecodeError:
        for line in text.splitlines():
            if line.strip():
                yield json.loads(line)


def validate(bundle):
    """None when valid, else the validator's reason (one line)."""
    try:
        json_format.json_fhir_string_to_proto(
            json.dumps(bundle), bundle_and_contained_resource_pb2.Bundle, validate=True, default_timezone="Z")
        return None
    except Exception as e:  # the library raises several types; every one is a finding
        return " ".join(f"{type(e).__name__}: {e}".split())


def main(argv):
    if not argv:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    total = invalid = 0
    for path in files(argv):
        try:
            n = 0
            for doc in documents(path):
                for b in bundles(doc):
                    n += 1
                    total += 1
                    reason = validate(b)
                    if reason is not None:
                        invalid += 1
                        print(f"{path}#{n}: {reason}")
        except (OSError, json.JSONDecodeError) as e:
            print(f"fhir-validate: {path}: {e}", file=sys.stderr)
            return 2
    print(f"fhir-validate: {total} bundles, {total - invalid} valid, {invalid} invalid")
    return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
