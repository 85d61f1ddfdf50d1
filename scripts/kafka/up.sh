#!/usr/bin/env bash
# Start a single-node KRaft Apache Kafka broker on 127.0.0.1:$KAFKA_PORT, fetched from Maven Central.
# Idempotent: does nothing when a broker already answers there. Fails loudly when it cannot start.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

if node "$ROOT_DIR/scripts/kafka/wait.js" "$KAFKA_HOST:$KAFKA_PORT" 3 2>/dev/null; then
  log "Kafka already answers on $KAFKA_HOST:$KAFKA_PORT"; exit 0
fi
"$ROOT_DIR/scripts/kafka/fetch.sh"

DATA="$KAFKA_HOME/data"
CONF="$KAFKA_HOME/server.properties"
mkdir -p "$DATA"
cat > "$CONF" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
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

JAVA_OPTS=(-Xms256m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true
  "-Dlog4j.configuration=file:$KAFKA_HOME/log4j.properties" -cp "$KAFKA_HOME/libs/*")

if [ ! -f "$DATA/meta.properties" ]; then
  log "formatting KRaft storage in $DATA"
  java "${JAVA_OPTS[@]}" kafka.tools.StorageTool format -t "$(java "${JAVA_OPTS[@]}" kafka.tools.StorageTool random-uuid)" \
    -c "$CONF" >"$KAFKA_HOME/format.log" 2>&1 || { cat "$KAFKA_HOME/format.log" >&2; die "Kafka storage format failed"; }
fi

log "starting Apache Kafka $KAFKA_VERSION on $KAFKA_HOST:$KAFKA_PORT (log: $KAFKA_HOME/server.log)"
# setsid: the broker must outlive the shell (and process group) that started it.
setsid nohup java "${JAVA_OPTS[@]}" kafka.Kafka "$CONF" >"$KAFKA_HOME/stdout.log" 2>&1 < /dev/null &
echo $! > "$KAFKA_HOME/kafka.pid"

if ! node "$ROOT_DIR/scripts/kafka/wait.js" "$KAFKA_HOST:$KAFKA_PORT" 90; then
  tail -n 40 "$KAFKA_HOME/server.log" "$KAFKA_HOME/stdout.log" >&2 || true
  die "Kafka did not answer a metadata request on $KAFKA_HOST:$KAFKA_PORT within 90 s"
fi
log "Kafka is up"
