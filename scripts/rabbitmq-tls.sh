#!/usr/bin/env bash
# Gives the local RabbitMQ a TLS listener on 127.0.0.1:5671 for the amqps:// tests, once.
#
# When nothing listens on 127.0.0.1:5671, this (as root):
#   1. makes a throwaway test CA, a server certificate for localhost/127.0.0.1 and a client certificate with
#      CN=hearth-test-client in $HEARTH_TEST_TLS_DIR (default /var/lib/rabbitmq/hearth-test-tls, outside the
#      repository), unless valid ones are there already;
#   2. enables the rabbitmq_auth_mechanism_ssl plugin (the EXTERNAL login: user = the certificate's CN);
#   3. adds a TLS listener to /etc/rabbitmq/rabbitmq.conf (verify_peer, fail_if_no_peer_cert = false, TLS 1.2
#      and 1.3, EXTERNAL allowed beside PLAIN/AMQPLAIN), once, between marker lines;
#   4. creates the broker user hearth-test-client (no password) with all permissions on vhost /;
#   5. restarts the broker once and waits until 5672 and 5671 accept connections.
#
# It prints `export NAME=value` lines for the tests (stdout only; progress goes to stderr), so callers do
#   tls_env=$(scripts/rabbitmq-tls.sh) && eval "$tls_env"
# Variables: HEARTH_TEST_AMQPS_URI (guest over TLS), HEARTH_TEST_AMQPS_EXTERNAL_URI (EXTERNAL login),
# HEARTH_TEST_TLS_DIR (ca.pem, ca.key, client.pem, client.key, server.pem, server.key).
set -euo pipefail

STATE=${HEARTH_TEST_TLS_DIR:-/var/lib/rabbitmq/hearth-test-tls}
CONF=${RABBITMQ_CONFIG_FILE:-/etc/rabbitmq/rabbitmq.conf}
CLIENT_CN=hearth-test-client
MARK_BEGIN="# BEGIN hearth test TLS listener (scripts/rabbitmq-tls.sh)"
MARK_END="# END hearth test TLS listener"

log() { printf '[rabbitmq-tls] %s\n' "$*" >&2; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  for _ in $(seq 1 90); do
    if port_open "$1"; then return 0; fi
    sleep 1
  done
  log "FAIL: nothing listens on 127.0.0.1:$1 after 90 s"
  return 1
}

print_env() {
  echo "export HEARTH_TEST_TLS_DIR='$STATE'"
  echo "export HEARTH_TEST_AMQPS_URI='amqps://guest:guest@localhost:5671/%2f'"
  echo "export HEARTH_TEST_AMQPS_EXTERNAL_URI='amqps://localhost:5671/%2f?auth_mechanism=external'"
}

certs_usable() {
  local f
  for f in ca.pem ca.key server.pem server.key client.pem client.key; do
    [ -s "$STATE/$f" ] || return 1
  done
  for f in ca.pem server.pem client.pem; do
    openssl x509 -in "$STATE/$f" -noout -checkend 86400 >/dev/null 2>&1 || return 1
  done
}

new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# issue NAME SUBJECT EXTENSIONS: a certificate signed by the test CA.
issue() {
  local name=$1 subject=$2 ext=$3
  new_key "$STATE/$name.key"
  openssl req -new -key "$STATE/$name.key" -subj "$subject" -out "$STATE/$name.csr" 2>/dev/null
  printf '%s\n' "$ext" "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" \
    "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" >"$STATE/$name.ext"
  openssl x509 -req -in "$STATE/$name.csr" -CA "$STATE/ca.pem" -CAkey "$STATE/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 825 -sha256 -extfile "$STATE/$name.ext" \
    -out "$STATE/$name.pem" 2>/dev/null
  rm -f "$STATE/$name.csr" "$STATE/$name.ext"
}

make_certs() {
  log "making a test CA and certificates in $STATE"
  mkdir -p "$STATE"
  new_key "$STATE/ca.key"
  openssl req -x509 -new -key "$STATE/ca.key" -sha256 -days 3650 -subj "/CN=Hearth broker test CA/O=Hearth test PKI" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" -out "$STATE/ca.pem" 2>/dev/null
  issue server "/CN=localhost" $'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth'
  issue client "/CN=$CLIENT_CN" "extendedKeyUsage=clientAuth"
  # The broker (user rabbitmq) reads the CA and its own pair; the CA key and the client key stay root's.
  chown rabbitmq:rabbitmq "$STATE" "$STATE/ca.pem" "$STATE/server.pem" "$STATE/server.key" 2>/dev/null || true
  chmod 0755 "$STATE"
  chmod 0600 "$STATE/ca.key" "$STATE/client.key" "$STATE/server.key"
  chmod 0644 "$STATE/ca.pem" "$STATE/server.pem" "$STATE/client.pem"
}

write_config() {
  if grep -qF "$MARK_BEGIN" "$CONF" 2>/dev/null; then return 0; fi
  log "adding the TLS listener to $CONF"
  cat >>"$CONF" <<EOF
$MARK_BEGIN
listeners.ssl.local = 127.0.0.1:5671
ssl_options.cacertfile = $STATE/ca.pem
ssl_options.certfile = $STATE/server.pem
ssl_options.keyfile = $STATE/server.key
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = false
ssl_options.versions.1 = tlsv1.3
ssl_options.versions.2 = tlsv1.2
auth_mechanisms.1 = PLAIN
auth_mechanisms.2 = AMQPLAIN
auth_mechanisms.3 = EXTERNAL
ssl_cert_login_from = common_name
$MARK_END
EOF
}

create_user() {
  if ! rabbitmqctl -q list_users 2>/dev/null | awk '{print $1}' | grep -qx "$CLIENT_CN"; then
    rabbitmqctl -q add_user "$CLIENT_CN" "$(openssl rand -hex 24)" >/dev/null
    # EXTERNAL only: the certificate is the credential.
    rabbitmqctl -q clear_password "$CLIENT_CN" >/dev/null
  fi
  rabbitmqctl -q set_permissions -p / "$CLIENT_CN" '.*' '.*' '.*' >/dev/null
}

main() {
  if port_open 5671; then
    if ! certs_usable; then
      log "something listens on 5671 but $STATE has no usable test certificates: amqps tests will fail"
    fi
    print_env
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    log "FAIL: no TLS listener on 127.0.0.1:5671 and not root: run scripts/rabbitmq-tls.sh as root once"
    return 1
  fi
  command -v openssl >/dev/null || { log "FAIL: openssl (the command) is needed: apt-get install openssl"; return 1; }
  command -v rabbitmqctl >/dev/null || { log "FAIL: RabbitMQ is not installed"; return 1; }
  wait_port 5672

  certs_usable || make_certs
  write_config
  rabbitmq-plugins -q enable rabbitmq_auth_mechanism_ssl >/dev/null
  create_user

  log "restarting RabbitMQ once to open the TLS listener"
  rabbitmqctl -q shutdown >/dev/null 2>&1 || true
  for _ in $(seq 1 30); do
    if ! port_open 5672; then break; fi
    sleep 1
  done
  rabbitmq-server -detached >/dev/null 2>&1 || true
  wait_port 5672
  wait_port 5671
  rabbitmqctl -q await_startup >/dev/null 2>&1 || true
  log "RabbitMQ is back, with TLS on 127.0.0.1:5671"
  print_env
}

main "$@"
