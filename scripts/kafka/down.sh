#!/usr/bin/env bash
# Stop the broker started by up.sh (SIGTERM, then SIGKILL after 30 s). Idempotent.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
PIDFILE="$KAFKA_HOME/kafka.pid"
[ -f "$PIDFILE" ] || { log "Kafka is not running (no pid file)"; exit 0; }
pid=$(cat "$PIDFILE")
if kill -0 "$pid" 2>/dev/null; then
  log "stopping Kafka (pid $pid)"
  kill "$pid" || true
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then log "Kafka did not stop in 30 s, killing it"; kill -9 "$pid" || true; sleep 0.5; fi
fi
rm -f "$PIDFILE"
