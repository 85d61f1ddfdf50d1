#!/usr/bin/env bash
# make demo: mirror two demo tables into Kafka with the example config in config/, make live
# changes, and show the records as they arrive. Needs the services (make services-up) and a build.
set -euo pipefail
cd "$(dirname "$0")/.."
CLI=(node dist/src/cli/main.js)
CONFIG=config/worker.json
PSQL=(psql -h 127.0.0.1 -U postgres -d postgres -v ON_ERROR_STOP=1 -q -X)
PORT=$(node -e 'console.log(require("./config/worker.json").http.port)')
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "1. A fresh start: tear down earlier demo runs (trigger, function, change log, progress, topic)"
"${CLI[@]}" teardown --config "$CONFIG" --connector demo-orders --delete-topic || true
"${CLI[@]}" teardown --config "$CONFIG" --connector demo-customers --delete-topic || true

say "2. Demo tables: demo.customers (200 rows) and demo.orders (20,000 rows)"
"${PSQL[@]}" <<'SQL'
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS demo CASCADE;
CREATE SCHEMA demo;
CREATE TABLE demo.customers (id bigint PRIMARY KEY, name text NOT NULL, email text, tier text, internal_note text);
CREATE TABLE demo.orders (
  id bigserial PRIMARY KEY, customer_id bigint, amount numeric(12,2), status text, tags text[], meta jsonb,
  created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());
INSERT INTO demo.customers SELECT g, 'customer ' || g, 'c' || g || '@example.com', 'gold', 'not published' FROM generate_series(1, 200) g;
INSERT INTO demo.orders (customer_id, amount, status, tags, meta)
  SELECT g % 200 + 1, round((random() * 500)::numeric, 2), 'new', ARRAY['web'], jsonb_build_object('n', g) FROM generate_series(1, 20000) g;
ANALYZE demo.customers; ANALYZE demo.orders;
SQL

say "3. Validate the config (schema, then read-only checks against the tables)"
"${CLI[@]}" validate --config "$CONFIG"

say "4. Run the worker (logs in /tmp/pg-kafka-cdc-demo.log)"
"${CLI[@]}" run --config "$CONFIG" > /tmp/pg-kafka-cdc-demo.log 2>&1 &
WORKER=$!
trap 'kill -TERM $WORKER 2>/dev/null || true; wait $WORKER 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  states=$( (curl -sf "http://127.0.0.1:$PORT/connectors" 2>/dev/null || true) | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{console.log(JSON.parse(s).connectors.map(c=>c.state).join(" "))}catch{console.log("")}})')
  [ "$states" = "streaming streaming" ] && break
  kill -0 $WORKER 2>/dev/null || { cat /tmp/pg-kafka-cdc-demo.log; echo "the worker exited" >&2; exit 1; }
  sleep 0.5
done
echo "connectors: $states"
curl -s "http://127.0.0.1:$PORT/connectors" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{for(const c of JSON.parse(s).connectors)console.log(`  ${c.name}: ${c.state}, snapshot ${c.snapshot.rows_done} rows (${c.snapshot.percent}%), topic ${c.topic}`)})'

say "5. Live changes: insert, update, delete, a primary-key change, and a rolled-back transaction"
"${PSQL[@]}" <<'SQL'
INSERT INTO demo.customers VALUES (1001, 'Ada Lovelace', 'ada@example.com', 'platinum', 'x');
UPDATE demo.customers SET tier = 'silver' WHERE id = 1;
DELETE FROM demo.customers WHERE id = 2;
UPDATE demo.customers SET id = 3003 WHERE id = 3;
BEGIN; UPDATE demo.customers SET name = 'never published' WHERE id = 4; ROLLBACK;
UPDATE demo.orders SET status = 'shipped', updated_at = now() WHERE id <= 5;
DELETE FROM demo.orders WHERE id = 6;
SQL
sleep 2

say "6. The records on topic demo.customers (partition:offset, op, key, value): the last six"
"${CLI[@]}" tail --config "$CONFIG" --topic demo.customers --idle-exit-ms 3000 | tail -n 6

say "7. Metrics and status"
curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^pg_kafka_cdc_(records_published_total|lag_seconds|pending_changes|transactions_total)' || true
echo
echo "The demo worker stops now. While a worker runs it serves http://127.0.0.1:$PORT/metrics, /connectors, /readyz and /healthz."
# The node make put first on PATH (Node.js 24, from the cache where the machine's own is older).
NODE24=$(command -v node)
echo "Run it yourself: $NODE24 dist/src/cli/main.js run --config $CONFIG   (Ctrl-C stops it gracefully)"
echo "Read a topic:    $NODE24 dist/src/cli/main.js tail --topic demo.orders"
echo "Re-snapshot:     $NODE24 dist/src/cli/main.js snapshot --config config/worker.json --connector demo-orders --where \"id <= 100\"   (while a worker runs, or served at its next start)"
