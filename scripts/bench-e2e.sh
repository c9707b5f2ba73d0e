#!/usr/bin/env bash
# End-to-end benchmark (issue 4): MLLP → journal → map → route → AMQP with publisher confirms, RabbitMQ on this
# machine. Measures, in the same run:
#   1. RabbitMQ's own ceiling here: a raw lapin publisher with confirms (2 KB persistent messages, window 256);
#   2. Hearth end to end: N ADT messages sent as fast as 8 senders go; the clock stops when the outbox is empty
#      (every delivery confirmed by the broker). Each message becomes several deliveries (one per resource);
#   3. ACK latency while the whole pipeline runs at a paced 1,000 messages/s.
# Usage: scripts/bench-e2e.sh [MESSAGES=20000] [resources|bundle]
#   resources (default): the built-in default route, one delivery per resource (~11 per message);
#   bundle: a route with payload = "bundle" instead, one delivery per message (compare with the ceiling 1:1).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-20000}"
MODE="${2:-resources}"
# BENCH_BIN=PATH: benchmark that hearth binary instead (e.g. an older build, for an A/B run on the same machine state).
[ -n "${BENCH_BIN:-}" ] || cargo build --release -q -p hearth
cargo build --release -q -p hearth-amqp --example ceiling
BIN="${BENCH_BIN:-${CARGO_TARGET_DIR:-target}/release/hearth}"
CEILING="${CARGO_TARGET_DIR:-target}/release/examples/ceiling"
DIR="$(mktemp -d)"
SUFFIX="$$-$(date +%s)"
trap 'kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rabbitmqctl delete_queue "bench-q-$SUFFIX" >/dev/null 2>&1 || true; rm -rf "$DIR"' EXIT

# One synthetic ADT^A01 (9 resources) per message; `send --unique-ids` makes each control id unique.
MSG="$DIR/adt.hl7"
printf 'MSH|^~\\&|BENCHEHR|NORTH|HEARTH|HOSP|20260101120000||ADT^A01^ADT_A01|BENCH1|P|2.5.1\rEVN|A01|20260101120000\rPID|1||MRN100^^^NORTH^MR||DOE^JANE^Q||19800214|F|||1 MAIN ST^^SPRINGFIELD^IL^62701||^PRN^PH^^^217^5550100\rPV1|1|I|WARD1^101^A||||1234^SMITH^ANNA^^^DR\rAL1|1|DA|70618^Penicillin^RXNORM|SV|Hives\rDG1|1||I10^Essential hypertension^I10|||A\r' > "$MSG"

cat > "$DIR/hearth.toml" <<TOML
[journal]
type = "sqlite"
path = "$DIR/hearth.db"
[http]
listen = "127.0.0.1:18081"
[channels.adt]
type = "mllp"
listen = "127.0.0.1:12576"
[destinations.fhir]
type = "amqp"
exchange = "bench-x-$SUFFIX"
max_in_flight = ${BENCH_IN_FLIGHT:-256}
[[destinations.fhir.queues]]
name = "bench-q-$SUFFIX"
bind = ["#"]
# Keep the broker's memory flat during the run: the queue keeps the newest 50,000 (publishes are still confirmed).
max_length = 50000
TOML
if [ "$MODE" = bundle ]; then
  cat >> "$DIR/hearth.toml" <<TOML
[routing]
default_route = false
[routes.all]
payload = "bundle"
destinations = ["fhir"]
routing_key = "{channel}.{event}.Bundle"
TOML
fi

echo "== revision $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)'), binary $BIN"
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(grep MemTotal /proc/meminfo | awk '{print $2/1024/1024 " GiB"}'), $(uname -r), RabbitMQ $(rabbitmqctl version 2>/dev/null || echo '?')"
echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== 1. RabbitMQ ceiling: raw publisher with confirms, 2 KB persistent, window 256"
"$CEILING" --messages 50000 --window 256 --size 2048

HEARTH_LOG=warn "$BIN" run --config "$DIR/hearth.toml" & PID=$!
for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/18081) 2>/dev/null && break; sleep 0.1; done
sleep 2
echo "== engine idle RSS: $(grep VmRSS /proc/$PID/status | awk '{print $2/1024 " MiB"}')"

pending() { "$BIN" messages --config "$DIR/hearth.toml" outbox | awk '{for(i=1;i<=NF;i++) if ($i=="pending") print $(i+1)}' | head -n1; }
backlog() { "$BIN" messages --config "$DIR/hearth.toml" list --status received --limit 1 | wc -l; }

echo "== 2. end to end ($MODE): $N messages, 8 senders, as fast as they go; done when the outbox is empty"
# BENCH_PERF=FILE: also profile the engine for the first 10 s of this step (perf record, call graphs).
if [ -n "${BENCH_PERF:-}" ]; then perf record -q -F 499 -g -p "$PID" -o "$BENCH_PERF" -- sleep 10 & fi
start=$(date +%s.%N)
"$BIN" send mllp://127.0.0.1:12576 --concurrency 8 --repeat "$N" --unique-ids "$MSG"
acked=$(date +%s.%N)
while :; do
  p=$(pending); b=$(backlog)
  if [ "${p:-0}" = 0 ] && [ "$b" = 0 ]; then break; fi
  sleep 0.2
done
done_at=$(date +%s.%N)
sent=$("$BIN" messages --config "$DIR/hearth.toml" outbox | awk '{for(i=1;i<=NF;i++) if ($i=="sent") print $(i+1)}' | head -n1)
awk -v s="$start" -v a="$acked" -v d="$done_at" -v n="$N" -v sent="$sent" 'BEGIN {
  printf "   ingest (all ACKed):      %.0f messages/s\n", n / (a - s);
  printf "   end to end (all sent):   %.0f messages/s, %.0f deliveries/s (%d deliveries, %.1f s)\n", n / (d - s), sent / (d - s), sent, d - s }'

echo "== 3. ACK latency with the whole pipeline running, paced 1,000 messages/s (8 senders, 20 s)"
"$BIN" send mllp://127.0.0.1:12576 --concurrency 8 --repeat 20000 --rate 1000 --unique-ids "$MSG"
last_ack=$(date +%s.%N)
while :; do
  p=$(pending); b=$(backlog)
  if [ "${p:-0}" = 0 ] && [ "$b" = 0 ]; then break; fi
  sleep 0.05
done
awk -v a="$last_ack" -v d="$(date +%s.%N)" 'BEGIN { printf "   outbox drained %.2f s after the last ACK (polled every 0.05 s through `hearth messages`)\n", d - a }'
echo "== engine peak RSS: $(grep VmHWM /proc/$PID/status | awk '{print $2/1024 " MiB"}')"
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
