#!/usr/bin/env bash
# Stop the PgBouncer instances started by scripts/pgbouncer/up.sh (SIGTERM: immediate shutdown, then
# SIGKILL after 10 s). Idempotent; a pgbouncer this project did not start (Debian's service) is left alone.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/common.sh"
for mode in "${PGBOUNCER_MODES[@]}"; do
  pid=$(pgbouncer_pid "$mode")
  if [ -z "$pid" ]; then log "PgBouncer ($mode) is not running"; rm -f "$PGBOUNCER_DIR/$mode.pid"; continue; fi
  log "stopping PgBouncer ($mode, pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then log "PgBouncer ($mode) did not stop in 10 s, killing it"; kill -9 "$pid" || true; sleep 0.2; fi
  rm -f "$PGBOUNCER_DIR/$mode.pid"
done
