#!/usr/bin/env bash
# Dashboard page load with a 1,000,000-message journal (issue 18): the time from navigation to the tables and the
# charts drawn, as the page itself records it (`data-load-ms` on <body>: performance.now() once the first poll of
# /api/v1/{channels,destinations,alerts,nodes} and the charts' /api/v1/stats?window=1h are drawn), in headless
# Chromium; plus each API call the page makes, timed with curl.
#
# The journal is filled with SQL straight into a freshly migrated SQLite file (seconds instead of the hour a
# million appends through the engine take): 1,000,000 processed messages over the last 14 days on two channels,
# each with its raw HL7 and one sent delivery, and 14 days of per-minute buckets (two channels, one destination,
# three ACK-latency buckets per channel-minute), which is what `[retention] stats_days = 14` keeps.
# Needs sqlite3, chromium, node (scripts/page-load.mjs reads the figure over the DevTools protocol), curl and RabbitMQ on 127.0.0.1:5672 (the destination connects; nothing is pending).
# Usage: scripts/bench-dashboard.sh [MESSAGES=1000000] [RUNS=5]    (HEARTH_BIN=path to use a given binary)
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-1000000}"
RUNS="${2:-5}"
if [ -z "${HEARTH_BIN:-}" ]; then
  cargo build --release -q -p hearth
  HEARTH_BIN="${CARGO_TARGET_DIR:-target}/release/hearth"
fi
DIR="$(mktemp -d)"
PORT=18094
MLLP1=18095
MLLP2=18096
TOKEN=bench-dashboard-token-not-secret
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$DIR"' EXIT
printf '%s\n' "$TOKEN" > "$DIR/token"
cat > "$DIR/hearth.toml" <<TOML
[journal]
type = "sqlite"
path = "$DIR/hearth.db"
[http]
listen = "127.0.0.1:$PORT"
[admin]
tokens = [{ name = "bench", role = "viewer", token_file = "$DIR/token" }]
[channels.adt]
type = "mllp"
listen = "127.0.0.1:$MLLP1"
[channels.lab]
type = "mllp"
listen = "127.0.0.1:$MLLP2"
[destinations.fhir]
type = "amqp"
endpoint = "amqp://guest:guest@127.0.0.1:5672/%2f"
TOML
"$HEARTH_BIN" migrate --config "$DIR/hearth.toml" >/dev/null
NOW_US=$(( $(date +%s) * 1000000 ))
NOW_MIN=$(( $(date +%s) / 60 * 60 ))
started=$(date +%s)
sqlite3 "$DIR/hearth.db" >/dev/null <<SQL
PRAGMA journal_mode = WAL;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $N)
INSERT INTO messages (id, channel, kind, received_at, status, dedup_key, message_code, trigger_event, structure,
                      control_id, sending_application, sending_facility, updated_at)
SELECT i, CASE WHEN i % 3 = 0 THEN 'lab' ELSE 'adt' END, 'hl7v2', $NOW_US - ($N - i) * 1200000, 'processed',
       'bench-' || i, 'ADT', 'A01', 'ADT_A01', 'M' || i, 'LAB', 'NORTH', $NOW_US - ($N - i) * 1200000 + 5000
FROM n;
INSERT INTO message_content (message_id, raw)
SELECT id, CAST('MSH|^~\&|LAB|NORTH|||20260101||ADT^A01|' || control_id || '|P|2.5.1' || char(13) ||
       'PID|1||P' || (id % 200000) || '^^^NORTH^MR||DOE^JANE||19700101|F' AS BLOB) FROM messages;
INSERT INTO deliveries (message_id, destination, route, routing_key, resource_type, content_id, body, status,
                        attempts, next_attempt_at, created_at, updated_at, sent_at)
SELECT id, 'fhir', 'default', channel || '.A01.Patient', 'Patient', 'cid-' || id, '{"resourceType":"Patient"}',
       'sent', 1, updated_at, updated_at, updated_at, updated_at FROM messages;
WITH RECURSIVE m(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM m WHERE k < 14 * 1440 - 1)
INSERT INTO stats_channel_minutes (channel, minute, received, processed, filtered, error, rejected)
SELECT c.name, $NOW_MIN - k * 60, 40 + k % 7, 39 + k % 7, 0, 1, k % 2 FROM m, (SELECT 'adt' AS name UNION ALL SELECT 'lab') c;
INSERT INTO stats_ack_latency_minutes (channel, minute, bucket, count)
SELECT channel, minute, b.bucket, b.n FROM stats_channel_minutes,
       (SELECT 40 AS bucket, 30 AS n UNION ALL SELECT 44, 9 UNION ALL SELECT 52, 1) b;
INSERT INTO stats_destination_minutes (destination, minute, sent, failed, dead, depth, oldest_pending_ms)
SELECT 'fhir', minute, sum(processed), 0, 0, 3, 120 FROM stats_channel_minutes GROUP BY minute;
UPDATE sqlite_sequence SET seq = $N WHERE name IN ('messages', 'deliveries');
INSERT INTO sqlite_sequence (name, seq) SELECT 'messages', $N WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'messages');
INSERT INTO sqlite_sequence (name, seq) SELECT 'deliveries', $N WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'deliveries');
COMMIT;
ANALYZE;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
echo "journal: $N messages, $(du -h "$DIR/hearth.db" | cut -f1), filled in $(( $(date +%s) - started )) s"
HEARTH_LOG=warn "$HEARTH_BIN" run --config "$DIR/hearth.toml" &
PID=$!
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); binary $HEARTH_BIN"
for path in channels destinations alerts nodes 'stats?window=1h' 'stats?window=24h'; do
  curl -s -o /dev/null -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/v1/$path" # warm
  t=$(for _ in 1 2 3; do curl -s -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $TOKEN" \
        "http://127.0.0.1:$PORT/api/v1/$path"; done | sort -n | sed -n 2p)
  echo "GET /api/v1/$path: median of 3 ${t} s"
done
CHROMIUM="$(command -v chromium || command -v chromium-browser)"
# Run 0 warms Chromium and the page cache and is not reported. Each run is a fresh Chromium and profile.
for run in $(seq 0 "$RUNS"); do
  "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --window-size=1400,1000 --remote-debugging-port=18097 \
    --user-data-dir="$DIR/profile-$run" about:blank >/dev/null 2>&1 &
  CPID=$!
  for _ in $(seq 100); do curl -sf http://127.0.0.1:18097/json/version >/dev/null 2>&1 && break; sleep 0.1; done
  ms=$(node --experimental-websocket scripts/page-load.mjs 18097 "http://127.0.0.1:$PORT/#token=$TOKEN" 2>/dev/null || true)
  kill "$CPID" 2>/dev/null; wait "$CPID" 2>/dev/null || true
  [ "$run" = 0 ] || echo "page load run $run: ${ms} ms"
done
