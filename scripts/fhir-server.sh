#!/usr/bin/env bash
# A real FHIR R4 server for Hearth's tests: sekmet-fhir (FastAPI + SQLite, from PyPI), pinned by
# scripts/fhir-server/constraints.txt.
#
#   eval "$(scripts/fhir-server.sh start)"   # installs when missing, starts, waits, prints the exports below
#   scripts/fhir-server.sh stop [DIR]         # stops the instance started in DIR (default $HEARTH_FHIR_SERVER_DIR)
#
# `start` prints, on stdout and nothing else:
#   export HEARTH_TEST_FHIR_URL=http://127.0.0.1:PORT/fhir
#   export HEARTH_FHIR_SERVER_DIR=/tmp/hearth-fhir.XXXX   (data, settings, log and pid of this instance)
#
# Each instance listens on a free loopback port with its own temporary data directory, the simulator off (it
# would otherwise act on ServiceRequest/Task by itself) and strict inbound validation on (a resource its R4
# models refuse is a 400). The virtualenv lives in .cache/fhir-server/venv (gitignored; HEARTH_FHIR_VENV
# overrides) and is rebuilt when the constraints file changes.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
constraints="$root/scripts/fhir-server/constraints.txt"
venv="${HEARTH_FHIR_VENV:-$root/.cache/fhir-server/venv}"
log() { printf '[fhir-server.sh] %s\n' "$*" >&2; }

ensure_venv() {
  local stamp="$venv/.hearth-constraints.sha256" want
  want="$(sha256sum "$constraints" | cut -d' ' -f1)"
  if [ -x "$venv/bin/sekmet" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then return 0; fi
  if ! python3 -m venv --help >/dev/null 2>&1; then
    log "FAIL: python3 with the venv module is needed (Debian: apt-get install python3-venv)"
    return 1
  fi
  log "installing sekmet-fhir into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -c "$constraints" sekmet-fhir==0.1.1 >&2
  echo "$want" >"$stamp"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

metadata_ok() {
  python3 - "$1/metadata" <<'EOF' 2>/dev/null
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
    sys.exit(0 if r.status == 200 else 1)
EOF
}

start() {
  ensure_venv
  local dir port url pid
  dir="$(mktemp -d "${TMPDIR:-/tmp}/hearth-fhir.XXXXXX")"
  # A port found free can be taken before the server binds it: try a few.
  for _ in 1 2 3; do
    port="$(free_port)"
    url="http://127.0.0.1:$port/fhir"
    cat >"$dir/settings.yaml" <<EOF
base_url: $url
host: 127.0.0.1
port: $port
data_dir: $dir/data
own_private_key_path: $dir/keys/sekmet_private.pem
log_inbound: false
simulator:
  enabled: false
validation:
  inbound: strict
EOF
    (cd "$dir" && exec setsid "$venv/bin/sekmet" serve -c "$dir/settings.yaml" >"$dir/server.log" 2>&1 </dev/null) &
    pid=$!
    echo "$pid" >"$dir/pid"
    for _ in $(seq 1 60); do
      if metadata_ok "$url"; then
        log "FHIR server up at $url (pid $pid, log $dir/server.log)"
        printf 'export HEARTH_TEST_FHIR_URL=%s\nexport HEARTH_FHIR_SERVER_DIR=%s\n' "$url" "$dir"
        return 0
      fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    log "the server did not answer on port $port; last log lines:"
    tail -n 5 "$dir/server.log" >&2 || true
  done
  log "FAIL: could not start the FHIR server"
  return 1
}

stop() {
  local dir="${1:-${HEARTH_FHIR_SERVER_DIR:-}}" pid
  if [ -z "$dir" ] || [ ! -f "$dir/pid" ]; then log "nothing to stop"; return 0; fi
  pid="$(cat "$dir/pid")"
  # setsid made the server its own process group leader: stop the group (uvicorn and any worker).
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  case "$dir" in "${TMPDIR:-/tmp}"/hearth-fhir.*) rm -rf "$dir" ;; esac
}

case "${1:-}" in
  start) start ;;
  stop) stop "${2:-}" ;;
  install) ensure_venv ;;
  *) echo "usage: $0 start | stop [DIR] | install" >&2; exit 2 ;;
esac
