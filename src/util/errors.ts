/**
 * Errors that know whether trying again can help (after kafkajs' KafkaJSError / NonRetriableError).
 * Config errors are never retried; network, broker and transient database errors are. Kafka
 * failures are typed where they happen (kafka/errors.ts KafkaError), never recognised by their text.
 */
export class CdcError extends Error {
  readonly retriable: boolean;
  override readonly cause?: unknown;
  constructor(message: string, opts: { retriable: boolean; cause?: unknown }) {
    super(message);
    this.name = new.target.name;
    this.retriable = opts.retriable;
    this.cause = opts.cause;
  }
}

/** A user's configuration is wrong: report it, never retry it. */
export class ConfigError extends CdcError {
  /** One line per problem, each naming its file and JSON path or database object. */
  readonly problems: string[];
  constructor(problems: string[]) {
    super(problems.join('\n'), { retriable: false });
    this.problems = problems;
  }
}

/** The heading over a list of problems: "1 problem found", "3 problems found". */
export function problemsFound(n: number): string {
  return `${n} problem${n === 1 ? '' : 's'} found`;
}

/** Something transient failed (a connection, the broker): the connector retries with backoff. */
export class RetriableError extends CdcError {
  constructor(message: string, cause?: unknown) {
    super(message, { retriable: true, cause });
  }
}

/** The connector cannot go on without a change by its operator (e.g. its table was dropped). */
export class FatalError extends CdcError {
  constructor(message: string, cause?: unknown) {
    super(message, { retriable: false, cause });
  }
}

/** A short, secret-free description of any error for logs and status. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return redact(typeof code === 'string' ? `${err.message} (${code})` : err.message);
  }
  return redact(String(err));
}

/** Hides the password of every URL with credentials in a text (postgres://u:secret@h -> postgres://u:***@h). */
export function redact(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)[^@\s/]*@/gi, '$1***@');
}
