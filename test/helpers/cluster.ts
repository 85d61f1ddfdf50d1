/**
 * Real PostgreSQL clusters of the tests' own (a primary and its streaming standby), from the server
 * binaries the machine's PostgreSQL package ships (scripts/postgres/up.sh installs it when missing),
 * in a temporary folder, on a free port, with trust auth. Used where a test needs what a shared
 * server cannot do: a failover.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from './worker';

function bin(): string {
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root) ? fs.readdirSync(root).filter((v) => fs.existsSync(path.join(root, v, 'bin', 'initdb'))) : [];
  if (versions.length === 0) throw new Error(`no PostgreSQL server binaries under ${root}: run \`make services-up\` (it installs Debian's postgresql package)`);
  return path.join(root, versions.sort((a, b) => Number(b) - Number(a))[0], 'bin');
}

/** Runs a server binary as the postgres user when the tests run as root (initdb and postgres refuse root). */
function run(tool: string, args: string[]): string {
  const asRoot = process.getuid?.() === 0;
  const cmd = asRoot ? 'runuser' : path.join(bin(), tool);
  const argv = asRoot ? ['-u', 'postgres', '--', path.join(bin(), tool), ...args] : args;
  const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${tool} ${args.join(' ')} exited ${r.status}: ${r.stderr || r.stdout || r.error?.message}`);
  return r.stdout;
}

export class PgCluster {
  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  /** A new primary, started: WAL for streaming standbys, trust auth on 127.0.0.1. */
  static async primary(): Promise<PgCluster> {
    const dir = PgCluster.folder();
    run('initdb', ['-D', dir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8']);
    fs.appendFileSync(path.join(dir, 'pg_hba.conf'), 'host replication all 127.0.0.1/32 trust\n');
    const c = new PgCluster(dir, await freePort());
    c.start();
    return c;
  }

  /** A streaming standby of this primary (pg_basebackup -R: asynchronous replication), started. */
  async standby(): Promise<PgCluster> {
    const dir = PgCluster.folder();
    fs.rmdirSync(dir);
    run('pg_basebackup', ['-h', '127.0.0.1', '-p', String(this.port), '-U', 'postgres', '-D', dir, '-R', '-X', 'stream', '-c', 'fast']);
    const c = new PgCluster(dir, await freePort());
    c.start();
    return c;
  }

  url(database = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  start(): void {
    run('pg_ctl', [
      '-D',
      this.dir,
      '-l',
      path.join(this.dir, 'server.log'),
      '-w',
      '-o',
      `-h 127.0.0.1 -p ${this.port} -k /tmp -c wal_level=replica -c max_wal_senders=4 -c max_connections=60`,
      'start',
    ]);
  }

  /** Stops the server: fast (a clean shutdown) or immediate (as a crash). */
  stop(mode: 'fast' | 'immediate' = 'fast'): void {
    if (fs.existsSync(path.join(this.dir, 'postmaster.pid'))) run('pg_ctl', ['-D', this.dir, '-m', mode, '-w', 'stop']);
  }

  /** Ends recovery: the standby becomes a primary, on a new timeline. */
  promote(): void {
    run('pg_ctl', ['-D', this.dir, '-w', 'promote']);
  }

  /** Stops the server and removes its folder. */
  remove(): void {
    try {
      this.stop('immediate');
    } finally {
      fs.rmSync(this.dir, { recursive: true, force: true });
    }
  }

  private static folder(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgkc-cluster-'));
    if (process.getuid?.() === 0) fs.chownSync(dir, Number(run_id('postgres', '-u')), Number(run_id('postgres', '-g')));
    fs.chmodSync(dir, 0o700);
    return dir;
  }
}

function run_id(user: string, flag: '-u' | '-g'): string {
  const r = spawnSync('id', [flag, user], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`no user ${user}: ${r.stderr}`);
  return r.stdout.trim();
}
