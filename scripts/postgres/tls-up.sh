#!/usr/bin/env bash
# A private PostgreSQL cluster that accepts only TLS, for the tests of TLS to PostgreSQL, on
# 127.0.0.1:$PG_TLS_PORT. Its certificates are made here with openssl and kept in $PG_TLS_DIR:
#   ca.pem          the private CA that signed the server's and the client's certificates
#   server.pem/.key the server's certificate: DNS:localhost only (so 127.0.0.1 fails verify-full)
#   wrong-ca.pem    an unrelated CA that must fail verification
#   client.pem/.key a client certificate for the role pgkc_cert (pg_hba: cert auth for it)
# pg_hba: hostssl only (plaintext is rejected), trust for every role but pgkc_cert. Idempotent.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
# One start at a time: two concurrent starts (make test next to make demo) once left a broker whose
# second start had failed half-way, with a controller that no longer answered.
mkdir -p "$CACHE_DIR"; exec 9>"$CACHE_DIR/pg-tls-up.lock"; flock 9
DATA="$PG_TLS_DATA"
ready() { pg_isready -q -h "$PG_HOST" -p "$PG_TLS_PORT" 2>/dev/null; }
if ready; then log "TLS-only PostgreSQL answers on $PG_HOST:$PG_TLS_PORT"; exit 0; fi
command -v openssl >/dev/null || die "openssl is needed to make the test certificates"
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
[ -n "$BIN" ] || die "no PostgreSQL server binaries under /usr/lib/postgresql (scripts/postgres/up.sh installs them)"
RUN=(); OWNER="$(id -un)"
if [ "$(id -u)" = 0 ]; then RUN=(runuser -u postgres --); OWNER=postgres; fi

mkdir -p "$PG_TLS_DIR"
if [ ! -f "$PG_TLS_DIR/client.key" ]; then
  log "making the test certificates in $PG_TLS_DIR"
  (
    cd "$PG_TLS_DIR"
    ossl() { openssl "$@" 2>/dev/null; }
    ossl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=pg-kafka-cdc test CA" -keyout ca.key -out ca.pem
    ossl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=an unrelated CA" -keyout wrong-ca.key -out wrong-ca.pem
    ossl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr
    printf 'subjectAltName=DNS:localhost\n' > server.ext
    ossl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 -extfile server.ext -out server.pem
    ossl req -newkey rsa:2048 -nodes -subj "/CN=pgkc_cert" -keyout client.key -out client.csr
    ossl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 -out client.pem
    chmod 600 ./*.key
  )
fi
if [ ! -f "$DATA/PG_VERSION" ]; then
  log "initialising the TLS-only cluster in $DATA"
  mkdir -p "$DATA"; [ "$(id -u)" = 0 ] && chown postgres: "$DATA"
  "${RUN[@]}" "$BIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 >/dev/null
  cat > "$DATA/pg_hba.conf" <<HBA
local     all all                 trust
hostssl   all pgkc_cert 127.0.0.1/32 cert
hostssl   all all       127.0.0.1/32 trust
hostnossl all all       127.0.0.1/32 reject
HBA
  chown "$OWNER" "$DATA/pg_hba.conf"
fi
# The certificates of $PG_TLS_DIR, at every start: the data directory outlives a cleared cache, whose
# new CA would otherwise not match the server's old certificate.
install -m 600 -o "$OWNER" "$PG_TLS_DIR/server.key" "$DATA/server.key"
install -m 644 -o "$OWNER" "$PG_TLS_DIR/server.pem" "$DATA/server.pem"
install -m 644 -o "$OWNER" "$PG_TLS_DIR/ca.pem" "$DATA/ca.pem"
log "starting the TLS-only cluster on $PG_HOST:$PG_TLS_PORT"
# 9>&-: the server must not inherit the start lock (it would hold it for its whole life).
"${RUN[@]}" "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w \
  -o "-h $PG_HOST -p $PG_TLS_PORT -k /tmp -c ssl=on -c ssl_cert_file=server.pem -c ssl_key_file=server.key -c ssl_ca_file=ca.pem -c max_connections=50" start >/dev/null 9>&- \
  || die "the TLS-only PostgreSQL did not start (see $DATA/server.log)"
for _ in $(seq 1 60); do ready && break; sleep 0.5; done
ready || die "the TLS-only PostgreSQL does not answer on $PG_HOST:$PG_TLS_PORT"
"${RUN[@]}" psql -h /tmp -p "$PG_TLS_PORT" -U postgres -qAtc "SELECT 1 FROM pg_roles WHERE rolname = 'pgkc_cert'" | grep -q 1 \
  || "${RUN[@]}" psql -h /tmp -p "$PG_TLS_PORT" -U postgres -qc "CREATE ROLE pgkc_cert LOGIN"
"${RUN[@]}" psql -h /tmp -p "$PG_TLS_PORT" -U postgres -qAtc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1 \
  || "${RUN[@]}" psql -h /tmp -p "$PG_TLS_PORT" -U postgres -qc "CREATE DATABASE test"
log "TLS-only PostgreSQL is up on $PG_HOST:$PG_TLS_PORT (CA $PG_TLS_DIR/ca.pem)"
