# Shared settings of scripts/pgbouncer/up.sh and down.sh. Sourced, not run (after scripts/lib.sh).
# Two PgBouncer instances for the integration tests, both forwarding every database to $PG_HOST:$PG_PORT:
PGBOUNCER_HOST=127.0.0.1
PGBOUNCER_SESSION_PORT="${PGBOUNCER_SESSION_PORT:-6432}"           # pool_mode = session
PGBOUNCER_TRANSACTION_PORT="${PGBOUNCER_TRANSACTION_PORT:-6433}"   # pool_mode = transaction
PGBOUNCER_DIR="$CACHE_DIR/pgbouncer"   # <mode>.ini, <mode>.log, <mode>.pid, userlist.txt
PGBOUNCER_MODES=(session transaction)
pgbouncer_port() { case "$1" in session) echo "$PGBOUNCER_SESSION_PORT" ;; transaction) echo "$PGBOUNCER_TRANSACTION_PORT" ;; esac; }
# The pid in <mode>.pid when that process is alive and is a pgbouncer, else nothing.
pgbouncer_pid() {
  local pid; pid=$(cat "$PGBOUNCER_DIR/$1.pid" 2>/dev/null) || return 0
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = pgbouncer ] && echo "$pid"
  return 0
}
