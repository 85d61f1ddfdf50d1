/**
 * Named points where the integration tests crash the worker on purpose, to hit a crash window
 * exactly (after Kafka committed a transaction and before the database stored its position, say)
 * rather than by luck of a kill -9. PG_KAFKA_CDC_FAILPOINT=name:n kills the process with SIGKILL the
 * n-th time it passes the point (name alone: the first time). Unset, a failpoint is one comparison.
 * Not a setting: never set it outside tests.
 */
const spec = process.env.PG_KAFKA_CDC_FAILPOINT ?? '';
const [armed, nth] = spec.split(':');
let remaining = spec === '' ? 0 : Number(nth ?? '1');

export type FailpointName = 'before-kafka-commit' | 'after-kafka-commit';

export function failpoint(name: FailpointName): void {
  if (remaining <= 0 || name !== armed) return;
  remaining -= 1;
  if (remaining === 0) process.kill(process.pid, 'SIGKILL');
}
