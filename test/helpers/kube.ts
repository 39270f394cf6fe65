/**
 * A real Kubernetes control plane for the tests: etcd and kube-apiserver built from Go modules by
 * scripts/build-backends.sh (--only etcd, --only kube-apiserver; cached by version), started on
 * 127.0.0.1 on free ports with a static admin token. No controllers and no kubelet run: objects
 * stay exactly as the test writes them (a Pod is "bound" by its spec.nodeName, its status patched).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts, repoRoot, sleep } from './backends';

export interface KubeBinaries {
  etcd: string;
  kubeApiserver: string;
}

let cached: KubeBinaries | undefined;

function buildOne(target: 'etcd' | 'kube-apiserver'): string {
  const script = join(repoRoot, 'scripts/build-backends.sh');
  let result = spawnSync('bash', [script, '--print-paths', '--only', target], { encoding: 'utf8' });
  if (result.status !== 0) {
    result = spawnSync('bash', [script, '--only', target], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 60 * 60 * 1000 });
    if (result.status !== 0) {
      throw new Error(`scripts/build-backends.sh --only ${target} failed (exit ${result.status ?? result.signal}); see its log under /var/cache/ebpf-otel/logs/`);
    }
  }
  const line = result.stdout.split('\n').find((l) => l.startsWith(`${target}=`));
  if (!line) throw new Error(`scripts/build-backends.sh --only ${target} printed no path`);
  return line.slice(target.length + 1);
}

/** Paths of etcd and kube-apiserver, building them first when missing (minutes, cold). */
export function ensureKubeBinaries(): KubeBinaries {
  cached ??= { etcd: buildOne('etcd'), kubeApiserver: buildOne('kube-apiserver') };
  return cached;
}

export interface KubeResponse {
  status: number;
  body: Record<string, unknown>;
}

export interface KubeHandle {
  /** https://127.0.0.1:PORT */
  server: string;
  adminToken: string;
  request(method: string, path: string, body?: unknown, contentType?: string): Promise<KubeResponse>;
  /** POSTs an object with ?fieldValidation=Strict; throws with the API's message unless 201. */
  create(object: Record<string, unknown>): Promise<Record<string, unknown>>;
  /** A kubeconfig file for `token` (default: the admin token). */
  kubeconfig(token?: string): string;
  stop(): Promise<void>;
}

/** The REST collection of an object, from its apiVersion and kind (the kinds our manifests and tests use). */
export function collectionPath(object: Record<string, unknown>): string {
  const apiVersion = String(object.apiVersion);
  const kind = String(object.kind);
  const namespace = (object.metadata as { namespace?: string } | undefined)?.namespace;
  const plural: Record<string, string> = {
    Namespace: 'namespaces', ServiceAccount: 'serviceaccounts', ConfigMap: 'configmaps', Service: 'services', Pod: 'pods',
    DaemonSet: 'daemonsets', Deployment: 'deployments', ReplicaSet: 'replicasets',
    ClusterRole: 'clusterroles', ClusterRoleBinding: 'clusterrolebindings', Role: 'roles', RoleBinding: 'rolebindings',
  };
  const resource = plural[kind];
  if (!resource) throw new Error(`collectionPath: no REST path known for kind ${kind}`);
  const base = apiVersion === 'v1' ? '/api/v1' : `/apis/${apiVersion}`;
  const clusterScoped = ['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(kind);
  return clusterScoped || !namespace ? `${base}/${resource}` : `${base}/namespaces/${namespace}/${resource}`;
}

interface Proc {
  child: ChildProcess;
  exited: Promise<void>;
}

function launch(binary: string, args: string[], logFile: string): Proc {
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  return { child, exited };
}

async function stopProc(p: Proc): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 10_000);
  await p.exited;
  clearTimeout(timer);
}

function logTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-20).join('\n');
  } catch {
    return '(no log)';
  }
}

async function waitUntil(what: string, proc: Proc, logFile: string, check: () => Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) throw new Error(`${what} exited (${proc.child.exitCode}); log ${logFile}:\n${logTail(logFile)}`);
    try {
      if (await check()) return;
    } catch {
      // not up yet
    }
    await sleep(200);
  }
  throw new Error(`${what} not ready after ${timeoutMs} ms; log ${logFile}:\n${logTail(logFile)}`);
}

export async function startKube(): Promise<KubeHandle> {
  const bins = ensureKubeBinaries();
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-otel-kube-'));
  const [clientPort, peerPort, apiPort] = (await freePorts(3)) as [number, number, number];
  const etcdLog = join(dir, 'etcd.log');
  const etcd = launch(bins.etcd, [
    '--name', 'test', '--data-dir', join(dir, 'etcd'),
    '--listen-client-urls', `http://127.0.0.1:${clientPort}`, '--advertise-client-urls', `http://127.0.0.1:${clientPort}`,
    '--listen-peer-urls', `http://127.0.0.1:${peerPort}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peerPort}`,
    '--initial-cluster', `test=http://127.0.0.1:${peerPort}`,
  ], etcdLog);
  const procs: Proc[] = [etcd];
  const stop = async (): Promise<void> => {
    for (const p of [...procs].reverse()) await stopProc(p);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitUntil('etcd', etcd, etcdLog, async () => {
      const r = await fetch(`http://127.0.0.1:${clientPort}/health`, { signal: AbortSignal.timeout(2000) });
      return r.ok;
    });

    const adminToken = randomBytes(16).toString('hex');
    writeFileSync(join(dir, 'tokens.csv'), `${adminToken},admin,admin-uid,system:masters\n`);
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(dir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(join(dir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    mkdirSync(join(dir, 'certs'));
    const apiLog = join(dir, 'kube-apiserver.log');
    const api = launch(bins.kubeApiserver, [
      `--etcd-servers=http://127.0.0.1:${clientPort}`,
      '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1', `--secure-port=${apiPort}`,
      `--cert-dir=${join(dir, 'certs')}`,
      `--token-auth-file=${join(dir, 'tokens.csv')}`,
      '--authorization-mode=RBAC',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${join(dir, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
      '--service-cluster-ip-range=10.96.0.0/16',
      '--endpoint-reconciler-type=none',
      '--allow-privileged=true',
    ], apiLog);
    procs.push(api);
    const server = `https://127.0.0.1:${apiPort}`;

    const call = (method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<KubeResponse> =>
      new Promise((resolve, reject) => {
        const payload = body === undefined ? undefined : JSON.stringify(body);
        const req = request(`${server}${path}`, {
          method,
          // Loopback to a server we just started with its own self-signed certificate.
          rejectUnauthorized: false,
          headers: {
            authorization: `Bearer ${adminToken}`,
            accept: 'application/json',
            ...(payload !== undefined ? { 'content-type': contentType, 'content-length': Buffer.byteLength(payload) } : {}),
          },
          timeout: 10_000,
        }, (res) => {
          let text = '';
          res.on('data', (d: Buffer) => { text += d.toString(); });
          res.on('end', () => {
            let parsed: Record<string, unknown> = {};
            try {
              parsed = JSON.parse(text) as Record<string, unknown>;
            } catch {
              parsed = { text };
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
        });
        req.on('error', reject);
        req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
        if (payload !== undefined) req.write(payload);
        req.end();
      });

    await waitUntil('kube-apiserver', api, apiLog, async () => {
      const r = await call('GET', '/readyz');
      return r.status === 200;
    });

    return {
      server,
      adminToken,
      request: call,
      create: async (object) => {
        const r = await call('POST', `${collectionPath(object)}?fieldValidation=Strict`, object);
        if (r.status !== 201) {
          throw new Error(`creating ${String(object.kind)} ${JSON.stringify((object.metadata as { name?: string } | undefined)?.name)}: HTTP ${r.status}: ${String(r.body.message ?? JSON.stringify(r.body))}`);
        }
        return r.body;
      },
      kubeconfig: (token = adminToken) => {
        const file = join(dir, `kubeconfig-${randomBytes(4).toString('hex')}`);
        writeFileSync(file, JSON.stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: 'test', cluster: { server, 'insecure-skip-tls-verify': true } }],
          users: [{ name: 'test', user: { token } }],
          contexts: [{ name: 'test', context: { cluster: 'test', user: 'test' } }],
          'current-context': 'test',
        }));
        return file;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
