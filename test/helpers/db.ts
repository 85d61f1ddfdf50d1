/**
 * Each test gets its own database, named after the test, dropped and created fresh at the start and
 * kept after the run (so a failure can be inspected).
 */
import { Client } from 'pg';
import { PG_ADMIN_URL, pgUrl } from './services';

export interface TestDb {
  name: string;
  url: string;
  /** A connection rendering values as the worker does (UTC). */
  client: Client;
  query<T extends object = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

export function dbNameFor(title: string): string {
  const slug = title
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_|_$/g, '');
  return `pgkc_${slug}`.slice(0, 63);
}

export async function createTestDb(title: string): Promise<TestDb> {
  const name = dbNameFor(title);
  const admin = new Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [name]);
    await admin.query(`DROP DATABASE IF EXISTS "${name}"`);
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  return openTestDb(name);
}

export async function openTestDb(name: string): Promise<TestDb> {
  const url = pgUrl(name);
  const client = new Client({ connectionString: url, options: '-c TimeZone=UTC' });
  client.on('error', () => undefined);
  await client.connect();
  return {
    name,
    url,
    client,
    query: async <T extends object>(sql: string, params?: unknown[]) => (await client.query<T>(sql, params)).rows,
    close: () => client.end().catch(() => undefined),
  };
}

/** Runs fn with a fresh connection, retrying while the server restarts. */
export async function withRetry<T>(fn: () => Promise<T>, attempts = 60): Promise<T> {
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      return await fn();
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  throw last;
}
