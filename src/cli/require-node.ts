/**
 * Imported first by the CLI: on a Node.js older than the worker needs, say so and exit 2, instead
 * of the Kafka client failing to load with an error about ES modules or a missing builtin.
 */
const NEEDED_MAJOR = 24;
const major = Number(process.versions.node.split('.')[0]);
if (major < NEEDED_MAJOR) {
  process.stderr.write(
    `pg-kafka-cdc: needs Node.js ${NEEDED_MAJOR} or newer, this is ${process.version} (${process.execPath}). ` +
      `Use the container image, install Node.js ${NEEDED_MAJOR}, or run through make, which fetches it (scripts/node/ensure.sh).\n`,
  );
  process.exit(2);
}
export {};
