/** `pg-kafka-cdc validate`: every problem of every file at once, then read-only database checks. */
import * as path from 'node:path';
import { inspectWorkerConfig, type Env } from '../config/load';
import type { WorkerConfig } from '../config/types';
import { preflightAll, type PreflightResult } from './preflight';
import { displayTable } from '../postgres/sql';
import { transactionLogFacts, transactionProblem } from '../kafka/topics';
import { describeError, problemsFound } from '../util/errors';

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

/**
 * Connectors with sink.delivery exactly_once need a cluster that can run transactions: asked of
 * Kafka once. A cluster that cannot is a problem of each such connector; a cluster that cannot be
 * asked is one problem of the worker file's kafka section.
 */
async function transactionProblems(config: WorkerConfig): Promise<string[]> {
  const eos = config.connectors.filter((c) => c.delivery === 'exactly_once');
  if (eos.length === 0) return [];
  let problem: string | null;
  try {
    problem = transactionProblem(await transactionLogFacts(config.kafka));
  } catch (e) {
    return [`${path.relative(process.cwd(), config.file) || config.file}: /kafka: cannot check that Kafka can run transactions (sink.delivery exactly_once): ${describeError(e)}`];
  }
  if (problem === null) return [];
  return eos.map((c) => `${c.file}: /sink/delivery: exactly_once needs Kafka transactions, but ${problem}; fix the brokers, or set sink.delivery to at_least_once`);
}

export async function validateCommand(workerFile: string, env: Env, out: (line: string) => void, err: (line: string) => void): Promise<number> {
  const v = await validateAll(workerFile, env);
  const problems = [...v.problems, ...v.unreachable, ...(v.config ? await transactionProblems(v.config) : [])];
  if (problems.length > 0) {
    err(`${problemsFound(problems.length)}:`);
    for (const p of problems) err(`  ${p}`);
    return 2;
  }
  for (const p of v.preflight) {
    const plan = p.plan;
    if (plan) out(`ok  ${p.connector}: ${displayTable(plan.table)} (key ${plan.keyColumns.map((c) => c.name).join(', ')}; ${plan.valueColumns.length} columns in the value)`);
  }
  const eos = v.config?.connectors.filter((c) => c.delivery === 'exactly_once').length ?? 0;
  if (eos > 0) out(`ok  Kafka can run transactions (${eos} exactly_once connector(s))`);
  out(`config is valid: ${v.config?.connectors.length ?? 0} connector(s)`);
  return 0;
}
