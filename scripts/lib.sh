# Shared settings for the service scripts. Sourced, not run.
# Everything the scripts fetch or create lives under CACHE_DIR, outside git.
CACHE_DIR="${PG_KAFKA_CDC_CACHE:-$HOME/.cache/pg-kafka-cdc}"
KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
KAFKA_HOME="$CACHE_DIR/kafka-$KAFKA_VERSION"
KAFKA_HOST=127.0.0.1
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
# Second listener for tests of secured brokers: SASL_SSL on 127.0.0.1:$KAFKA_SASL_PORT, mechanisms PLAIN,
# SCRAM-SHA-256 and SCRAM-SHA-512, all with the fixed test user below. Its certificate (IP:127.0.0.1,
# DNS:localhost) is signed by the private CA $KAFKA_TLS_DIR/ca.pem; $KAFKA_TLS_DIR/wrong-ca.pem is an
# unrelated CA that must fail verification. Made by scripts/kafka/tls.sh, kept across runs.
KAFKA_SASL_PORT="${KAFKA_SASL_PORT:-9094}"
KAFKA_TLS_DIR="$KAFKA_HOME/tls"
KAFKA_SASL_USER=cdc
KAFKA_SASL_PASSWORD=cdc-secret
# Kafka Connect plugins for the interop tests (scripts/connect/fetch.sh).
CONNECT_PLUGINS="$CACHE_DIR/connect-plugins"
# Apache Flink jars for the interop tests (scripts/flink/fetch.sh).
FLINK_LIB="$CACHE_DIR/flink-2.2.0"
PG_HOST=127.0.0.1
PG_PORT="${PG_PORT:-5432}"
# A second, private cluster that accepts only TLS, for the tests of TLS to PostgreSQL
# (scripts/postgres/tls-up.sh); its certificates live in $PG_TLS_DIR.
PG_TLS_PORT="${PG_TLS_PORT:-5433}"
# Its data directory is outside $HOME: the postgres user must reach it when root runs the scripts.
PG_TLS_DATA="${PG_TLS_DATA:-/var/tmp/pg-kafka-cdc-pgdata-tls}"
PG_TLS_DIR="$CACHE_DIR/pg-tls"
ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }
# Puts Node.js 24 first on PATH (scripts/node/ensure.sh), for scripts that run the worker's Kafka client.
use_node24() { local bin; bin=$("$ROOT_DIR/scripts/node/ensure.sh") || die "Node.js 24 is not available"; [ -z "$bin" ] || PATH="$bin:$PATH"; }
