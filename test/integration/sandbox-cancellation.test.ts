/**
 * Cancellation through every async port of a sandbox: a StopVM or the StartVM deadline ends a start
 * stuck reading image-pull secrets (the read's signal aborts, no instance is created); CreateVM's
 * deadline ends a slow pod network inspection; the daemon's stop ends a hung pod network removal,
 * which the next daemon finishes. Fake ports only: an in-memory cloud, a pod network that records.
 */
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { PodNetworkConfig } from '../../src/podvm/apf-config.js';
import { InstanceReclaimer } from '../../src/shim/instance-reclaimer.js';
import { SandboxManager } from '../../src/shim/sandbox-manager.js';
import { SandboxStore } from '../../src/shim/sandbox-store.js';
import { UserDataComposer } from '../../src/shim/user-data-composer.js';
import { Code, TtrpcError, deadlineExceeded } from '../../src/ttrpc/codes.js';
import { DaemonHarness, SANDBOX_ID, shimAnnotations } from '../helpers/daemon-harness.js';
import { captureLogger } from '../helpers/capture-logger.js';
import { makeTempDir, removeDir } from '../helpers/async.js';
import { NoAgentTunnel } from '../helpers/no-agent-tunnel.js';
import { FakePodNetwork } from '../fakes/pod-network.js';
import { MemoryProvider } from '../fakes/memory-provider.js';

const exists = (p: string) => access(p).then(() => true, () => false);

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

/** A pull-secret read that never answers on its own; like the daemon's wiring, it answers "no credentials" once its signal aborts. */
class StuckSecretRead {
  signal: AbortSignal | undefined;
  private entered!: () => void;
  readonly started = new Promise<void>((r) => (this.entered = r));

  read = (_pod: { name: string; namespace: string }, signal: AbortSignal): Promise<string | undefined> => {
    this.signal = signal;
    this.entered();
    return new Promise((resolve) => signal.addEventListener('abort', () => resolve(undefined), { once: true }));
  };
}

/** A SandboxManager on a temp PODS_DIR whose user-data reads pull secrets through `registryAuth`. */
async function managerWithSecrets(registryAuth: StuckSecretRead['read']) {
  const dir = await makeTempDir('caa-cancel-');
  const provider = new MemoryProvider();
  const tunnel = new NoAgentTunnel(() => undefined);
  const composer = new UserDataComposer({ globalInitdata: '', scratchSpace: false, registryAuth });
  const { logger, logs } = captureLogger();
  const reclaimer = new InstanceReclaimer(provider, { backoff: { initialMs: 5, maxMs: 20 } });
  const manager = new SandboxManager({
    store: new SandboxStore(join(dir, 'pods')),
    provider,
    tunnel,
    reclaimer,
    logger,
    buildUserData: (s, signal) => composer.compose(s, signal),
    clusterName: 'test',
    nodeName: 'node-a',
    externalNetworkViaPodvm: false,
    startFailureCleanupTimeoutMs: 10_000,
  });
  cleanup = async () => {
    manager.stop();
    await reclaimer.stop();
    await manager.whenSettled();
    await removeDir(dir);
  };
  await manager.createVM({ id: SANDBOX_ID, annotations: shimAnnotations(), networkNamespacePath: '' }, new AbortController().signal);
  return { manager, provider, logs, podsDir: join(dir, 'pods') };
}

async function rejection(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(Error);
  return err as { code?: string; message: string };
}

/**
 * Starts the sandbox, waits until the start is inside the secret read, lets `end` stop it, and checks
 * what every ending must leave: the read's signal aborted, no cloud create, no instance.
 */
async function startEndedInSecretRead(end: (manager: SandboxManager, call: AbortController) => Promise<void> | void) {
  const secrets = new StuckSecretRead();
  const env = await managerWithSecrets(secrets.read);
  const call = new AbortController();
  const start = rejection(env.manager.startVM(SANDBOX_ID, call.signal));
  await secrets.started;
  expect(secrets.signal?.aborted).toBe(false);
  await end(env.manager, call);
  const err = await start;
  expect(secrets.signal?.aborted).toBe(true);
  await env.manager.whenSettled();
  expect(env.provider.calls.filter((c) => c.op === 'create')).toEqual([]);
  expect(env.provider.instances.size).toBe(0);
  return { ...env, err };
}

describe('StartVM stuck in user-data (the pull-secret read)', () => {
  it('a StopVM ends it promptly: the read is aborted, StartVM answers CANCELLED, no instance is created, the sandbox goes', async () => {
    const { err, manager, podsDir } = await startEndedInSecretRead((m) => m.stopVM(SANDBOX_ID));
    expect(err).toMatchObject({ code: 'CANCELLED', message: 'StartVM cancelled: StopVM was called' });
    expect(manager.size).toBe(0);
    expect(await exists(join(podsDir, SANDBOX_ID))).toBe(false);
  });

  it('the StartVM deadline ends it: DEADLINE_EXCEEDED, no instance, the sandbox back to created', async () => {
    // What the ttrpc server does at the caller's deadline.
    const { err, manager } = await startEndedInSecretRead((_m, call) => call.abort(deadlineExceeded()));
    expect(err).toMatchObject({ code: 'DEADLINE_EXCEEDED', message: 'StartVM deadline exceeded' });
    expect(manager.get(SANDBOX_ID)).toMatchObject({ phase: 'created', intent: 'run' });
  });
});

/** A pod network whose inspection or removal waits for its signal (or, when not `stuck`, answers at once). */
class StuckPodNetwork extends FakePodNetwork {
  prepareSignal: AbortSignal | undefined;
  disconnectSignal: AbortSignal | undefined;
  stuckDisconnect = false;
  private prepareAbortedAt!: () => void;
  readonly prepareAborted = new Promise<void>((r) => (this.prepareAbortedAt = r));
  private disconnectEntered!: () => void;
  readonly inDisconnect = new Promise<void>((r) => (this.disconnectEntered = r));

  override async prepare(netnsPath: string, vni: number, index: number, signal?: AbortSignal): Promise<PodNetworkConfig> {
    this.prepareSignal = signal;
    await new Promise<void>((_, reject) =>
      signal?.addEventListener('abort', () => {
        this.prepareAbortedAt();
        reject(signal.reason);
      }, { once: true }),
    );
    return super.prepare(netnsPath, vni, index);
  }

  override async disconnect(netnsPath: string, cfg: PodNetworkConfig, vmIp: string, signal?: AbortSignal): Promise<void> {
    this.disconnectSignal = signal;
    if (this.stuckDisconnect) {
      this.disconnectEntered();
      await new Promise<void>((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason), { once: true }));
    }
    await super.disconnect(netnsPath, cfg, vmIp);
  }
}

describe('CreateVM with a slow pod network inspection', () => {
  it('the call\'s deadline aborts the inspection; nothing is left', { timeout: 10_000 }, async () => {
    const net = new StuckPodNetwork();
    const h = await DaemonHarness.start({ podNetwork: net });
    cleanup = () => h.close();
    const hv = await h.hypervisor();
    const err = await hv
      .createVM({ id: SANDBOX_ID, annotations: shimAnnotations(), networkNamespacePath: '/var/run/netns/cni-1' }, { timeoutMs: 200 })
      .then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(TtrpcError);
    expect((err as TtrpcError).code).toBe(Code.DEADLINE_EXCEEDED);
    await net.prepareAborted;
    // The call's deadline, not the daemon's own 30 s bound.
    expect(net.prepareSignal?.reason).toBeInstanceOf(TtrpcError);
    expect((net.prepareSignal?.reason as TtrpcError).code).toBe(Code.DEADLINE_EXCEEDED);
    await h.waitFor(() => h.daemon.manager.size === 0);
    expect(await exists(join(h.config.podsDir, SANDBOX_ID))).toBe(false);
    expect(h.provider.calls).toEqual([]);
  });
});

describe('removing the pod network', () => {
  it('gets a signal; a removal hung at the daemon\'s stop is cut short, left recorded, and finished by the next daemon', async () => {
    const net = new StuckPodNetwork();
    net.prepare = (netnsPath, vni, index) => FakePodNetwork.prototype.prepare.call(net, netnsPath, vni, index);
    const h = await DaemonHarness.start({ podNetwork: net });
    cleanup = () => h.close();
    const hv = await h.hypervisor();
    await hv.createVM({ id: SANDBOX_ID, annotations: shimAnnotations(), networkNamespacePath: '/var/run/netns/cni-1' });
    await hv.startVM({ id: SANDBOX_ID });
    expect(net.connected.size).toBe(1);

    net.stuckDisconnect = true;
    await hv.stopVM({ id: SANDBOX_ID });
    await net.inDisconnect;
    expect(net.disconnectSignal?.aborted).toBe(false);
    await h.stopDaemon();
    expect(net.disconnectSignal?.aborted).toBe(true);
    const saved = JSON.parse(await readFile(join(h.config.podsDir, SANDBOX_ID, 'state.json'), 'utf8'));
    expect(saved).toMatchObject({ phase: 'stopping', intent: 'remove', networkConnected: true });
    expect(h.logged('was cut short by the daemon\'s stop; the next daemon finishes it')).toBe(true);

    net.stuckDisconnect = false;
    await h.restart();
    await h.settle();
    expect(net.connected.size).toBe(0);
    expect(h.provider.instances.size).toBe(0);
    expect(await exists(join(h.config.podsDir, SANDBOX_ID))).toBe(false);
  });
});
