#!/usr/bin/env bash
# What TLS adds to MLLP ingest, in the same run: one `hearth run` (release build, SQLite journal in a temp dir)
# with two MLLP channels on one journal, plaintext and TLS (a test CA made here with openssl, ECDSA P-256), and
# `hearth send` load generators on persistent connections (8 concurrent senders, the corpus samples, unique
# control ids), alternating plaintext and TLS rounds so that drift on a shared machine hits both alike.
# Usage: [HEARTH_BIN=...] scripts/bench-ingest-tls.sh [REPEAT=40] [ROUNDS=3]
#
# BENCH_COUNT=instructions counts instructions instead (valgrind's callgrind), so that a busy machine cannot blur
# the figure: the same engine is run twice under callgrind, once receiving REPEAT x the corpus over plaintext
# MLLP and once over TLS (8 persistent connections each, the same messages), and every message is processed
# before it stops. It prints instructions per message for the whole engine and for ingest alone (the whole
# minus the processing stage's conversion and routing, `Job::run`, the same work in both runs), and TLS's share
# of each. ROUNDS is not used then; REPEAT=3 is plenty.
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
PID=""
trap '[ -z "$PID" ] || kill "$PID" 2>/dev/null || true; rm -rf "$DIR"' EXIT

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
if [ "${BENCH_COUNT:-}" = instructions ]; then
  command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 2; }
# Engine CPU time (utime + stime, in clock ticks).
cpu() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# run MODE URL [send options...]: one engine under callgrind, one load, wait for processing, stop; prints the
# instruction total of the whole process and of the processing stage (inclusive).
run() {
  local mode="$1" url="$2"; shift 2
  rm -f "$DIR/hearth.db"*
  cat > "$DIR/hearth.toml" <<TOML
[journal]
type = "sqlite"
path = "$DIR/hearth.db"
[http]
listen = "127.0.0.1:18090"
[routing]
default_route = false
[channels.plain]
type = "mllp"
listen = "127.0.0.1:12590"
[channels.tls]
type = "mllp"
listen = "127.0.0.1:12591"
tls = { cert_file = "$DIR/server.pem", key_file = "$DIR/server.key" }
TOML
  HEARTH_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$DIR/cg.$mode" \
    "$BIN" run --config "$DIR/hearth.toml" 2>"$DIR/valgrind.$mode.log" & PID=$!
  for _ in $(seq 1 600); do (exec 3<>/dev/tcp/127.0.0.1/18090) 2>/dev/null && break; sleep 0.2; done
  "$BIN" send "$url" "$@" --concurrency 8 --repeat "$REPEAT" --unique-ids "$SAMPLES"/*.hl7 | tail -n 1 >&2
  # Processing runs behind the ACKs: wait until the engine has been idle for 3 s.
  local before after
  before=$(cpu "$PID")
  while sleep 3; after=$(cpu "$PID"); [ $((after - before)) -gt 30 ]; do before=$after; done
  kill -TERM "$PID"; wait "$PID" || true; PID=""
  local total process
  total=$(awk '/^totals:|^summary:/ {print $2; exit}' "$DIR/cg.$mode")
  [ -z "${BENCH_KEEP:-}" ] || cp "$DIR/cg.$mode" "$BENCH_KEEP.$mode"
  process=$(callgrind_annotate --inclusive=yes --threshold=100 "$DIR/cg.$mode" 2>/dev/null \
    | grep -E 'hearth_engine::process::job::Job::run' \
    | head -n 1 | awk '{gsub(",", "", $1); print $1}' || true)
  echo "$total ${process:-0}"
}

N=$(( $(ls "$SAMPLES"/*.hl7 | wc -l) * REPEAT ))
echo "== machine: $(nproc) cores, $(grep 'model name' /proc/cpuinfo | head -1 | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $N messages per run (${REPEAT} x the corpus), 8 connections"
read -r plain_total plain_process < <(run plain mllp://127.0.0.1:12590)
read -r tls_total tls_process < <(run tls mllps://127.0.0.1:12591 --ca "$DIR/ca.pem")
awk -v n="$N" -v pt="$plain_total" -v pp="$plain_process" -v tt="$tls_total" -v tp="$tls_process" 'BEGIN {
  printf "whole engine, instructions per message: plaintext %.0f, TLS %.0f (TLS adds %.1f %%)\n", pt/n, tt/n, 100*(tt-pt)/pt
  if (pp > 0 && tp > 0) {
    pi = pt - pp; ti = tt - tp
    printf "processing stage (inclusive): plaintext %.0f, TLS %.0f per message\n", pp/n, tp/n
    printf "ingest alone (whole minus processing): plaintext %.0f, TLS %.0f (TLS adds %.1f %%)\n", pi/n, ti/n, 100*(ti-pi)/pi
  } else {
    print "processing stage not found in the profile: ingest-alone figures not computed"
  }
}'
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
  exit 0
fi

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
