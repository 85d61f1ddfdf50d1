#!/usr/bin/env bash
# Stop the private cluster if up.sh started one; a server this project did not start is left alone.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
RUN=(); [ "$(id -u)" = 0 ] && RUN=(runuser -u postgres --)
stopped=0
for PGDATA_DIR in "$CACHE_DIR/pgdata" "$PG_TLS_DATA"; do   # the private cluster, and the TLS-only one of the tests
  [ -f "$PGDATA_DIR/postmaster.pid" ] || continue
  BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  "${RUN[@]}" "$BIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >/dev/null
  stopped=1
done
[ "$stopped" = 1 ] || log "no private PostgreSQL running (the machine's own server is left alone)"
