#!/usr/bin/env bash
# Stop the private cluster if up.sh started one; a server this project did not start is left alone.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
PGDATA_DIR="$CACHE_DIR/pgdata"
[ -f "$PGDATA_DIR/postmaster.pid" ] || { log "no private PostgreSQL running (the machine's own server is left alone)"; exit 0; }
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
RUN=(); [ "$(id -u)" = 0 ] && RUN=(runuser -u postgres --)
"${RUN[@]}" "$BIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >/dev/null
