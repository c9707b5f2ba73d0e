#!/usr/bin/env bash
# What TLS adds to MLLP ingest, in the same run: one `hearth run` (release build, SQLite journal in a temp dir)
# with two MLLP channels on one journal, plaintext and TLS (a test CA made here with openssl, ECDSA P-256), and
# `hearth send` load generators on persistent connections (8 concurrent senders, the corpus samples, unique
# control ids), alternating plaintext and TLS rounds so that drift on a shared machine hits both alike.
# Usage: [HEARTH_BIN=...] scripts/bench-ingest-tls.sh [REPEAT=40] [ROUNDS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
CORPUS="${HEARTH_CORPUS:-$(cd .. && pwd)/shared/corpus}"
SAMPLES="$CORPUS/hl7v2/ms-fhir-converter/samples"
REPEAT="${1:-40}"
ROUNDS="${2:-3}"
if [ -z "${HEARTH_BIN:-}" ]; then
  cargo build --release -q -p hearth
fi
BIN="${HEARTH_BIN:-${CARGO_TARGET_DIR:-target}/release/hearth}"
DIR="$(mktemp -d)"
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$DIR"' EXIT

# A throwaway CA and a server certificate for 127.0.0.1 (the recipe of docs/security.md).
(
  cd "$DIR"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key 2>/dev/null
  openssl req -x509 -new -key ca.key -sha256 -days 60 -subj "/CN=bench CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.pem
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out server.key 2>/dev/null
  openssl req -new -key server.key -subj "/CN=localhost" -out server.csr
  printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "extendedKeyUsage=serverAuth" \
    "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" >server.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -set_serial "0x$(openssl rand -hex 16)" \
    -days 30 -sha256 -extfile server.ext -out server.pem 2>/dev/null
)
cat > "$DIR/hearth.toml" <<TOML
[journal]
type = "sqlite"
path = "$DIR/hearth.db"
[http]
listen = "127.0.0.1:18080"
[routing]
default_route = false
[channels.plain]
type = "mllp"
listen = "127.0.0.1:12575"
[channels.tls]
type = "mllp"
listen = "127.0.0.1:12576"
tls = { cert_file = "$DIR/server.pem", key_file = "$DIR/server.key" }
TOML
HEARTH_LOG=warn "$BIN" run --config "$DIR/hearth.toml" & PID=$!
for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/18080) 2>/dev/null && break; sleep 0.1; done

echo "== machine: $(nproc) cores, $(grep MemTotal /proc/meminfo | awk '{print $2/1024/1024 " GiB"}'), $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== warm-up"
"$BIN" send mllp://127.0.0.1:12575 --concurrency 8 --repeat 2 --unique-ids "$SAMPLES"/*.hl7 >/dev/null
"$BIN" send mllps://127.0.0.1:12576 --ca "$DIR/ca.pem" --concurrency 8 --repeat 2 --unique-ids "$SAMPLES"/*.hl7 >/dev/null
for round in $(seq 1 "$ROUNDS"); do
  echo "== round $round: plaintext, 8 senders, $REPEAT x 139 messages"
  "$BIN" send mllp://127.0.0.1:12575 --concurrency 8 --repeat "$REPEAT" --unique-ids "$SAMPLES"/*.hl7 | tail -n 3
  echo "== round $round: TLS, 8 senders, $REPEAT x 139 messages"
  "$BIN" send mllps://127.0.0.1:12576 --ca "$DIR/ca.pem" --concurrency 8 --repeat "$REPEAT" --unique-ids \
    "$SAMPLES"/*.hl7 | tail -n 3
done
echo "== engine peak RSS: $(grep VmHWM /proc/$PID/status | awk '{print $2/1024 " MiB"}')"
