#!/usr/bin/env bash
# `hearth convert --from hl7v2` over the repeated Microsoft corpus: messages/s and MB/s on one core.
#
# Usage: scripts/bench-convert.sh [REPEAT] [RUNS]
#   REPEAT (default 10): how many times the convertible samples are repeated in the one input file
#   RUNS (default 5): timed runs of each binary; the median and the best are printed
# Environment:
#   BENCH_BIN=PATH      the hearth binary to measure (default: a release build of this checkout, built first)
#   BENCH_BASE=PATH     a second hearth binary (e.g. a build of main) measured in the same run, alternating with
#                       BENCH_BIN, for a before/after ratio on the same machine state
#   BENCH_PEER_PYTHON=PATH  a Python with the PyPI package `hl7v2-fhir-bridge` installed: the peer comparison
#                       (without it, the script says that no peer is installed)
#   BENCH_PERF=FILE     also record a `perf` profile of one run of BENCH_BIN into FILE
#   HEARTH_CORPUS       the corpus (default ../shared/corpus)
#
# The convertible samples are those `hearth convert` converts on their own (132 of the 139 Microsoft samples, the same
# set as hearth-map's corpus bench). Each run is pinned to one core (taskset) when taskset exists. The git revision,
# the CPU model and the load average before and after are printed, so that a noisy run shows.
set -euo pipefail
cd "$(dirname "$0")/.."

REPEAT="${1:-10}"
RUNS="${2:-5}"
CORPUS="${HEARTH_CORPUS:-../shared/corpus}"
SAMPLES="$CORPUS/hl7v2/ms-fhir-converter/samples"
[ -d "$SAMPLES" ] || { echo "bench-convert: no corpus samples at $SAMPLES (set HEARTH_CORPUS)" >&2; exit 1; }

if [ -z "${BENCH_BIN:-}" ]; then
  cargo build --release -q -p hearth
  BENCH_BIN="${CARGO_TARGET_DIR:-target}/release/hearth"
fi
PIN=()
if command -v taskset >/dev/null; then PIN=(taskset -c "$(( $(nproc) - 1 ))"); fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# The samples that convert, each followed by a segment terminator so that concatenated messages stay apart.
: > "$WORK/one.hl7"
count=0
for f in "$SAMPLES"/*.hl7; do
  if "$BENCH_BIN" convert --from hl7v2 --timezone UTC "$f" >/dev/null 2>&1; then
    # A byte-order mark is allowed at the start of a file, not in the middle of one: drop it when concatenating.
    sed '1s/^\xEF\xBB\xBF//' "$f" >> "$WORK/one.hl7"; printf '\r' >> "$WORK/one.hl7"
    count=$((count + 1))
  fi
done
for _ in $(seq "$REPEAT"); do cat "$WORK/one.hl7"; done > "$WORK/corpus.hl7"
messages=$((count * REPEAT))
in_bytes=$(stat -c %s "$WORK/corpus.hl7")

now() { date +%s.%N; }
# One timed run: prints seconds; the output goes to $WORK/out.ndjson.
run_once() {
  local bin="$1" input="$2" t0 t1
  t0=$(now)
  "${PIN[@]}" "$bin" convert --from hl7v2 --timezone UTC "$input" > "$WORK/out.ndjson"
  t1=$(now)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f\n", b - a }'
}
# Median and best of a list of seconds.
summary() {
  sort -g | awk -v n="$1" -v ib="$2" -v ob="$3" '{ t[NR] = $1 } END {
    med = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
    printf "median %.3f s: %.0f messages/s (%.0f µs/message), %.1f MB/s in, %.1f MB/s out; best %.3f s: %.0f messages/s\n",
      med, n / med, med * 1e6 / n, ib / med / 1e6, ob / med / 1e6, t[1], n / t[1] }'
}

echo "revision:  $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates scripts Cargo.toml Cargo.lock || echo ' (uncommitted changes)')"
echo "cpu:       $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') ($(nproc) cores)"
echo "load avg before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "input:     $count convertible samples × $REPEAT = $messages messages, $in_bytes bytes; $(if [ ${#PIN[@]} -gt 0 ]; then echo "pinned to one core"; else echo "not pinned (no taskset)"; fi)"

: > "$WORK/times.bin"; : > "$WORK/times.base"
for _ in $(seq "$RUNS"); do
  run_once "$BENCH_BIN" "$WORK/corpus.hl7" >> "$WORK/times.bin"
  out_bytes=$(stat -c %s "$WORK/out.ndjson")
  lines=$(wc -l < "$WORK/out.ndjson")
  [ "$lines" -eq "$messages" ] || { echo "bench-convert: $lines Bundles for $messages messages" >&2; exit 1; }
  cp "$WORK/out.ndjson" "$WORK/out.bin.ndjson"
  if [ -n "${BENCH_BASE:-}" ]; then
    run_once "$BENCH_BASE" "$WORK/corpus.hl7" >> "$WORK/times.base"
    base_bytes=$(stat -c %s "$WORK/out.ndjson")
  fi
done
echo "hearth ($BENCH_BIN): $(summary "$messages" "$in_bytes" "$out_bytes" < "$WORK/times.bin")"
if [ -n "${BENCH_BASE:-}" ]; then
  echo "base   ($BENCH_BASE): $(summary "$messages" "$in_bytes" "$base_bytes" < "$WORK/times.base")"
  # The conversion time (Bundle.timestamp, Provenance.recorded) is the one value that differs between two runs of
  # the same build; it is masked before the outputs are compared.
  mask() { sed -E 's/"(timestamp|recorded)":"[^"]*"/"\1":"-"/g' "$1"; }
  if cmp -s <(mask "$WORK/out.ndjson") <(mask "$WORK/out.bin.ndjson"); then
    echo "output:    byte-identical to the base's (conversion times masked)"
  else
    echo "output:    DIFFERS from the base's ($(cmp <(mask "$WORK/out.ndjson") <(mask "$WORK/out.bin.ndjson") | head -1))"
  fi
fi

if [ -n "${BENCH_PERF:-}" ]; then
  perf record -q -F 999 -g -o "$BENCH_PERF" -- "$BENCH_BIN" convert --from hl7v2 --timezone UTC "$WORK/corpus.hl7" > /dev/null
  echo "perf:      profile in $BENCH_PERF (perf report -i $BENCH_PERF --no-children)"
fi

# The peer: a Python v2→FHIR package from PyPI, on the messages it supports, and Hearth on the same messages.
if [ -n "${BENCH_PEER_PYTHON:-}" ] && "$BENCH_PEER_PYTHON" -c 'import v2fhir' 2>/dev/null; then
  "${PIN[@]}" "$BENCH_PEER_PYTHON" - "$WORK/corpus.hl7" "$WORK/peer.hl7" "$RUNS" <<'PY'
import json, re, sys, time
from v2fhir.config import default_config_path, load_config
from v2fhir.convert import convert
from v2fhir.hl7.parser import parse_bytes, split_batch_bytes
from datetime import datetime, timezone

cfg = load_config(default_config_path(), {})
now = datetime(2025, 1, 1, tzinfo=timezone.utc)
# The samples end their segments with CR LF or LF; this parser splits segments on CR only (given LF it finds no
# PID and supports nothing), so hand it CR-terminated segments.
raw = re.sub(rb"\r\n|\n\r|\n|\r+", b"\r", open(sys.argv[1], "rb").read())
supported = []
for m in split_batch_bytes(raw):
    try:
        convert(parse_bytes(m, cfg.default_charset, cfg.fallback_charsets), cfg, now)
        supported.append(m)
    except Exception:
        pass
with open(sys.argv[2], "wb") as f:
    for m in supported:
        f.write(m.rstrip(b"\r\n") + b"\r")
with open(sys.argv[2] + ".count", "w") as f:
    f.write(str(len(supported)))
times = []
for _ in range(int(sys.argv[3])):
    t0 = time.perf_counter()
    out = 0
    for m in supported:
        out += len(json.dumps(convert(parse_bytes(m, cfg.default_charset, cfg.fallback_charsets), cfg, now).bundle,
                              separators=(",", ":"), ensure_ascii=False))
    times.append(time.perf_counter() - t0)
times.sort()
med = times[len(times) // 2]
print(f"peer (hl7v2-fhir-bridge, Python): {len(supported)} of the messages supported; median {med:.3f} s: "
      f"{len(supported) / med:.0f} messages/s, {out / med / 1e6:.1f} MB/s out")
PY
  peer_messages=$(cat "$WORK/peer.hl7.count")
  [ "$peer_messages" -gt 0 ] || { echo "bench-convert: the peer supports none of the messages" >&2; exit 1; }
  : > "$WORK/times.peer"
  for _ in $(seq "$RUNS"); do run_once "$BENCH_BIN" "$WORK/peer.hl7" >> "$WORK/times.peer"; done
  echo "hearth on the same $peer_messages messages: $(summary "$peer_messages" "$(stat -c %s "$WORK/peer.hl7")" \
    "$(stat -c %s "$WORK/out.ndjson")" < "$WORK/times.peer")"
else
  echo "peer:      none installed (BENCH_PEER_PYTHON: a Python with the PyPI package hl7v2-fhir-bridge)"
fi
echo "load avg after:  $(cut -d' ' -f1-3 /proc/loadavg)"
