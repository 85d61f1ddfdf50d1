#!/usr/bin/env bash
# Fetch the Debezium JDBC sink connector (io.debezium:debezium-connector-jdbc) and its dependencies
# from Maven Central into a Kafka Connect plugin folder, once; the interop tests run it in Kafka
# Connect standalone from the broker's own jars. Idempotent: a finished fetch leaves a marker.
# Left out of the plugin folder: what Kafka Connect itself provides (kafka-clients, connect-api,
# Jackson: a second Jackson in the plugin clashes with the runtime's at start) and the JDBC drivers
# of other databases.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
PLUGIN="$CONNECT_PLUGINS/debezium-jdbc"
if [ -f "$PLUGIN/.fetched" ]; then exit 0; fi
command -v mvn >/dev/null || die "mvn is not installed: it is needed to fetch the Debezium JDBC sink from Maven Central"
log "fetching the Debezium JDBC sink connector from Maven Central into $PLUGIN"
rm -rf "$PLUGIN"; mkdir -p "$PLUGIN"
mvn -q -B -f "$ROOT_DIR/scripts/connect/pom.xml" dependency:copy-dependencies -DoutputDirectory="$PLUGIN" \
  || die "mvn could not fetch io.debezium:debezium-connector-jdbc"
rm -f "$PLUGIN"/kafka-clients-*.jar "$PLUGIN"/connect-api-*.jar "$PLUGIN"/jackson-*.jar \
  "$PLUGIN"/mssql-jdbc-*.jar "$PLUGIN"/ojdbc*.jar "$PLUGIN"/mysql-connector-*.jar "$PLUGIN"/mariadb-java-client-*.jar
touch "$PLUGIN/.fetched"
