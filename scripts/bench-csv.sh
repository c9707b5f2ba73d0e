#!/usr/bin/env bash
# CSV billing conversion at scale (issue 5): generates a synthetic charges file of about SIZE_MB megabytes
# (default 1024) and converts it with `hearth convert --from csv --profile charges`, recording wall time, rows/s
# and peak RSS (GNU time's "Maximum resident set size"). The file is generated once and kept in $BENCH_DIR.
#
#   scripts/bench-csv.sh            # 1 GB
#   SIZE_MB=100 scripts/bench-csv.sh
#
# Synthetic data only (no patient data). Output goes to /dev/null; stderr (row errors) to $BENCH_DIR/stderr.txt.
set -euo pipefail

SIZE_MB="${SIZE_MB:-1024}"
BENCH_DIR="${BENCH_DIR:-/tmp/hearth-bench-csv}"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$BENCH_DIR"
FILE="$BENCH_DIR/charges-${SIZE_MB}mb.csv"

if [[ ! -s "$FILE" ]]; then
  echo "generating $FILE (~${SIZE_MB} MB: a 16 MB block of rows, repeated)..." >&2
  python3 - "$BENCH_DIR/block.csv" <<'PY'
import sys
header = ("charge_id,mrn,visit_number,account_number,service_date,cpt_hcpcs,modifier_1,modifier_2,"
          "revenue_code,units,unit_price,amount,performing_npi,payer\n")
codes = ["99213", "99214", "J1100", "73030", "80053", "36415"]
with open(sys.argv[1], "w", buffering=1 << 22) as f:
    f.write(header)
    written, i = len(header), 0
    while written < 16 * 1024 * 1024:
        line = (f"CHG-{i:010d},MRN{i % 250000:07d},V{i % 900000:08d},ACCT{i % 400000:07d},"
                f"2025-{i % 12 + 1:02d}-{i % 28 + 1:02d},{codes[i % 6]},{'25' if i % 3 == 0 else ''},,0510,"
                f"{i % 4 + 1},125.00,{(i % 4 + 1) * 125}.00,1234567893,PAYER{i % 40:02d}\n")
        f.write(line)
        written += len(line)
        i += 1
PY
  head -n 1 "$BENCH_DIR/block.csv" > "$FILE"
  for _ in $(seq $(( (SIZE_MB + 15) / 16 ))); do tail -n +2 "$BENCH_DIR/block.csv"; done >> "$FILE"
fi

ROWS=$(( $(wc -l < "$FILE") - 1 ))
BYTES=$(stat -c %s "$FILE")
# HEARTH_BIN=PATH measures that binary as it is (nothing is built); otherwise a release build of this checkout.
if [[ -n "${HEARTH_BIN:-}" ]]; then
  BIN="$HEARTH_BIN"
else
  (cd "$ROOT" && cargo build --release -p hearth --quiet)
  BIN="$TARGET_DIR/release/hearth"
  [[ -x "$BIN" ]] || BIN="$ROOT/$TARGET_DIR/release/hearth"
fi

start=$(date +%s.%N)
/usr/bin/time -v "$BIN" convert --from csv --profile charges "$FILE" >/dev/null 2>"$BENCH_DIR/stderr.txt" || {
  echo "convert exited non-zero; see $BENCH_DIR/stderr.txt" >&2; exit 1; }
end=$(date +%s.%N)
rss_kb=$(grep "Maximum resident set size" "$BENCH_DIR/stderr.txt" | awk '{print $NF}')
secs=$(echo "$end - $start" | bc -l)
printf 'file     %s (%d bytes, %d rows)\n' "$FILE" "$BYTES" "$ROWS"
printf 'wall     %.1f s\n' "$secs"
printf 'rows/s   %.0f\n' "$(echo "$ROWS / $secs" | bc -l)"
printf 'MB/s     %.1f\n' "$(echo "$BYTES / 1048576 / $secs" | bc -l)"
printf 'peak RSS %.1f MB\n' "$(echo "$rss_kb / 1024" | bc -l)"
printf 'machine  %s, %s cores\n' "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" "$(nproc)"
