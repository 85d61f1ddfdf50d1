/**
 * The V8 flags the worker runs with, wherever it is started: the CLI's shebang, the container
 * image's ENTRYPOINT, the tests and the benchmark (a unit test keeps them in step).
 *
 * --max-semi-space-size=16: on a machine with a lot of memory and no container limit, Node 24's V8
 * sizes the young generation up to 64 MiB per semi-space, and a snapshot's pages, which live for one
 * produce round trip, fill it: peak RSS measured 380-400 MB for a 300k-row snapshot, against 240 MB
 * with 16 MiB semi-spaces at the same speed (docs/benchmarks.md). In a container with a memory
 * limit V8 picks small semi-spaces by itself; the flag makes the worker lean everywhere.
 */
export const WORKER_NODE_FLAGS = ['--max-semi-space-size=16'] as const;
