/**
 * Crash survival: 50 pod lifecycles on the local provider while the daemon is SIGKILLed at random
 * moments and restarted. The "shim" here behaves like the kubelet + Kata shim pair: a failed
 * CreateVM/StartVM is followed by StopVM (retried until the daemon answers), a started pod is
 * checked through its agent socket, most pods are stopped, some are left running.
 * At the end: no instance without a live sandbox, the pods left running still answer through their
 * agent sockets, and after stopping them nothing is left (processes, links, iptables rules).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fromBinary } from '@bufbuild/protobuf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HealthCheckResponseSchema, HealthCheckResponse_ServingStatus } from '../../src/proto/gen/agent/agent_pb.js';
import { Hypervisor } from '../../src/proto/gen/hypervisor/hypervisor_pb.js';
import { TtrpcClient, serviceClient } from '../../src/ttrpc/index.js';
import { shimAnnotations, type DaemonHarness } from '../helpers/daemon-harness.js';
import { forceCleanLocalInstances, localInstanceRecords, survivingNetwork } from '../helpers/local-instances.js';
import { seededRandom } from '../../bench/stats.js';
import { transpileClosure } from '../helpers/transpile.js';
import { goShimDeadline } from '../helpers/go-deadline.js';

const run = promisify(execFile);
const root = new URL('../..', import.meta.url).pathname;
// Plain JavaScript for every process (as production runs dist/): 50 lifecycles start 100 forwarder
// and agent processes, and each would spend about a second of CPU in the tsx loader.
const ENTRIES = ['src/cli/cloud-api-adaptor.ts', 'src/cli/agent-protocol-forwarder.ts', 'test/fakes/kata-agent-main.ts'];
let CLI = '';
let AGENT = '';
const LIFECYCLES = 50;
const CONCURRENCY = 5;
// A range of its own: other e2e files (run in parallel) use 10.235 and 10.236.
const CIDR_PREFIX = '10.233.';
const BRIDGE = 'caabr233';
const isRoot = process.getuid?.() === 0;

let dir: string;
let env: Record<string, string>;
let daemon: ChildProcess | undefined;
const output: string[] = [];
const random = seededRandom(Number(process.env.CRASH_SEED ?? 20261129));

function startDaemon(): ChildProcess {
  const child = spawn(process.execPath, [CLI, 'local'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
  daemon = child;
  return child;
}

async function killDaemon(): Promise<void> {
  const d = daemon;
  if (!d || d.exitCode !== null || d.signalCode !== null) return;
  const exited = new Promise((r) => d.once('exit', r));
  d.kill('SIGKILL');
  await exited;
}

/** One shim call on a fresh connection (the Go shim dials per call); retried while the daemon is down. */
type HvClient = Awaited<ReturnType<DaemonHarness['hypervisor']>>;

async function hv<T>(call: (h: HvClient) => Promise<T>, deadline = Date.now() + 60_000): Promise<T> {
  for (;;) {
    let client: TtrpcClient | undefined;
    try {
      client = await TtrpcClient.connectUnix(env.REMOTE_HYPERVISOR_ENDPOINT!);
      return await call(serviceClient(client, Hypervisor));
    } catch (err) {
      if (Date.now() > deadline) throw err;
      const text = String((err as Error).message);
      // A daemon that is down or was killed mid-call: wait for the next one. Anything else is the answer.
      if (!/ECONNREFUSED|ENOENT|UNAVAILABLE|closed|EPIPE|ECONNRESET/.test(text)) throw err;
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      client?.close();
    }
  }
}

/** Resolves once the hypervisor socket accepts a connection. */
async function serving(): Promise<void> {
  for (;;) {
    try {
      (await TtrpcClient.connectUnix(env.REMOTE_HYPERVISOR_ENDPOINT!)).close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

async function agentHealthy(socket: string): Promise<boolean> {
  let client: TtrpcClient | undefined;
  try {
    client = await TtrpcClient.connectUnix(socket);
    const res = fromBinary(HealthCheckResponseSchema, await client.call('grpc.Health', 'Check', new Uint8Array(0), goShimDeadline(20_000)));
    return res.status === HealthCheckResponse_ServingStatus.SERVING;
  } catch {
    return false;
  } finally {
    client?.close();
  }
}

interface SandboxFile {
  id: string;
  phase: string;
  instance?: { id: string };
}

async function savedSandboxes(): Promise<SandboxFile[]> {
  const names = await readdir(env.PODS_DIR!).catch(() => [] as string[]);
  const out: SandboxFile[] = [];
  for (const n of names) {
    const text = await readFile(join(env.PODS_DIR!, n, 'state.json'), 'utf8').catch(() => undefined);
    if (text) out.push(JSON.parse(text) as SandboxFile);
  }
  return out;
}

/** Rules of this test's address range (the local provider's bridge rules, per-instance rules if any). */
async function ourRules(): Promise<string[]> {
  const out = (await run('iptables-save').catch(() => ({ stdout: '' }))).stdout;
  return out.split('\n').filter((l) => l.startsWith('-A') && l.includes(CIDR_PREFIX)).sort();
}

/** The links and namespaces an instance record names that still exist. */
async function leftovers(records: Iterable<{ netns?: string; hostIf?: string; podNetns?: string }>): Promise<string[]> {
  const { namespaces, links } = await survivingNetwork(records);
  return [...links.map((l) => `link ${l}`), ...namespaces.map((ns) => `netns ${ns}`)];
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'caa-crash-'));
  const js = join(dir, 'js');
  await transpileClosure(ENTRIES.map((e) => join(root, e)), js);
  CLI = join(js, 'src/cli/cloud-api-adaptor.js');
  AGENT = join(js, 'test/fakes/kata-agent-main.js');
  env = {
    REMOTE_HYPERVISOR_ENDPOINT: join(dir, 'hv.sock'),
    PODS_DIR: join(dir, 'pods'),
    CAA_STATE_DIR: join(dir, 'state'),
    PROBE_PORT: '0',
    LOG_LEVEL: 'info',
    LOCAL_ADDRESS_PREFIX: `127.${50 + (process.pid % 40)}`,
    LOCAL_NETNS_CIDR: '10.233.0.0/16',
    FORWARDER_PORT: String(21000 + (process.pid % 20000)),
    LOCAL_AGENT_COMMAND: `${process.execPath} ${AGENT} --socket {socket}`,
    // Failed starts must be cleaned up quickly for the end-state check.
    START_FAILURE_CLEANUP_TIMEOUT: '2m',
  };
});

afterAll(async () => {
  await killDaemon();
  await forceCleanLocalInstances(join(dir, 'state'), BRIDGE);
  await rm(dir, { recursive: true, force: true });
});

describe('crash survival (daemon SIGKILLed at random moments)', () => {
  it(`${LIFECYCLES} pod lifecycles: nothing leaks, running pods survive`, async () => {
    startDaemon();
    await serving();
    // After the bridge exists: its rules stay; anything added per instance must go.
    const rulesBefore = isRoot ? await ourRules() : [];
    // Every instance record ever seen, to check at the end that its links and namespaces are gone.
    const seen = new Map<string, { netns?: string; hostIf?: string; podNetns?: string }>();
    const watch = setInterval(() => {
      void localInstanceRecords(env.CAA_STATE_DIR!).then((rs) => rs.forEach((r) => r.ip && seen.set(r.id, r)), () => undefined);
    }, 100);
    let next = 0;
    let kills = 0;
    const leftRunning = new Map<string, string>(); // sandbox id → agent socket
    let stopped = 0;
    let failedStarts = 0;
    let busy = true;

    const lifecycle = async (n: number): Promise<void> => {
      const id = randomBytes(32).toString('hex');
      const annotations = shimAnnotations({ 'io.kubernetes.cri.sandbox-name': `crash-pod-${n}`, 'io.kubernetes.cri.sandbox-namespace': 'crash' });
      let socket: string;
      try {
        socket = (await hv((h) => h.createVM({ id, annotations, networkNamespacePath: '' }))).agentSocketPath;
        await hv((h) => h.startVM({ id }, { timeoutMs: 60_000 }));
        if (!(await agentHealthy(socket))) throw new Error('agent not healthy after StartVM');
      } catch {
        // The kubelet gives up on this sandbox: StopVM until the daemon says done.
        failedStarts++;
        await hv((h) => h.stopVM({ id }), Date.now() + 120_000);
        return;
      }
      if (random() < 0.7) {
        await hv((h) => h.stopVM({ id }), Date.now() + 120_000);
        stopped++;
      } else {
        leftRunning.set(id, socket);
      }
    };

    const workers = Array.from({ length: CONCURRENCY }, async () => {
      while (next < LIFECYCLES) await lifecycle(next++);
    });
    const killer = (async () => {
      while (busy && kills < 10) {
        // Kill at a random moment of a daemon that is up and serving.
        await serving();
        await new Promise((r) => setTimeout(r, 300 + random() * 2_000));
        if (!busy) break;
        await killDaemon();
        kills++;
        await new Promise((r) => setTimeout(r, random() * 300));
        startDaemon();
      }
    })();
    await Promise.all(workers);
    busy = false;
    await killer;
    expect(kills).toBeGreaterThanOrEqual(3);
    expect(stopped + failedStarts + leftRunning.size).toBe(LIFECYCLES);

    // One more restart, so the end state is what a restarted daemon converges to.
    await killDaemon();
    startDaemon();

    // Every pod left running still answers through its agent socket (proxy re-opened by the new daemon).
    for (const [id, socket] of leftRunning) {
      let healthy = false;
      const end = Date.now() + 60_000;
      while (!healthy && Date.now() < end) {
        healthy = await agentHealthy(socket);
        if (!healthy) await new Promise((r) => setTimeout(r, 200));
      }
      expect(healthy, `sandbox ${id} after the restarts`).toBe(true);
    }

    // Zero instances without a live sandbox: once background deletions finish, the provider's
    // instances are exactly those of the running sandboxes.
    const wanted = () => savedSandboxes().then((s) => new Set(s.filter((x) => x.phase === 'running').map((x) => x.instance!.id)));
    const end = Date.now() + 120_000;
    let records = await localInstanceRecords(env.CAA_STATE_DIR!);
    let live = await wanted();
    while ((records.length !== live.size || records.some((r) => !live.has(r.id))) && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 250));
      records = await localInstanceRecords(env.CAA_STATE_DIR!);
      live = await wanted();
    }
    expect(records.map((r) => r.id).sort()).toEqual([...live].sort());
    expect(live.size).toBe(leftRunning.size);
    expect((await savedSandboxes()).every((s) => s.phase === 'running')).toBe(true);

    // Stop the rest; then nothing of ours may remain.
    for (const id of leftRunning.keys()) await hv((h) => h.stopVM({ id }));
    const gone = Date.now() + 60_000;
    while (((await localInstanceRecords(env.CAA_STATE_DIR!)).length > 0 || (await savedSandboxes()).length > 0) && Date.now() < gone) {
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(await localInstanceRecords(env.CAA_STATE_DIR!)).toEqual([]);
    expect(await savedSandboxes()).toEqual([]);
    await killDaemon();
    clearInterval(watch);
    expect(seen.size).toBeGreaterThan(0);
    if (isRoot) {
      // As root every instance has its own namespace and veth (qdiscs live on those links).
      expect([...seen.values()].every((r) => r.hostIf && r.netns)).toBe(true);
      expect(await leftovers(seen.values())).toEqual([]);
      expect(await ourRules()).toEqual(rulesBefore);
    }
  }, 600_000);
});
