#!/usr/bin/env bash
# FHIR destination throughput (issue 15): deliveries/s from hearth-fhir-client to the test FHIR server
# (sekmet-fhir, scripts/fhir-server.sh), in bundle and resources modes, and in the same run the server's own
# single-client rate for the same requests (scripts/bench-fhir/ceiling.py) as the ceiling. Each delivery is a
# distinct ADT^A01 transaction Bundle (19 entries: a new Patient, Encounter, practitioners, ...), so every run
# creates; every step gets its own set. Bundle mode also runs through the destination itself
# (crates/hearth-sinks/examples/fhir_sink_throughput.rs: a SQLite journal's outbox drained by the sink).
# Usage: [ROUNDS=4] [PROFILE=release|dev] scripts/bench-fhir.sh [DELIVERIES=200]
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-200}"
PROFILE="${PROFILE:-release}"
cargo build --profile "$PROFILE" -q -p hearth-fhir-client --example fhir_throughput
cargo build --profile "$PROFILE" -q -p hearth-sinks --example fhir_sink_throughput
OUT="${CARGO_TARGET_DIR:-target}/$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")/examples"
BIN="$OUT/fhir_throughput"
SINK="$OUT/fhir_sink_throughput"
exports="$(scripts/fhir-server.sh start)"
eval "$exports"
DIR="$(mktemp -d)"
trap 'scripts/fhir-server.sh stop "$HEARTH_FHIR_SERVER_DIR"; rm -rf "$DIR"' EXIT
PY="${HEARTH_FHIR_VENV:-.cache/fhir-server/venv}/bin/python"

echo "== build profile: $PROFILE; machine: $(nproc) cores, $(grep MemTotal /proc/meminfo | awk '{print $2/1024/1024 " GiB"}'), $(uname -r); server: sekmet-fhir 0.1.1, strict validation, SQLite"
# A fresh set of distinct Bundles for each step. The server slows down as its store grows, so the ceiling and the
# client take turns in ROUNDS rounds of N/ROUNDS deliveries each, and the totals are compared.
ROUNDS="${ROUNDS:-4}"
set_of() { local f; f="$(mktemp "$DIR/set.XXXXXX")"; "$BIN" generate "$((N / ROUNDS))" "$f"; echo "$f"; }
for mode in bundle resources; do
  for _ in $(seq 1 "$ROUNDS"); do
    "$PY" scripts/bench-fhir/ceiling.py "$HEARTH_TEST_FHIR_URL" "$(set_of)" "$mode"
    for c in 1 4; do
      "$BIN" send "$HEARTH_TEST_FHIR_URL" "$(set_of)" "$mode" "$c"
      if [ "$mode" = bundle ]; then "$SINK" "$HEARTH_TEST_FHIR_URL" "$(set_of)" "$c"; fi
    done
  done
done | tee "$DIR/runs.txt"
echo "== totals (deliveries / seconds summed over the rounds)"
awk '{ key = $1 " " $2 " " $3; n[key] += $4; s[key] += $7 }
     END { for (k in n) printf "%-52s %5d deliveries in %6.1f s = %5.2f deliveries/s\n", k, n[k], s[k], n[k] / s[k] }' \
  "$DIR/runs.txt" | sort
