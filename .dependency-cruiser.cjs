/**
 * The layers of src/ (docs/architecture.md), checked by `make lint` with dependency-cruiser: no
 * import cycles, and each folder imports only what lies below it. postgres/ is the leaf that holds all
 * SQL: it imports only util/ and timings.ts.
 */
const below = (from, allowed) => ({
  name: `${from}-imports-only-below`,
  comment: `src/${from}/ may import only ${allowed.join(', ')} (and itself)`,
  severity: 'error',
  from: { path: `^src/${from}/` },
  to: { path: '^src/', pathNot: [`^src/${from}/`, ...allowed.map((a) => `^src/${a}`)] },
});

module.exports = {
  forbidden: [
    { name: 'no-circular', comment: 'modules that import each other in a loop', severity: 'error', from: {}, to: { circular: true } },
    { name: 'timings-is-ground', severity: 'error', from: { path: '^src/timings\\.ts$' }, to: { path: '^src/' } },
    below('util', ['timings.ts']),
    below('postgres', ['util/', 'timings.ts']),
    below('format', ['postgres/', 'kafka/records.ts', 'util/']),
    below('kafka', ['progress/position.ts', 'config/types.ts', 'util/', 'timings.ts']),
    below('observe', ['kafka/records.ts', 'util/', 'timings.ts']),
    below('config', ['postgres/', 'format/', 'observe/logger.ts', 'util/']),
    below('progress', ['postgres/', 'util/']),
    below('control', ['postgres/', 'util/', 'timings.ts']),
    below('cluster', ['postgres/', 'observe/', 'util/', 'timings.ts']),
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
