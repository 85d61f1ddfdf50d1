/** `pg-kafka-cdc validate`: every problem of every file at once, then read-only database checks. */
import { inspectWorkerConfig, type Env } from '../config/load';
import type { WorkerConfig } from '../config/types';
import { preflightAll, type PreflightResult } from '../postgres/preflight';
import { displayTable } from '../postgres/sql';
import { problemsFound } from '../util/errors';

export interface ValidationOutcome {
  config: WorkerConfig | null;
  problems: string[];
  /** Connectors whose database could not be reached (problems for validate; retries for run). */
  unreachable: string[];
  preflight: PreflightResult[];
}

/**
 * Schema checks, then read-only database checks. `run` passes checkTablesDespiteFileProblems=false:
 * with any invalid file it touches no database at all.
 */
export async function validateAll(workerFile: string, env: Env, checkTablesDespiteFileProblems = true): Promise<ValidationOutcome> {
  const { config, problems } = inspectWorkerConfig(workerFile, env);
  if (config === null || (problems.length > 0 && !checkTablesDespiteFileProblems)) return { config: null, problems, unreachable: [], preflight: [] };
  // Tables are checked for every connector whose file is valid, even when other files are not.
  const preflight = await preflightAll(config.connectors);
  return {
    config: problems.length === 0 ? config : null,
    problems: [...problems, ...preflight.flatMap((p) => p.problems)],
    unreachable: preflight.flatMap((p) => (p.unreachable ? [p.unreachable] : [])),
    preflight,
  };
}

export async function validateCommand(workerFile: string, env: Env, out: (line: string) => void, err: (line: string) => void): Promise<number> {
  const v = await validateAll(workerFile, env);
  const problems = [...v.problems, ...v.unreachable];
  if (problems.length > 0) {
    err(`${problemsFound(problems.length)}:`);
    for (const p of problems) err(`  ${p}`);
    return 2;
  }
  for (const p of v.preflight) {
    const plan = p.plan;
    if (plan) out(`ok  ${p.connector}: ${displayTable(plan.table)} (key ${plan.keyColumns.map((c) => c.name).join(', ')}; ${plan.valueColumns.length} columns in the value)`);
  }
  out(`config is valid: ${v.config?.connectors.length ?? 0} connector(s)`);
  return 0;
}
