/**
 * One daemon owns PODS_DIR at a time (docs/operations.md, "Rolling updates"): two CLI daemons on the
 * same paths, in both orders. (a) a second daemon asks the first to hand over: the first drains and
 * exits 0, the second re-adopts its sandboxes and serves; (b) an owner that does not hand over (here:
 * stopped with SIGSTOP) keeps PODS_DIR, and the newcomer exits 3 after OWNER_WAIT saying why; (c) the
 * lock of a SIGKILLed daemon is taken over without waiting.
 */
import { spawn } from 'node:child_process';
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Hypervisor } from '../../src/proto/gen/hypervisor/hypervisor_pb.js';
import { TtrpcClient } from '../../src/ttrpc/client.js';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import { serviceClient } from '../../src/ttrpc/typed.js';

type HypervisorClient = ReturnType<typeof serviceClient<typeof Hypervisor extends GenService<infer M extends GenServiceMethods> ? M : never>>;
import { ChildDaemon } from '../helpers/child-daemon.js';
import { SANDBOX_ID, shimAnnotations } from '../helpers/daemon-harness.js';

const CLI = new URL('../../src/cli/cloud-api-adaptor.ts', import.meta.url).pathname;

// Each CLI start loads the TypeScript sources through tsx: on a busy 2-core machine that takes 10–20 s.
const STARTUP_MS = 90_000;
const TEST_MS = 240_000;

let root: string;
const started: ChildDaemon[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'caa-own-'));
});

afterEach(async () => {
  for (const d of started.splice(0)) {
    if (d.child.exitCode === null && d.child.signalCode === null) {
      d.child.kill('SIGCONT');
      d.child.kill('SIGKILL');
      await d.exited;
    }
  }
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function paths(name: string): { socket: string; pods: string; args: string[] } {
  const dir = join(root, name);
  const socket = join(dir, 'hv.sock');
  const pods = join(dir, 'pods');
  return { socket, pods, args: ['local', '-socket', socket, '-pods-dir', pods, '--state-dir', join(dir, 'state'), '-disable-tls'] };
}

/** Node itself (not the tsx wrapper): the pid and the signals must be the daemon's. */
function daemon(args: string[], env: Record<string, string> = {}): ChildDaemon {
  const d = new ChildDaemon(spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { env: { ...process.env, PROBE_PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] }));
  started.push(d);
  return d;
}

/** One call on a fresh connection, as the Go shim dials per call. */
async function hv<T>(socket: string, call: (h: HypervisorClient) => Promise<T>): Promise<T> {
  const client = await TtrpcClient.connectUnix(socket);
  try {
    return await call(serviceClient(client, Hypervisor));
  } finally {
    client.close();
  }
}

async function ownerPid(pods: string): Promise<number> {
  return (JSON.parse(await readFile(join(pods, '.owner'), 'utf8')) as { pid: number }).pid;
}

/** A daemon started on `args` that has got as far as serving the Hypervisor service. */
async function serving(args: string[], env: Record<string, string> = {}): Promise<ChildDaemon> {
  const d = daemon(args, env);
  await d.until('serving hypervisor.Hypervisor', STARTUP_MS);
  return d;
}

/** CreateVM through `socket`, answered by `d` (its log says it created the sandbox). */
async function createsSandbox(socket: string, d: ChildDaemon): Promise<void> {
  await hv(socket, (h) => h.createVM({ id: SANDBOX_ID, annotations: shimAnnotations(), networkNamespacePath: '' }));
  await d.until(`create a sandbox ${SANDBOX_ID}`);
}

/** SIGTERM drains the daemon and it exits 0. */
async function stopsCleanly(d: ChildDaemon): Promise<void> {
  d.child.kill('SIGTERM');
  expect(await d.exited).toBe(0);
}

describe('PODS_DIR ownership between two daemons', () => {
  it('(a) a second daemon on the same paths: the first hands over and exits 0, the second re-adopts and serves', async () => {
    const p = paths('a');
    const first = await serving(p.args);
    await hv(p.socket, (h) => h.createVM({ id: SANDBOX_ID, annotations: shimAnnotations(), networkNamespacePath: '' }));

    const second = daemon(p.args);
    await second.until('asked it to hand over', STARTUP_MS);
    expect(await first.exited).toBe(0);
    expect(first.text()).toContain('a successor is waiting');
    expect(first.text()).toContain('handing PODS_DIR over (draining as on SIGTERM)');
    expect(first.text()).toContain('VMs are left running');

    await second.until(`re-adopted sandbox ${SANDBOX_ID}`, STARTUP_MS);
    await second.until('serving hypervisor.Hypervisor', STARTUP_MS);
    expect(second.text()).toContain(`PODS_DIR ${p.pods} handed over by pid ${first.child.pid}`);
    expect(await ownerPid(p.pods)).toBe(second.child.pid);
    // The second serves the sandbox the first created.
    await hv(p.socket, (h) => h.stopVM({ id: SANDBOX_ID }));
    await second.until(`sandbox ${SANDBOX_ID} removed`);

    await stopsCleanly(second);
    await expect(access(join(p.pods, '.owner'))).rejects.toThrow();
  }, TEST_MS);

  it('(b) an owner that does not hand over keeps PODS_DIR; the newcomer exits 3 after OWNER_WAIT, naming the owner', async () => {
    const p = paths('b');
    const first = await serving(p.args);
    first.child.kill('SIGSTOP'); // stuck: alive, but it neither serves nor hands over

    const second = daemon(p.args, { OWNER_WAIT: '2s' });
    expect(await second.exited).toBe(3);
    const out = second.text();
    expect(out).toContain(`PODS_DIR ${p.pods} is owned by another cloud-api-adaptor (pid ${first.child.pid} on`);
    expect(out).toContain('within OWNER_WAIT=2s');
    expect(out).not.toContain('serving hypervisor.Hypervisor');

    first.child.kill('SIGCONT');
    // The first still owns PODS_DIR and still serves.
    expect(await ownerPid(p.pods)).toBe(first.child.pid);
    await createsSandbox(p.socket, first);
    expect(first.child.exitCode).toBeNull();
    expect(first.text()).not.toContain('a successor is waiting');
    await stopsCleanly(first);
  }, TEST_MS);

  it('(c) the lock of a SIGKILLed daemon is taken over without waiting', async () => {
    const p = paths('c');
    const first = await serving(p.args);
    first.child.kill('SIGKILL');
    await first.exited;
    expect(await ownerPid(p.pods)).toBe(first.child.pid);

    const second = await serving(p.args, { OWNER_WAIT: '10m' });
    expect(second.text()).toContain(`took over PODS_DIR ${p.pods} from a dead daemon (pid ${first.child.pid} on`);
    expect(second.text()).toContain(`pid ${first.child.pid} no longer exists`);
    expect(second.text()).not.toContain('asked it to hand over');
    expect(await ownerPid(p.pods)).toBe(second.child.pid);
    await stopsCleanly(second);
  }, TEST_MS);

  it('a second daemon with another PODS_DIR does not take a live socket (exit 3), and the first keeps serving', async () => {
    const p = paths('d');
    const first = await serving(p.args);
    const other = paths('d2');
    const second = daemon(['local', '-socket', p.socket, '-pods-dir', other.pods, '--state-dir', join(root, 'd2', 'state'), '-disable-tls']);
    expect(await second.exited).toBe(3);
    expect(second.text()).toContain(`another process serves on ${p.socket}`);
    await createsSandbox(p.socket, first);
    // The newcomer let go of its own PODS_DIR.
    await expect(access(join(other.pods, '.owner'))).rejects.toThrow();
    await stopsCleanly(first);
  }, TEST_MS);
});
