#!/usr/bin/env bash
# Fetch the real Apache Kafka broker (org.apache.kafka:kafka_2.13) and its tools from Maven Central
# into $KAFKA_HOME/libs, once. Idempotent: a finished fetch leaves a marker and is not repeated.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
if [ -f "$KAFKA_HOME/.fetched" ]; then exit 0; fi
command -v mvn >/dev/null || die "mvn is not installed: it is needed to fetch Apache Kafka from Maven Central (apt-get install maven)"
command -v java >/dev/null || die "java is not installed: Apache Kafka $KAFKA_VERSION needs Java 17+ (apt-get install openjdk-17-jre-headless)"
log "fetching Apache Kafka $KAFKA_VERSION from Maven Central into $KAFKA_HOME"
rm -rf "$KAFKA_HOME/libs"
mkdir -p "$KAFKA_HOME/libs"
mvn -q -B -f "$ROOT_DIR/scripts/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
  dependency:copy-dependencies -DoutputDirectory="$KAFKA_HOME/libs" \
  || die "mvn could not fetch org.apache.kafka:kafka_2.13:$KAFKA_VERSION"
touch "$KAFKA_HOME/.fetched"
