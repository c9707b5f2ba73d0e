#!/usr/bin/env bash
# Installs the strict FHIR R4 validator (Google's FHIR protos, from PyPI, pinned by constraints.txt) into a
# virtualenv, by default target/fhir-validator (gitignored). Prints the virtualenv's python. Idempotent.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${1:-$here/../../target/fhir-validator}"
if ! "$venv/bin/python" -c 'import google.fhir.r4.json_format' >/dev/null 2>&1; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -c "$here/constraints.txt" google-fhir-r4 >&2
fi
"$venv/bin/python" -c 'import google.fhir.r4.json_format' >&2
cd "$venv" && echo "$(pwd)/bin/python"
