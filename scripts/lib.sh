# Shared settings for the service scripts. Sourced, not run.
# Everything the scripts fetch or create lives under CACHE_DIR, outside git.
CACHE_DIR="${PG_KAFKA_CDC_CACHE:-$HOME/.cache/pg-kafka-cdc}"
KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
KAFKA_HOME="$CACHE_DIR/kafka-$KAFKA_VERSION"
KAFKA_HOST=127.0.0.1
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
PG_HOST=127.0.0.1
PG_PORT="${PG_PORT:-5432}"
ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }
