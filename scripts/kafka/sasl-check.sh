#!/usr/bin/env bash
# Check the broker's SASL_SSL listener (started by up.sh) with Kafka's own client, not with ours:
# for PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 an ApiVersions request over 127.0.0.1:$KAFKA_SASL_PORT must
# succeed with the test credentials and fail with a wrong password, and trusting only wrong-ca.pem must fail.
# Not part of make test (about 15 s of JVM starts); run it after changing the listener's setup.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
[ -f "$KAFKA_HOME/.fetched" ] || die "no Kafka in $KAFKA_HOME: run scripts/kafka/up.sh first"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cat > "$WORK/log4j.properties" <<PROPS
log4j.rootLogger=OFF
PROPS
failures=0

# check NAME EXPECT(ok|fail) MECHANISM PASSWORD CA_FILE
check() {
  local name=$1 expect=$2 mechanism=$3 password=$4 ca=$5 module=org.apache.kafka.common.security.scram.ScramLoginModule
  [ "$mechanism" = PLAIN ] && module=org.apache.kafka.common.security.plain.PlainLoginModule
  cat > "$WORK/$name.properties" <<PROPS
security.protocol=SASL_SSL
ssl.truststore.type=PEM
ssl.truststore.location=$ca
sasl.mechanism=$mechanism
sasl.jaas.config=$module required username="$KAFKA_SASL_USER" password="$password";
request.timeout.ms=10000
PROPS
  local got=ok
  timeout 60 java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 "-Dlog4j.configuration=file:$WORK/log4j.properties" \
    -cp "$KAFKA_HOME/libs/*" org.apache.kafka.tools.BrokerApiVersionsCommand \
    --bootstrap-server "$KAFKA_HOST:$KAFKA_SASL_PORT" --command-config "$WORK/$name.properties" >"$WORK/$name.out" 2>&1 || got=fail
  local detail
  detail=$(grep -m 1 -E 'Authentication failed|SSL handshake failed|ApiVersions|^[^ ]+:[0-9]+ \(id' "$WORK/$name.out" || true)
  if [ "$got" = "$expect" ]; then
    log "PASS $name: $got${detail:+ ($detail)}"
  else
    log "FAIL $name: expected $expect, got $got"; sed 's/^/    /' "$WORK/$name.out" | tail -n 15 >&2
    failures=$((failures + 1))
  fi
}

for mechanism in PLAIN SCRAM-SHA-256 SCRAM-SHA-512; do
  check "$mechanism" ok "$mechanism" "$KAFKA_SASL_PASSWORD" "$KAFKA_TLS_DIR/ca.pem"
  check "$mechanism-wrong-password" fail "$mechanism" "not-$KAFKA_SASL_PASSWORD" "$KAFKA_TLS_DIR/ca.pem"
done
check SCRAM-SHA-512-wrong-ca fail SCRAM-SHA-512 "$KAFKA_SASL_PASSWORD" "$KAFKA_TLS_DIR/wrong-ca.pem"
[ "$failures" = 0 ] || die "$failures SASL_SSL check(s) failed"
log "SASL_SSL listener on $KAFKA_HOST:$KAFKA_SASL_PORT: all checks passed"
