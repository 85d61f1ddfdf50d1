import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildProgram } from '../../src/cli/main';
import { WORKER_NODE_FLAGS } from '../../src/cli/node-flags';

const ROOT = path.resolve(__dirname, '..', '..', '..');

function run(cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout + r.stderr };
}

describe('the command line', () => {
  it('runs as `npx pg-kafka-cdc --help` from the repo root after the build', function () {
    this.timeout(60_000);
    const r = run('npx', ['--no-install', 'pg-kafka-cdc', '--help']);
    expect(r.code, r.out).to.equal(0);
    for (const command of ['validate', 'run', 'teardown', 'tail']) expect(r.out).to.contain(command);
  });

  it('documents every command and every option in the README', () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const block = readme.slice(readme.indexOf('## The command line'), readme.indexOf('## Configuration'));
    const program = buildProgram(() => undefined);
    expect(program.commands.length).to.be.greaterThan(5);
    for (const command of program.commands) {
      const line = block.split('\n').find((l) => l.startsWith(`pg-kafka-cdc ${command.name()} `));
      expect(line, `README: no line for the command ${command.name()}`).to.not.equal(undefined);
      for (const option of command.options) {
        const shown = [option.long, option.short].some((flag) => flag && new RegExp(`(^|[\\s\\[|])${flag}([\\s\\]]|$)`).test(line ?? ''));
        expect(shown, `README: ${command.name()} ${option.long}`).to.equal(true);
      }
    }
  });

  it('answers a usage error with exit code 2 and no stack trace', () => {
    for (const args of [['frobnicate'], ['validate'], ['run', '--config']]) {
      const r = run(process.execPath, ['dist/src/cli/main.js', ...args]);
      expect(r.code, `${args.join(' ')}: ${r.out}`).to.equal(2);
      expect(r.out).to.not.match(/\n\s+at /);
    }
  });

  it('answers a missing config file with exit code 2, naming the file', () => {
    const r = run(process.execPath, ['dist/src/cli/main.js', 'validate', '--config', 'nope/worker.json']);
    expect(r.code).to.equal(2);
    expect(r.out).to.contain('nope/worker.json').and.contain('does not exist');
  });

  it('runs with the same V8 flags from the shebang, the container image, the tests and the benchmark', () => {
    const flags = WORKER_NODE_FLAGS.join(' ');
    expect(fs.readFileSync(path.join(ROOT, 'src', 'cli', 'main.ts'), 'utf8').split('\n')[0]).to.equal(`#!/usr/bin/env -S node ${flags}`);
    expect(fs.readFileSync(path.join(ROOT, 'dist', 'src', 'cli', 'main.js'), 'utf8').split('\n')[0]).to.equal(`#!/usr/bin/env -S node ${flags}`);
    const entrypoint = /^ENTRYPOINT (.*)$/m.exec(fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'))?.[1];
    expect(JSON.parse(entrypoint ?? '[]')).to.deep.equal(['node', ...WORKER_NODE_FLAGS, '/app/dist/src/cli/main.js']);
    for (const user of ['bench/lib.ts', 'test/helpers/worker.ts']) expect(fs.readFileSync(path.join(ROOT, user), 'utf8'), user).to.contain('...WORKER_NODE_FLAGS');
  });

  it('asks for the same Node.js major everywhere: package.json engines, the Makefile bootstrap, the CLI check', () => {
    const engines = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
    const ensure = /^NODE_MAJOR=(\d+)$/m.exec(fs.readFileSync(path.join(ROOT, 'scripts', 'node', 'ensure.sh'), 'utf8'))?.[1];
    const cli = /const NEEDED_MAJOR = (\d+);/.exec(fs.readFileSync(path.join(ROOT, 'src', 'cli', 'require-node.ts'), 'utf8'))?.[1];
    const docker = /^FROM node:(\d+)-slim AS runtime$/m.exec(fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'))?.[1];
    expect(engines).to.equal(`>=${ensure}`);
    expect(cli).to.equal(ensure);
    expect(docker).to.equal(ensure);
  });
});
