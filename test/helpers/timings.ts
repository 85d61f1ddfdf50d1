/**
 * The timings the integration tests run the worker with: the waits a test would otherwise sit
 * through (a standby's poll, an orphan's takeover, the backoff, a failed connector's next look, the
 * periodic checks) shortened, every relation of src/timings.ts kept (withTimings checks them).
 * Worker processes get them through PG_KAFKA_CDC_TIMINGS, in-process workers as an option.
 */
import { withTimings, type Timings } from '../../src/timings';

export const TEST_TIMING_OVERRIDES = {
  OWNERSHIP_POLL_MS: 500,
  MEMBERSHIP_REFRESH_MS: 500,
  ORPHAN_TAKEOVER_MS: 3_000,
  FAILED_RETRY_MS: 5_000,
  BACKOFF: { initialMs: 100, maxMs: 4_000 },
  SCHEMA_CHECK_MS: 500,
  RESNAPSHOT_CHECK_MS: 250,
  BACKLOG_INTERVAL_MS: 500,
};

export const TEST_TIMINGS: Timings = withTimings(TEST_TIMING_OVERRIDES);

/** The environment that gives a worker process the test timings (a test may pass its own PG_KAFKA_CDC_TIMINGS). */
export function testTimingsEnv(overrides: Partial<Record<keyof Timings, unknown>> = {}): Record<string, string> {
  return { PG_KAFKA_CDC_TIMINGS: JSON.stringify({ ...TEST_TIMING_OVERRIDES, ...overrides }) };
}
