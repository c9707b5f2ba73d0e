#!/usr/bin/env bash
# `hearth replay` against `hearth convert` over the same messages (issue 19's limit: replaying N journaled
# messages takes no longer than converting them). Release build, SQLite journal, RabbitMQ on this machine.
#   1. N synthetic ADT messages (A01/A03/A08, 500 patients) are journaled by a running engine over MLLP
#      (8 senders) and converted and routed (one route, the Bundle to one exchange); the engine stops when all
#      are processed.
#   2. `hearth replay` runs the journal through a candidate configuration with one more route (inpatient
#      discharges to a second exchange), read-only, nothing delivered.
#   3. `hearth convert` converts the same N messages from one file (NDJSON to /dev/null).
# Prints both wall times (best of ROUNDS), messages/s, the git revision, the CPU and the load before and after.
# BENCH_PERF=FILE also records a perf profile of one replay into FILE.
# Usage: [HEARTH_BIN=...] [BENCH_PERF=FILE] scripts/bench-replay.sh [N=100000] [ROUNDS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-100000}"
ROUNDS="${2:-3}"
if [ -z "${HEARTH_BIN:-}" ]; then
  cargo build --release -q -p hearth
fi
BIN="${HEARTH_BIN:-${CARGO_TARGET_DIR:-target}/release/hearth}"
DIR="$(mktemp -d)"
SUFFIX="$$-$(date +%s)"
PID=""
trap '[ -z "$PID" ] || kill "$PID" 2>/dev/null || true; for x in fhir followup; do rabbitmqctl delete_exchange "bench-replay-$x-$SUFFIX" >/dev/null 2>&1 || true; rabbitmqctl delete_queue "bench-replay-$x-$SUFFIX" >/dev/null 2>&1 || true; done; rm -rf "$DIR"' EXIT

# 100 distinct messages (the engine sends them N/100 times with unique control ids); the same N in one file for
# `hearth convert`.
python3 - "$DIR" "$N" <<'PY'
import sys
d, n = sys.argv[1], int(sys.argv[2])
def msg(i):
    event, structure = [("A01", "ADT_A01"), ("A03", "ADT_A03"), ("A08", "ADT_A01"), ("A03", "ADT_A03")][i % 4]
    cls = "I" if i % 3 == 0 else "E"
    p = i % 500
    return (f"MSH|^~\\&|BENCHEHR|NORTH|HEARTH|HOSP|20260101120000||ADT^{event}^{structure}|RPL{i}|P|2.5.1\r"
            f"EVN|{event}|20260101120000\r"
            f"PID|1||MRN{p}^^^NORTH^MR||DOE{p}^JANE||19800214|F|||1 MAIN ST^^SPRINGFIELD^IL^62701\r"
            f"PV1|1|{cls}|WARD1^101^A||||1234^SMITH^ANNA^^^DR|||||||||||VN{i}^^^NORTH^VN\r")
open(f"{d}/hundred.hl7", "w", newline="").write("".join(msg(i) for i in range(100)))
with open(f"{d}/all.hl7", "w", newline="") as f:
    for i in range(n):
        f.write(msg(i))
PY

cat > "$DIR/running.toml" <<TOML
[journal]
type = "sqlite"
path = "$DIR/hearth.db"
[http]
listen = "127.0.0.1:18095"
[channels.adt]
type = "mllp"
listen = "127.0.0.1:12595"
[routing]
default_route = false
[destinations.fhir]
type = "amqp"
exchange = "bench-replay-fhir-$SUFFIX"
[[destinations.fhir.queues]]
name = "bench-replay-fhir-$SUFFIX"
bind = ["#"]
[destinations.followup]
type = "amqp"
exchange = "bench-replay-followup-$SUFFIX"
[[destinations.followup.queues]]
name = "bench-replay-followup-$SUFFIX"
bind = ["#"]
[routes.everything]
payload = "bundle"
destinations = ["fhir"]
TOML
{ cat "$DIR/running.toml"; printf '%s\n' '[routes.inpatient_discharges]' 'events = ["ADT^A03"]' \
  "condition = \"Bundle.entry.resource.ofType(Encounter).class.code = 'IMP'\"" 'payload = "bundle"' \
  'destinations = ["followup"]'; } > "$DIR/candidate.toml"

echo "== machine: $(nproc) cores, $(grep 'model name' /proc/cpuinfo | head -1 | cut -d: -f2 | xargs), $(git rev-parse --short HEAD 2>/dev/null || echo '?'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== journaling $N messages through the engine"
HEARTH_LOG=warn "$BIN" run --config "$DIR/running.toml" & PID=$!
for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/18095) 2>/dev/null && break; sleep 0.1; done
"$BIN" send mllp://127.0.0.1:12595 --concurrency 8 --repeat $((N / 100)) --unique-ids "$DIR/hundred.hl7" | tail -n 1
# Processing (and publishing) runs behind the ACKs: wait until the engine has been idle for 3 s.
while :; do
  a=$(awk '{print $14 + $15}' "/proc/$PID/stat"); sleep 3; b=$(awk '{print $14 + $15}' "/proc/$PID/stat")
  [ $((b - a)) -gt 15 ] || break
done
kill -TERM "$PID"; wait "$PID" || true; PID=""

best() { sort -n | head -n 1; }
replay_times=(); convert_times=()
for r in $(seq 1 "$ROUNDS"); do
  s=$(date +%s.%N); "$BIN" replay --config "$DIR/candidate.toml" --from "$DIR/hearth.db" > "$DIR/replay.out" || true
  e=$(date +%s.%N); replay_times+=("$(echo "$e - $s" | bc)")
  s=$(date +%s.%N); "$BIN" convert --from hl7v2 "$DIR/all.hl7" > /dev/null
  e=$(date +%s.%N); convert_times+=("$(echo "$e - $s" | bc)")
  echo "round $r: replay ${replay_times[-1]} s, convert ${convert_times[-1]} s"
done
head -n 4 "$DIR/replay.out"
if [ -n "${BENCH_PERF:-}" ]; then
  perf record -F 499 -g -o "$BENCH_PERF" "$BIN" replay --config "$DIR/candidate.toml" --from "$DIR/hearth.db" > /dev/null 2>&1 || true
  echo "== perf profile of one replay in $BENCH_PERF"
fi
rb=$(printf '%s\n' "${replay_times[@]}" | best); cb=$(printf '%s\n' "${convert_times[@]}" | best)
awk -v n="$N" -v r="$rb" -v c="$cb" 'BEGIN { printf "best of rounds: replay %.2f s (%.0f msg/s), convert %.2f s (%.0f msg/s), replay/convert %.2f\n", r, n/r, c, n/c, r/c }'
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
