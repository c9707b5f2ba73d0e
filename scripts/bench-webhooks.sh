#!/usr/bin/env bash
# Webhook ingest benchmark (issue 6): Twilio voice status callbacks, each correctly signed and with its own CallSid,
# posted over HTTP/1.1 keep-alive connections to a release `hearth run`; every 2xx means the event is in the
# journal (group commit, fsynced). Reports requests/s and latency percentiles (crates/hearth/examples/webhook_load.rs).
# The processing stage runs beside it (parse, patient lookup, map, route); the default route is off so that no
# broker is needed and the figure is ingest into the journal.
# Usage: scripts/bench-webhooks.sh [REQUESTS=50000] [CONNECTIONS=64]
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-50000}"
C="${2:-64}"
cargo build --release -q -p hearth
cargo build --release -q -p hearth --example webhook_load
BIN="${CARGO_TARGET_DIR:-target}/release/hearth"
LOAD="${CARGO_TARGET_DIR:-target}/release/examples/webhook_load"
DIR="$(mktemp -d)"
PORT=18093
trap 'kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -rf "$DIR"' EXIT
printf 'bench-token-not-secret\n' > "$DIR/token"
cat > "$DIR/hearth.toml" <<TOML
[journal]
type = "sqlite"
path = "$DIR/hearth.db"
[http]
listen = "127.0.0.1:$PORT"
[channels.voice]
type = "webhook"
profile = "twilio-voice"
auth = "twilio-signature"
secret_file = "$DIR/token"
public_base_url = "https://hearth.example.org"
[routing]
default_route = false
TOML
HEARTH_LOG=warn "$BIN" run --config "$DIR/hearth.toml" &
PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; $N requests, $C connections"
# Warm-up (page cache, connections), then the measured run.
"$LOAD" --addr "127.0.0.1:$PORT" --channel voice --token-file "$DIR/token" --base-url https://hearth.example.org \
  --connections "$C" --requests 2000 --prefix CAWARM >/dev/null
"$LOAD" --addr "127.0.0.1:$PORT" --channel voice --token-file "$DIR/token" --base-url https://hearth.example.org \
  --connections "$C" --requests "$N" --prefix CABENCH
