#!/usr/bin/env bash
# Fetch Apache Flink (Table API and SQL, the JSON formats, the Kafka SQL connector) from Maven
# Central into one folder of jars, once: the interop tests run Flink SQL embedded in one JVM
# (test/interop/FlinkSql.java) against the topics the worker writes. Idempotent: a finished fetch
# leaves a marker.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
DEST="$FLINK_LIB"
# The marker names the pom it was fetched for: a changed pom fetches again.
STAMP=$(sha256sum "$ROOT_DIR/scripts/flink/pom.xml" | cut -c1-16)
if [ "$(cat "$DEST/.fetched" 2>/dev/null)" = "$STAMP" ]; then exit 0; fi
command -v mvn >/dev/null || die "mvn is not installed: it is needed to fetch Apache Flink from Maven Central"
log "fetching Apache Flink (Table API, JSON formats, Kafka SQL connector) from Maven Central into $DEST"
rm -rf "$DEST"; mkdir -p "$DEST"
mvn -q -B -f "$ROOT_DIR/scripts/flink/pom.xml" dependency:copy-dependencies -DoutputDirectory="$DEST" \
  || die "mvn could not fetch Apache Flink"
echo "$STAMP" > "$DEST/.fetched"
