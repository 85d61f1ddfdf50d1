#!/usr/bin/env bash
# Start a single-node KRaft Apache Kafka broker, fetched from Maven Central, with two client listeners:
#   PLAINTEXT://127.0.0.1:$KAFKA_PORT (9092)       no TLS, no auth; also inter-broker
#   SASL_SSL://127.0.0.1:$KAFKA_SASL_PORT (9094)   TLS + SASL, for tests of secured brokers
# and the KRaft controller on 127.0.0.1:$KAFKA_CONTROLLER_PORT (9093, PLAINTEXT). All three ports are env.
# SASL_SSL listener, fixed test credentials and files (KAFKA_HOME = $PG_KAFKA_CDC_CACHE/kafka-4.1.1,
# PG_KAFKA_CDC_CACHE defaulting to ~/.cache/pg-kafka-cdc; see scripts/lib.sh):
#   mechanisms  PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, all with user "cdc", password "cdc-secret"
#               ($KAFKA_SASL_USER / $KAFKA_SASL_PASSWORD)
#   trust       $KAFKA_HOME/tls/ca.pem: private CA that signed the broker's certificate
#               (CN=localhost, SAN IP:127.0.0.1, DNS:localhost), so hostname checks pass for both
#   distrust    $KAFKA_HOME/tls/wrong-ca.pem: unrelated CA; verifying the broker against it must fail
# The certificates are made once by scripts/kafka/tls.sh; SCRAM users are (re)created at every start with
# Kafka's ConfigCommand over the PLAINTEXT listener (so a data dir formatted without them works too).
# Idempotent: does nothing when a broker already answers on both listeners. A broker started by an older
# version of this script (PLAINTEXT only) is stopped with down.sh and started again. Fails loudly, with the
# server log's tail, when it cannot start.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
# One start at a time: two concurrent starts (make test next to make demo) once left a broker whose
# second start had failed half-way, with a controller that no longer answered.
mkdir -p "$CACHE_DIR"; exec 9>"$CACHE_DIR/kafka-up.lock"; flock 9
use_node24
PIDFILE="$KAFKA_HOME/kafka.pid"
CA="$KAFKA_TLS_DIR/ca.pem"
plaintext_ready() { node "$ROOT_DIR/scripts/kafka/wait.js" "$KAFKA_HOST:$KAFKA_PORT" "$1"; }
sasl_ready() { node "$ROOT_DIR/scripts/kafka/wait-tls.js" "$KAFKA_HOST:$KAFKA_SASL_PORT" "$CA" "$1"; }
LOG_FROM=""   # first line of server.log written by the broker this script starts
fail() {
  tail -n 40 "$KAFKA_HOME/server.log" "$KAFKA_HOME/stdout.log" >&2 || true
  if [ -n "$LOG_FROM" ]; then
    errors=$(tail -n +"$LOG_FROM" "$KAFKA_HOME/server.log" 2>/dev/null | grep -m 12 -E '^\[[^]]*\] (ERROR|FATAL)|^Caused by:' || true)
    [ -z "$errors" ] || printf '%s\n' "==> first errors of this start in $KAFKA_HOME/server.log <==" "$errors" >&2
  fi
  die "$*"
}

"$ROOT_DIR/scripts/kafka/tls.sh"

if plaintext_ready 3 2>/dev/null; then
  if sasl_ready 3 2>/dev/null; then
    log "Kafka already answers on $KAFKA_HOST:$KAFKA_PORT (PLAINTEXT) and $KAFKA_HOST:$KAFKA_SASL_PORT (SASL_SSL)"; exit 0
  fi
  if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    log "the Kafka broker on $KAFKA_HOST:$KAFKA_PORT (pid $(cat "$PIDFILE")) has no SASL_SSL listener on" \
      "$KAFKA_HOST:$KAFKA_SASL_PORT whose certificate verifies against $CA (started by an older up.sh?): restarting it"
    "$ROOT_DIR/scripts/kafka/down.sh"
  else
    die "a Kafka broker answers on $KAFKA_HOST:$KAFKA_PORT but not with TLS on $KAFKA_HOST:$KAFKA_SASL_PORT (certificate" \
      "verified against $CA), and it was not started by this script (no live pid in $PIDFILE)." \
      "Stop that broker and run scripts/kafka/up.sh again, or pick free ports: KAFKA_PORT, KAFKA_CONTROLLER_PORT, KAFKA_SASL_PORT"
  fi
fi
"$ROOT_DIR/scripts/kafka/fetch.sh"

DATA="$KAFKA_HOME/data"
CONF="$KAFKA_HOME/server.properties"
mkdir -p "$DATA"
cat > "$CONF" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT,SASL_SSL://$KAFKA_HOST:$KAFKA_SASL_PORT
advertised.listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,SASL_SSL://$KAFKA_HOST:$KAFKA_SASL_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$KAFKA_SASL_USER="$KAFKA_SASL_PASSWORD";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=$KAFKA_TLS_DIR/server-keystore.pem
listener.name.sasl_ssl.ssl.client.auth=none
log.dirs=$DATA
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
log.cleaner.backoff.ms=1000
PROPS
cat > "$KAFKA_HOME/log4j.properties" <<PROPS
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$KAFKA_HOME/server.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.org.apache.kafka.controller=INFO
PROPS
cat > "$KAFKA_HOME/tools-log4j.properties" <<PROPS
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
PROPS

JAVA_OPTS=(-Xms256m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true
  "-Dlog4j.configuration=file:$KAFKA_HOME/log4j.properties" -cp "$KAFKA_HOME/libs/*")
TOOL_OPTS=(-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true
  "-Dlog4j.configuration=file:$KAFKA_HOME/tools-log4j.properties" -cp "$KAFKA_HOME/libs/*")

if [ ! -f "$DATA/meta.properties" ]; then
  log "formatting KRaft storage in $DATA"
  java "${JAVA_OPTS[@]}" kafka.tools.StorageTool format -t "$(java "${JAVA_OPTS[@]}" kafka.tools.StorageTool random-uuid)" \
    -c "$CONF" >"$KAFKA_HOME/format.log" 2>&1 || { cat "$KAFKA_HOME/format.log" >&2; die "Kafka storage format failed"; }
fi

log "starting Apache Kafka $KAFKA_VERSION on $KAFKA_HOST:$KAFKA_PORT, SASL_SSL on $KAFKA_HOST:$KAFKA_SASL_PORT (log: $KAFKA_HOME/server.log)"
LOG_FROM=$(( $(cat "$KAFKA_HOME/server.log" 2>/dev/null | wc -l) + 1 ))
# setsid: the broker must outlive the shell (and process group) that started it. 9>&-: it must not
# inherit the start lock, or it would hold it for its whole life and every later start would wait.
setsid nohup java "${JAVA_OPTS[@]}" kafka.Kafka "$CONF" >"$KAFKA_HOME/stdout.log" 2>&1 < /dev/null 9>&- &
echo $! > "$KAFKA_HOME/kafka.pid"

# Wait up to 90 s, but stop waiting as soon as the broker process has exited (e.g. a port is taken).
pid=$(cat "$KAFKA_HOME/kafka.pid")
for waited in $(seq 0 5 90); do
  plaintext_ready 5 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || fail "the Kafka broker (pid $pid) exited while starting"
  [ "$waited" = 90 ] && fail "Kafka did not answer a metadata request on $KAFKA_HOST:$KAFKA_PORT within 90 s"
done

# SCRAM credentials live in the cluster metadata: (re)create them over the PLAINTEXT listener (idempotent),
# then wait until the broker lists both, so that a client may log in as soon as this script returns.
config_users() {
  java "${TOOL_OPTS[@]}" kafka.admin.ConfigCommand --bootstrap-server "$KAFKA_HOST:$KAFKA_PORT" \
    --entity-type users --entity-name "$KAFKA_SASL_USER" "$@"
}
# One mechanism per call: KRaft refuses two alterations of one user in the same request.
for mechanism in SCRAM-SHA-256 SCRAM-SHA-512; do
  config_users --alter --add-config "$mechanism=[password=$KAFKA_SASL_PASSWORD]" >"$KAFKA_HOME/scram.log" 2>&1 \
    || { cat "$KAFKA_HOME/scram.log" >&2; fail "could not create the $mechanism credential of user $KAFKA_SASL_USER"; }
done
for try in $(seq 1 10); do
  described=$(config_users --describe 2>&1 || true)
  if grep -q 'SCRAM-SHA-256=iterations' <<<"$described" && grep -q 'SCRAM-SHA-512=iterations' <<<"$described"; then break; fi
  [ "$try" = 10 ] && { printf '%s\n' "$described" >&2; fail "the broker does not list the SCRAM credentials of user $KAFKA_SASL_USER"; }
  sleep 1
done

sasl_ready 60 || fail "the SASL_SSL listener on $KAFKA_HOST:$KAFKA_SASL_PORT did not complete a TLS handshake verified against $CA within 60 s"
log "Kafka is up: PLAINTEXT $KAFKA_HOST:$KAFKA_PORT, SASL_SSL $KAFKA_HOST:$KAFKA_SASL_PORT" \
  "(user $KAFKA_SASL_USER, CA $CA)"
