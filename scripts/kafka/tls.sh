#!/usr/bin/env bash
# Make the TLS material of the broker's SASL_SSL listener in $KAFKA_TLS_DIR ($KAFKA_HOME/tls), with openssl.
# Idempotent: made once and kept; made anew only when a file is missing, the server certificate no longer
# verifies against ca.pem or expires within 30 days (a running broker must then be restarted: up.sh does).
#   ca.pem                 private test CA (self-signed): what a client trusts
#   ca.key                 its key
#   server.pem, server.key the broker's certificate (CN=localhost, SAN IP:127.0.0.1, DNS:localhost) and PKCS#8 key
#   server-keystore.pem    key + certificate in one file: the broker's keystore (ssl.keystore.type=PEM)
#   wrong-ca.pem           a second, unrelated CA: a client that trusts only it must fail to verify the broker
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
if ! command -v openssl >/dev/null; then
  # As scripts/postgres/up.sh does for its server: a fresh machine gets it from Debian's packages.
  command -v apt-get >/dev/null || die "openssl is not installed: it makes the SASL_SSL listener's certificates (install openssl)"
  log "installing openssl (Debian package) for the SASL_SSL listener's certificates"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null; } || die "could not install openssl"
fi
DIR="$KAFKA_TLS_DIR"

valid() {
  local f
  for f in ca.pem ca.key server.pem server.key server-keystore.pem wrong-ca.pem; do [ -s "$DIR/$f" ] || return 1; done
  openssl verify -CAfile "$DIR/ca.pem" "$DIR/server.pem" >/dev/null 2>&1 || return 1
  openssl x509 -in "$DIR/server.pem" -noout -checkend $((30 * 86400)) >/dev/null 2>&1 || return 1
}
valid && exit 0

log "making the test CA and the broker's TLS certificate in $DIR"
mkdir -p "$(dirname "$DIR")"
TMP=$(mktemp -d "$DIR.new.XXXXXX")
chmod 755 "$TMP"
trap 'rm -rf "$TMP"' EXIT
(
  cd "$TMP"
  set -e
  days=3650
  # Test CA, and an unrelated "wrong" one.
  for ca in ca wrong-ca; do
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$ca.key" 2>/dev/null
    openssl req -x509 -new -key "$ca.key" -sha256 -days "$days" -subj "/O=pg-kafka-cdc tests/CN=pg-kafka-cdc $ca" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$ca.pem"
  done
  # Broker certificate, signed by the test CA. genpkey writes PKCS#8, the form Kafka's PEM keystore reads.
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out server.key 2>/dev/null
  openssl req -new -key server.key -subj "/O=pg-kafka-cdc tests/CN=localhost" -out server.csr
  cat > server.ext <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EXT
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -sha256 -days "$days" \
    -extfile server.ext -out server.pem 2>/dev/null
  cat server.key server.pem > server-keystore.pem   # the leaf only: clients get the CA out of band
  rm -f server.csr server.ext ca.srl wrong-ca.key
  chmod 600 ca.key server.key server-keystore.pem
  openssl verify -CAfile ca.pem server.pem >/dev/null
  if openssl verify -CAfile wrong-ca.pem server.pem >/dev/null 2>&1; then exit 1; fi
) || die "openssl could not make the TLS certificates in $TMP"
rm -rf "$DIR"
mv "$TMP" "$DIR"
trap - EXIT
valid || die "the TLS material in $DIR does not verify"
log "TLS material ready: $DIR/ca.pem (trust), $DIR/wrong-ca.pem (must fail)"
