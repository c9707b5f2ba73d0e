#!/usr/bin/env bash
# Ingest benchmark: `hearth send` load generators against `hearth run` (release build, SQLite journal in a temp
# dir), over the corpus samples with unique control ids. Prints throughput, ACK latency and the engine's peak RSS.
# Usage: [HEARTH_BIN=...] scripts/bench-ingest.sh [REPEAT=200]
set -euo pipefail
cd "$(dirname "$0")/.."
CORPUS="${HEARTH_CORPUS:-$(cd .. && pwd)/shared/corpus}"
SAMPLES="$CORPUS/hl7v2/ms-fhir-converter/samples"
REPEAT="${1:-200}"
# HEARTH_BIN=path/to/hearth compares another build (e.g. an older commit) in the same run.
if [ -z "${HEARTH_BIN:-}" ]; then
  cargo build --release -q -p hearth
fi
BIN="${HEARTH_BIN:-${CARGO_TARGET_DIR:-target}/release/hearth}"
DIR="$(mktemp -d)"
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$DIR"' EXIT
cat > "$DIR/hearth.toml" <<TOML
[journal]
type = "sqlite"
path = "$DIR/hearth.db"
[http]
listen = "127.0.0.1:18080"
[channels.bench]
type = "mllp"
listen = "127.0.0.1:12575"
TOML
HEARTH_LOG=warn "$BIN" run --config "$DIR/hearth.toml" & PID=$!
for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/18080) 2>/dev/null && break; sleep 0.1; done

echo "== machine: $(nproc) cores, $(grep MemTotal /proc/meminfo | awk '{print $2/1024/1024 " GiB"}'), $(uname -r)"
echo "== warm-up"
"$BIN" send mllp://127.0.0.1:12575 --concurrency 8 --repeat 5 --unique-ids "$SAMPLES"/*.hl7 >/dev/null
echo "== throughput: 8 concurrent senders, $REPEAT x 139 corpus messages, unique ids"
"$BIN" send mllp://127.0.0.1:12575 --concurrency 8 --repeat "$REPEAT" --unique-ids "$SAMPLES"/*.hl7
echo "== latency at a paced 1,000 messages/s (8 senders, 30 s)"
"$BIN" send mllp://127.0.0.1:12575 --concurrency 8 --repeat 216 --rate 1000 --unique-ids "$SAMPLES"/*.hl7
echo "== engine peak RSS: $(grep VmHWM /proc/$PID/status | awk '{print $2/1024 " MiB"}')"
echo "== journal: $(du -sh "$DIR" | cut -f1) in $DIR"
