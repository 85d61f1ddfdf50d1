// Chart tests with the real helm binary (extracted from a devDependency by test/helpers/helm.ts).
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import { parse, parseAllDocuments } from 'yaml';
import { helmBinary, runHelm } from '../helpers/helm';
import { readSchema, schemaFields, type Schema } from '../helpers/schema-walk';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const CHART = path.join(ROOT, 'helm', 'pg-kafka-cdc');
const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'helm');
const FULL_VALUES = path.join(FIXTURES, 'full-values.yaml');
const RELEASE = 'r';
const FULLNAME = 'r-pg-kafka-cdc';
const CONFIG_PATH = '/etc/pg-kafka-cdc/worker.json';

interface Values {
  replicas: number;
  http: { port: number };
  existingSecret: string;
  secretEnv: Record<string, string>;
  connectors: Record<string, { name?: string }>;
  serviceMonitor: { enabled: boolean };
  networkPolicy?: { enabled: boolean; ingressFrom: unknown[]; egress: unknown[] };
}
interface Manifest {
  kind: string;
  metadata: { name: string };
  data?: Record<string, string>;
  spec?: unknown;
}
interface EnvVar {
  name: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } };
}
interface Probe {
  httpGet: { path: string; port: string | number };
}
interface Container {
  args: string[];
  ports: { name: string; containerPort: number }[];
  env?: EnvVar[];
  livenessProbe: Probe;
  readinessProbe: Probe;
  securityContext: Record<string, unknown>;
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface Volume {
  name: string;
  configMap?: { name: string; items: { key: string; path: string }[] };
  emptyDir?: object;
}
interface DeploymentSpec {
  replicas: number;
  selector: { matchLabels: Record<string, string> };
  template: {
    metadata: { annotations: Record<string, string> };
    spec: { securityContext: Record<string, unknown>; terminationGracePeriodSeconds: number; containers: Container[]; volumes: Volume[] };
  };
}

function helm(args: string[]): { status: number; stdout: string; stderr: string } {
  return runHelm(args, ROOT);
}

function render(...extraArgs: string[]): Manifest[] {
  const result = helm(['template', RELEASE, CHART, ...extraArgs]);
  expect(result.status, result.stderr).to.equal(0);
  return parseAllDocuments(result.stdout)
    .map((doc) => {
      if ('errors' in doc && doc.errors.length > 0) throw doc.errors[0];
      return doc.toJS() as Manifest | null;
    })
    .filter((m): m is Manifest => m !== null);
}

function one(manifests: Manifest[], kind: string): Manifest {
  const found = manifests.filter((m) => m.kind === kind);
  expect(found, `${kind} documents`).to.have.length(1);
  return found[0];
}

function deploymentSpec(manifests: Manifest[]): DeploymentSpec {
  return one(manifests, 'Deployment').spec as DeploymentSpec;
}

function readYaml<T>(file: string): T {
  return parse(fs.readFileSync(file, 'utf8')) as T;
}

// strictRequired is off as in src/config/schema.ts: the schemas' oneOf branches name
// properties declared by the parent schema, which strict mode would reject.
function schemaValidator(file: string) {
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
  return ajv.compile(JSON.parse(fs.readFileSync(path.join(ROOT, 'schemas', file), 'utf8')) as object);
}

const defaults = readYaml<Values>(path.join(CHART, 'values.yaml'));
const full = readYaml<Partial<Values>>(FULL_VALUES);
const cases: { title: string; args: string[]; values: Values }[] = [
  { title: 'default values', args: [], values: defaults },
  {
    title: 'the full example values',
    args: ['-f', FULL_VALUES],
    values: { ...defaults, ...full, secretEnv: { ...defaults.secretEnv, ...full.secretEnv } },
  },
];

describe('helm chart pg-kafka-cdc', function () {
  this.timeout(120000);

  before(function () {
    // Fails the whole suite, loudly, when the binary cannot be found or extracted.
    helmBinary();
  });

  for (const c of cases) {
    it(`passes helm lint --strict with ${c.title}`, function () {
      const result = helm(['lint', '--strict', CHART, ...c.args]);
      expect(result.status, result.stdout + result.stderr).to.equal(0);
    });
  }

  for (const c of cases) {
    describe(`rendered with ${c.title}`, function () {
      let manifests: Manifest[];
      before(function () {
        manifests = render(...c.args);
      });

      it('writes a worker.json that is valid against schemas/worker.schema.json', function () {
        const data = one(manifests, 'ConfigMap').data ?? {};
        const worker = JSON.parse(data['worker.json']) as { http: { host: string; port: number }; connectors_dir: string };
        const validate = schemaValidator('worker.schema.json');
        expect(validate(worker), JSON.stringify(validate.errors)).to.equal(true);
        expect(worker.http).to.deep.equal({ host: '0.0.0.0', port: c.values.http.port });
        expect(worker.connectors_dir).to.equal('connectors');
      });

      it('writes one connector file per connector, named after its key unless it names itself, valid against schemas/connector.schema.json', function () {
        const data = one(manifests, 'ConfigMap').data ?? {};
        const validate = schemaValidator('connector.schema.json');
        const keys = Object.keys(data)
          .filter((k) => k.startsWith('connector.'))
          .sort();
        expect(keys).to.deep.equal(
          Object.keys(c.values.connectors)
            .map((n) => `connector.${n}.json`)
            .sort(),
        );
        for (const [key, connector] of Object.entries(c.values.connectors)) {
          const rendered = JSON.parse(data[`connector.${key}.json`]) as { name: string };
          expect(validate(rendered), `${key}: ${JSON.stringify(validate.errors)}`).to.equal(true);
          expect(rendered.name).to.equal(connector.name ?? key);
        }
      });

      it('keeps secrets out of the ConfigMap: databases and SASL credentials are *_env references', function () {
        const text = Object.values(one(manifests, 'ConfigMap').data ?? {}).join('\n');
        expect(text).not.to.match(/"(url|username|password)"\s*:/);
        expect(text).not.to.match(/postgres(ql)?:\/\//);
      });

      it('mounts worker.json at /etc/pg-kafka-cdc/worker.json and each connector at /etc/pg-kafka-cdc/connectors/<name>.json', function () {
        const pod = deploymentSpec(manifests).template.spec;
        const config = pod.volumes.find((v) => v.name === 'config');
        expect(config?.configMap?.name).to.equal(FULLNAME);
        const expected = [{ key: 'worker.json', path: 'worker.json' }].concat(Object.keys(c.values.connectors).map((n) => ({ key: `connector.${n}.json`, path: `connectors/${n}.json` })));
        expect(config?.configMap?.items).to.have.deep.members(expected);
        const mounts = pod.containers[0].volumeMounts;
        expect(mounts).to.deep.include({ name: 'config', mountPath: '/etc/pg-kafka-cdc', readOnly: true });
        expect(mounts).to.deep.include({ name: 'tmp', mountPath: '/tmp' });
        expect(pod.volumes.find((v) => v.name === 'tmp')?.emptyDir).to.deep.equal({});
      });

      it('runs the worker with run --config /etc/pg-kafka-cdc/worker.json and the configured replicas', function () {
        const spec = deploymentSpec(manifests);
        expect(spec.template.spec.containers[0].args).to.deep.equal(['run', '--config', CONFIG_PATH]);
        expect(spec.replicas).to.equal(c.values.replicas);
        expect(spec.template.spec.terminationGracePeriodSeconds).to.equal(30);
      });

      it('exposes http.port as the container port named http, used by the Service', function () {
        const container = deploymentSpec(manifests).template.spec.containers[0];
        expect(container.ports).to.deep.equal([{ name: 'http', containerPort: c.values.http.port, protocol: 'TCP' }]);
        const service = one(manifests, 'Service').spec as { ports: { name: string; targetPort: string }[] };
        expect(service.ports[0]).to.include({ name: 'http', targetPort: 'http' });
      });

      it('probes liveness on /healthz and readiness on /readyz through the named http port', function () {
        const container = deploymentSpec(manifests).template.spec.containers[0];
        expect(container.livenessProbe.httpGet).to.deep.equal({ path: '/healthz', port: 'http' });
        expect(container.readinessProbe.httpGet).to.deep.equal({ path: '/readyz', port: 'http' });
      });

      it('runs as non-root uid 10001 with a read-only root filesystem, no privilege escalation, no capabilities and RuntimeDefault seccomp', function () {
        const pod = deploymentSpec(manifests).template.spec;
        expect(pod.securityContext).to.include({ runAsNonRoot: true, runAsUser: 10001 });
        expect(pod.securityContext.seccompProfile).to.deep.equal({ type: 'RuntimeDefault' });
        const container = pod.containers[0].securityContext;
        expect(container).to.include({ runAsNonRoot: true, runAsUser: 10001, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
        expect(container.capabilities).to.deep.equal({ drop: ['ALL'] });
        expect(container.seccompProfile).to.deep.equal({ type: 'RuntimeDefault' });
      });

      it('reads every secretEnv variable from the existingSecret key through secretKeyRef', function () {
        const env = deploymentSpec(manifests).template.spec.containers[0].env ?? [];
        const secretName = c.values.existingSecret || FULLNAME;
        for (const [name, key] of Object.entries(c.values.secretEnv)) {
          const found = env.find((e) => e.name === name);
          expect(found?.valueFrom?.secretKeyRef, name).to.deep.equal({ name: secretName, key });
        }
      });

      it('gives each pod a replica id of its own: PGKC_REPLICA_ID from the pod name', function () {
        const env = deploymentSpec(manifests).template.spec.containers[0].env ?? [];
        expect(env.find((e) => e.name === 'PGKC_REPLICA_ID')?.valueFrom).to.deep.equal({ fieldRef: { fieldPath: 'metadata.name' } });
      });

      it('annotates the pod template with the sha256 of the ConfigMap as checksum/config', function () {
        const annotations = deploymentSpec(manifests).template.metadata.annotations;
        expect(annotations['checksum/config']).to.match(/^[0-9a-f]{64}$/);
      });

      it(`${c.values.networkPolicy?.enabled ? 'renders' : 'leaves out'} the NetworkPolicy`, function () {
        const policies = manifests.filter((m) => m.kind === 'NetworkPolicy');
        const np = c.values.networkPolicy;
        expect(policies).to.have.length(np?.enabled ? 1 : 0);
        if (!np?.enabled) return;
        const spec = policies[0].spec as { podSelector: { matchLabels: Record<string, string> }; policyTypes: string[]; ingress: Array<{ ports: unknown[]; from: unknown[] }>; egress?: unknown[] };
        const deployment = deploymentSpec(manifests);
        expect(spec.podSelector.matchLabels).to.deep.equal(deployment.selector.matchLabels);
        expect(spec.ingress).to.deep.equal([{ ports: [{ port: 'http', protocol: 'TCP' }], from: np.ingressFrom.length > 0 ? np.ingressFrom : [{ podSelector: {} }] }]);
        expect(spec.policyTypes).to.deep.equal(np.egress.length > 0 ? ['Ingress', 'Egress'] : ['Ingress']);
        expect(spec.egress ?? []).to.deep.equal(np.egress);
      });

      it(`${c.values.serviceMonitor.enabled ? 'renders' : 'leaves out'} the ServiceMonitor`, function () {
        const monitors = manifests.filter((m) => m.kind === 'ServiceMonitor');
        expect(monitors).to.have.length(c.values.serviceMonitor.enabled ? 1 : 0);
        if (monitors.length === 1) {
          const endpoints = (monitors[0].spec as { endpoints: { port: string; path: string }[] }).endpoints;
          expect(endpoints[0]).to.include({ port: 'http', path: '/metrics' });
        }
      });
    });
  }

  it('changes checksum/config when a connector changes, and only then', function () {
    const checksum = (...args: string[]) => deploymentSpec(render('-f', FULL_VALUES, ...args)).template.metadata.annotations['checksum/config'];
    const base = checksum();
    expect(checksum()).to.equal(base);
    expect(checksum('--set', 'replicas=3')).to.equal(base);
    expect(checksum('--set', 'connectors.orders.sink.partitions=24')).to.not.equal(base);
    expect(checksum('--set', 'connectors.refunds.source.table_name=sales.refunds')).to.not.equal(base);
  });

  describe('rejects bad values', function () {
    const badFiles = fs
      .readdirSync(FIXTURES)
      .filter((f) => /^bad-values-.*\.yaml$/.test(f))
      .sort();

    it('has bad-values fixtures', function () {
      expect(badFiles.length).to.be.greaterThan(0);
    });

    for (const file of badFiles) {
      const text = fs.readFileSync(path.join(FIXTURES, file), 'utf8');
      const expected = /^# expect: (.+)$/m.exec(text)?.[1].trim();
      it(`fails helm template and helm lint --strict on ${file}, naming ${expected ?? '(missing # expect: line)'}`, function () {
        expect(expected, `${file} needs a "# expect: <text>" line`).to.be.a('string');
        const values = path.join(FIXTURES, file);
        const template = helm(['template', RELEASE, CHART, '-f', values]);
        expect(template.status, template.stdout).to.not.equal(0);
        expect(template.stderr).to.include(expected as string);
        const lint = helm(['lint', '--strict', CHART, '-f', values]);
        expect(lint.status).to.not.equal(0);
        expect(lint.stdout + lint.stderr).to.include(expected as string);
      });
    }
  });
});

describe("the chart's values schema for connectors", () => {
  // values.schema.json repeats the connector fields (with additionalProperties: false) so that
  // `helm install` rejects a typo; a field the worker gained but the chart lacks cannot be set there.
  const chart = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'helm', 'pg-kafka-cdc', 'values.schema.json'), 'utf8')) as Schema;
  const chartConnector: Schema = { ...(chart.$defs as Record<string, Schema>).connector, $defs: chart.$defs };
  const worker = new Map(schemaFields(readSchema('connector')).map((f) => [f.path, f.schema]));
  const inChart = new Map(schemaFields(chartConnector).map((f) => [f.path, f.schema]));

  it('has every field of schemas/connector.schema.json, and no other', () => {
    expect([...inChart.keys()].sort()).to.deep.equal([...worker.keys()].sort());
  });

  it('allows the same values: enums and integer bounds', () => {
    const differ: string[] = [];
    for (const [p, s] of worker) {
      const c = inChart.get(p);
      if (!c) continue;
      for (const k of ['enum', 'minimum', 'maximum', 'type'] as const) {
        if (k === 'type' && s.type === undefined) continue;
        if (JSON.stringify(s[k]) !== JSON.stringify(c[k])) differ.push(`${p}.${k}: worker ${JSON.stringify(s[k])}, chart ${JSON.stringify(c[k])}`);
      }
    }
    expect(differ).to.deep.equal([]);
  });
});
