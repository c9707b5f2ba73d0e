#!/usr/bin/env bash
# FHIR destination throughput (issue 15): deliveries/s from hearth-fhir-client to the test FHIR server
# (sekmet-fhir, scripts/fhir-server.sh), in bundle and resources modes, and in the same run the server's own
# single-client rate for the same requests (scripts/bench-fhir/ceiling.py) as the ceiling. Each delivery is a
# distinct ADT^A01 transaction Bundle (19 entries: a new Patient, Encounter, practitioners, ...), so every run
# creates; every step gets its own set.
# Usage: scripts/bench-fhir.sh [DELIVERIES=200]
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-200}"
cargo build --release -q -p hearth-fhir-client --example fhir_throughput
BIN="${CARGO_TARGET_DIR:-target}/release/examples/fhir_throughput"
exports="$(scripts/fhir-server.sh start)"
eval "$exports"
DIR="$(mktemp -d)"
trap 'scripts/fhir-server.sh stop "$HEARTH_FHIR_SERVER_DIR"; rm -rf "$DIR"' EXIT
PY="${HEARTH_FHIR_VENV:-.cache/fhir-server/venv}/bin/python"

echo "== machine: $(nproc) cores, $(grep MemTotal /proc/meminfo | awk '{print $2/1024/1024 " GiB"}'), $(uname -r); server: sekmet-fhir 0.1.1, strict validation, SQLite"
# A fresh set of distinct Bundles for each step (the server's store grows during the run: the ceiling is
# measured before and after the client's runs to show the drift).
set_of() { local f; f="$(mktemp "$DIR/set.XXXXXX")"; "$BIN" generate "$N" "$f"; echo "$f"; }
for mode in bundle resources; do
  "$PY" scripts/bench-fhir/ceiling.py "$HEARTH_TEST_FHIR_URL" "$(set_of)" "$mode"
  for c in 1 4; do
    "$BIN" send "$HEARTH_TEST_FHIR_URL" "$(set_of)" "$mode" "$c"
  done
  "$PY" scripts/bench-fhir/ceiling.py "$HEARTH_TEST_FHIR_URL" "$(set_of)" "$mode"
done
