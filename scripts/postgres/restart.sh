#!/usr/bin/env bash
# Restart the PostgreSQL server on 127.0.0.1:$PG_PORT (used by fault tests): fast shutdown, start, wait.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
PGDATA_DIR="$CACHE_DIR/pgdata"
if [ -f "$PGDATA_DIR/postmaster.pid" ]; then
  BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  RUN=(); [ "$(id -u)" = 0 ] && RUN=(runuser -u postgres --)
  "${RUN[@]}" "$BIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w restart -o "-h $PG_HOST -p $PG_PORT -k /tmp -c max_connections=200" >/dev/null
else
  read -r ver name _ < <(pg_lsclusters -h | awk -v p="$PG_PORT" '$3==p')
  [ -n "${ver:-}" ] || die "no PostgreSQL cluster on port $PG_PORT that this script knows how to restart"
  pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" restart -m fast
fi
for _ in $(seq 1 60); do pg_isready -q -h "$PG_HOST" -p "$PG_PORT" && exit 0; sleep 0.5; done
die "PostgreSQL did not come back after restart"
