#!/usr/bin/env bash
# Make sure a PostgreSQL server answers on 127.0.0.1:$PG_PORT with trust auth for user postgres.
# 1. one already answers (this machine runs one): use it;
# 2. a Debian cluster exists but is stopped: start it;
# 3. otherwise: install Debian's postgresql package if needed and start a private cluster under the cache folder.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
ready() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" 2>/dev/null; }
wait_ready() { for _ in $(seq 1 60); do ready && return 0; sleep 0.5; done; return 1; }

if command -v pg_isready >/dev/null && ready; then log "PostgreSQL answers on $PG_HOST:$PG_PORT"; exit 0; fi

if command -v pg_lsclusters >/dev/null && [ -n "$(pg_lsclusters -h 2>/dev/null | awk -v p="$PG_PORT" '$3==p')" ]; then
  read -r ver name _ < <(pg_lsclusters -h | awk -v p="$PG_PORT" '$3==p')
  log "starting Debian cluster $ver/$name"
  pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start || true
  wait_ready && { log "PostgreSQL is up"; exit 0; }
fi

PGDATA_DIR="$CACHE_DIR/pgdata"
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$BIN" ]; then
  log "installing Debian's postgresql package"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null || die "could not install postgresql"
  BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
RUN=()
[ "$(id -u)" = 0 ] && RUN=(runuser -u postgres --)   # initdb and postgres refuse to run as root
mkdir -p "$CACHE_DIR"
if [ ! -f "$PGDATA_DIR/PG_VERSION" ]; then
  log "initialising a private cluster in $PGDATA_DIR"
  mkdir -p "$PGDATA_DIR"; [ "$(id -u)" = 0 ] && chown postgres: "$PGDATA_DIR"
  "${RUN[@]}" "$BIN/initdb" -D "$PGDATA_DIR" -U postgres --auth=trust -E UTF8 >/dev/null
fi
log "starting the private cluster on $PG_HOST:$PG_PORT"
"${RUN[@]}" "$BIN/pg_ctl" -D "$PGDATA_DIR" -l "$PGDATA_DIR/server.log" -w \
  -o "-h $PG_HOST -p $PG_PORT -k /tmp -c max_connections=200" start >/dev/null || die "private PostgreSQL did not start (see $PGDATA_DIR/server.log)"
wait_ready || die "PostgreSQL does not answer on $PG_HOST:$PG_PORT"
psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" | grep -q 1 \
  || psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -qc "CREATE DATABASE test"
log "PostgreSQL is up"
