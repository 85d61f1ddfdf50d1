#!/usr/bin/env bash
# Start two PgBouncer instances in front of the PostgreSQL on $PG_HOST:$PG_PORT, for the integration tests:
#   127.0.0.1:$PGBOUNCER_SESSION_PORT (6432)       pool_mode = session
#   127.0.0.1:$PGBOUNCER_TRANSACTION_PORT (6433)   pool_mode = transaction
# Both forward every database (* = host=$PG_HOST port=$PG_PORT) and log in to PostgreSQL with the client's
# own user name. No role is listed in advance: auth_type = trust plus auth_user = postgres makes pgbouncer
# look each role up in pg_authid with its default auth_query (trust alone, or auth_type = hba with a trust
# line, answers '"trust" authentication failed' for any role not in auth_file). PostgreSQL's trust auth
# then lets the server connection in. A role that does not exist or has no LOGIN gets "no such user".
# The admin console (database "pgbouncer", user postgres: SHOW POOLS, SHOW CLIENTS, ...) answers on both.
# Files, in $PG_KAFKA_CDC_CACHE/pgbouncer (default ~/.cache/pg-kafka-cdc/pgbouncer): <mode>.ini, <mode>.log
# (pgbouncer's stderr), <mode>.pid, userlist.txt.
# pgbouncer refuses to run as root: started by root, it reads its files first and then becomes the postgres
# user (its own "user =" setting), so the cache may stay under root's 0700 home; a RELOAD/SIGHUP then
# fails to re-read the config (it keeps the old one): restart with down.sh + up.sh instead.
# Installs Debian's pgbouncer package when the binary is missing, without letting the package's own
# service start (it would take localhost:6432), and disables that service.
# Startup parameters: pgbouncer 1.18 accepts only user, database, application_name, client_encoding,
# DateStyle, TimeZone, standard_conforming_strings (and replication); any other (options, statement_timeout,
# lock_timeout, ...) fails the login with 08P01 "unsupported startup parameter: NAME". A comma list in
# PGBOUNCER_IGNORE_STARTUP_PARAMETERS (e.g. options) makes it accept and silently DROP those instead.
# Idempotent: an instance that runs with the same config and answers is left alone; one started with
# another config (an older up.sh) is restarted.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/common.sh"
mkdir -p "$CACHE_DIR"; exec 9>"$CACHE_DIR/pgbouncer-up.lock"; flock 9
command -v psql >/dev/null || die "psql is needed (scripts/postgres/up.sh installs it)"

# The Debian package's own instance (/etc/pgbouncer/pgbouncer.ini, localhost:6432): stop it if it runs.
stop_debian_instance() {
  if [ -d /run/systemd/system ] && systemctl is-active --quiet pgbouncer.service 2>/dev/null; then
    log "stopping the Debian pgbouncer service"; systemctl stop pgbouncer.service pgbouncer.socket || true
  fi
  local pid; pid=$(cat /var/run/postgresql/pgbouncer.pid 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = pgbouncer ]; then
    log "stopping the Debian pgbouncer instance (pid $pid)"
    /etc/init.d/pgbouncer stop >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
}

install_pgbouncer() {
  [ "$(id -u)" = 0 ] || die "pgbouncer is not installed, and installing Debian's package needs root"
  command -v apt-get >/dev/null || die "pgbouncer is not installed and there is no apt-get to install it"
  log "installing Debian's pgbouncer package"
  # policy-rc.d answering 101 forbids invoke-rc.d and deb-systemd-invoke to start the package's service.
  local own_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; own_policy=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o Dpkg::Options::=--force-confold \
    pgbouncer >/dev/null || die "could not install pgbouncer"
  if [ -n "$own_policy" ]; then rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
  if command -v systemctl >/dev/null; then systemctl disable pgbouncer.service >/dev/null 2>&1 || true; fi
  update-rc.d pgbouncer disable >/dev/null 2>&1 || true
  stop_debian_instance
}
command -v pgbouncer >/dev/null || install_pgbouncer
command -v pgbouncer >/dev/null || die "no pgbouncer binary on PATH after installing the package"

RUN_AS=""   # pgbouncer's "user =": only when started by root, who it must not stay
if [ "$(id -u)" = 0 ]; then
  RUN_AS=postgres; id -u postgres >/dev/null 2>&1 || RUN_AS=nobody
fi

config() {   # config MODE PORT
  cat <<INI
;; Written by scripts/pgbouncer/up.sh at every start: edits are lost.
[databases]
* = host=$PG_HOST port=$PG_PORT

[pgbouncer]
listen_addr = $PGBOUNCER_HOST
listen_port = $2
unix_socket_dir =
pool_mode = $1
auth_type = trust
auth_file = $PGBOUNCER_DIR/userlist.txt
auth_user = postgres
admin_users = postgres
${PGBOUNCER_IGNORE_STARTUP_PARAMETERS:+ignore_startup_parameters = $PGBOUNCER_IGNORE_STARTUP_PARAMETERS}
max_client_conn = 1000
default_pool_size = 20
;; Idle server connections go soon: they would keep test databases from being dropped.
server_idle_timeout = 5
;; A failed server login (a database not created yet) blocks its pool this long.
server_login_retry = 1
;; Any role but postgres (looked up by auth_query) naming a database that does not exist waits this long, then gets
;; "query_wait_timeout" (default 120 s); postgres gets "database ... does not exist" at once.
query_wait_timeout = 10
log_connections = 0
log_disconnections = 0
${RUN_AS:+user = $RUN_AS}
INI
}

# answers MODE PORT: the admin console reports that pool_mode, and a query is forwarded to PostgreSQL.
answers() {
  local conn="host=$PGBOUNCER_HOST port=$2 user=postgres connect_timeout=3"
  psql "$conn dbname=pgbouncer" -wqAtF ' ' -c 'SHOW CONFIG' 2>/dev/null | grep -qx "pool_mode $1 .*" \
    && [ "$(psql "$conn dbname=postgres" -wqAtc 'SELECT 1' 2>/dev/null)" = 1 ]
}
port_taken() { (exec 3<>"/dev/tcp/$PGBOUNCER_HOST/$1") 2>/dev/null; }

mkdir -p "$PGBOUNCER_DIR"
# The auth_user has no password (PostgreSQL trusts it); listing it also admits it to the admin console.
printf '"postgres" ""\n' > "$PGBOUNCER_DIR/userlist.txt"
started=()
for mode in "${PGBOUNCER_MODES[@]}"; do
  port=$(pgbouncer_port "$mode")
  ini="$PGBOUNCER_DIR/$mode.ini"; logf="$PGBOUNCER_DIR/$mode.log"; pidf="$PGBOUNCER_DIR/$mode.pid"
  want=$(config "$mode" "$port")
  pid=$(pgbouncer_pid "$mode")
  if [ -n "$pid" ]; then
    if [ "$(cat "$ini" 2>/dev/null)" = "$want" ] && answers "$mode" "$port"; then
      log "PgBouncer ($mode) already answers on $PGBOUNCER_HOST:$port (pid $pid)"; continue
    fi
    log "PgBouncer ($mode, pid $pid) runs with another config or does not answer: restarting it"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidf"
  if port_taken "$port"; then
    stop_debian_instance
    port_taken "$port" && die "$PGBOUNCER_HOST:$port is taken by a process this script did not start." \
      "Stop it, or pick free ports: PGBOUNCER_SESSION_PORT, PGBOUNCER_TRANSACTION_PORT"
  fi
  printf '%s\n' "$want" > "$ini"
  # Readable by the user pgbouncer becomes, for a reload, where the cache is not under a private home.
  [ -z "$RUN_AS" ] || chown "$RUN_AS" "$ini" "$PGBOUNCER_DIR/userlist.txt"
  log "starting PgBouncer ($mode) on $PGBOUNCER_HOST:$port (log: $logf)"
  # setsid: it must outlive this shell. 9>&-: it must not inherit the start lock (it would hold it for its
  # whole life); nor any other descriptor of the caller (a pipe a CI runner waits on). Not -d: pgbouncer
  # would open its log and pid file only after becoming $RUN_AS, who cannot reach a cache under /root.
  (
    for fd in /proc/self/fd/*; do fd=${fd##*/}; [ "$fd" -le 2 ] || [ "$fd" = 9 ] || eval "exec $fd>&-"; done
    exec setsid nohup pgbouncer "$ini" >>"$logf" 2>&1 </dev/null 9>&-
  ) &
  echo $! > "$pidf"
  started+=("$mode")
done

for mode in ${started[@]+"${started[@]}"}; do
  port=$(pgbouncer_port "$mode"); pid=$(cat "$PGBOUNCER_DIR/$mode.pid"); logf="$PGBOUNCER_DIR/$mode.log"
  for waited in $(seq 0 50); do
    answers "$mode" "$port" && break
    if ! kill -0 "$pid" 2>/dev/null || [ "$waited" = 50 ]; then
      tail -n 20 "$logf" >&2 || true
      die "PgBouncer ($mode) did not answer on $PGBOUNCER_HOST:$port (pid $pid; log $logf)"
    fi
    sleep 0.2
  done
done
log "PgBouncer is up: session $PGBOUNCER_HOST:$PGBOUNCER_SESSION_PORT, transaction $PGBOUNCER_HOST:$PGBOUNCER_TRANSACTION_PORT" \
  "(any PostgreSQL role, no password; admin console: database pgbouncer, user postgres)"
