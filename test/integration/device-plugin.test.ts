/**
 * The peer-pod device plugin against a fake kubelet on real Unix sockets and real gRPC (grpc-js on
 * both sides): registration, ListAndWatch, health and count changes, Allocate, kubelet absent at
 * start, kubelet restart, refusals, a successor taking over, stop.
 */
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create, toBinary } from '@bufbuild/protobuf';
import { status } from '@grpc/grpc-js';
import { pino, type Logger } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ContainerAllocateResponseSchema,
  ContainerPreferredAllocationRequestSchema,
  PreferredAllocationRequestSchema,
  type Device,
} from '../../src/proto/gen/deviceplugin/v1beta1/api_pb.js';
import { DevicePluginError, PeerPodDevicePlugin, isDevicePluginError, type PeerPodDevicePluginOptions } from '../../src/k8s/device-plugin/index.js';
import { FakeKubelet } from '../fakes/kubelet/index.js';
import { rejectionOf, sleep, waitFor } from '../helpers/async.js';

interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  // Last in, first out: plugins and kubelets before their directory. Every step runs even if one fails.
  const errors: unknown[] = [];
  for (const fn of cleanups.splice(0).reverse()) await fn().catch((err: unknown) => errors.push(err));
  if (errors.length) throw errors[0];
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dp-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function capturingLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as LogLine) });
  return { logger, lines };
}

async function startKubelet(dir: string): Promise<FakeKubelet> {
  const kubelet = await FakeKubelet.start(dir);
  cleanups.push(() => kubelet.close());
  return kubelet;
}

/** A plugin (the defaults of makePlugin) started against a fresh fake kubelet, its 3 devices listed. */
async function registeredPlugin(): Promise<{ dir: string; kubelet: FakeKubelet; plugin: PeerPodDevicePlugin; lines: LogLine[] }> {
  const dir = await tempDir();
  const kubelet = await startKubelet(dir);
  const { plugin, lines } = makePlugin(dir);
  await plugin.start();
  await kubelet.waitForDevices((d) => d.length === 3);
  return { dir, kubelet, plugin, lines };
}

function makePlugin(dir: string, options: Partial<PeerPodDevicePluginOptions> = {}): { plugin: PeerPodDevicePlugin; lines: LogLine[] } {
  const { logger, lines } = capturingLogger();
  const plugin = new PeerPodDevicePlugin({
    count: 3,
    pluginDir: dir,
    logger,
    registerTimeoutMs: 2_000,
    pollIntervalMs: 200,
    backoff: { initialMs: 20, maxMs: 200 },
    ...options,
  });
  cleanups.push(() => plugin.stop());
  return { plugin, lines };
}

const ids = (devices: Device[]): string[] => devices.map((d) => d.ID);
const allHealth = (devices: Device[], health: string): boolean => devices.length > 0 && devices.every((d) => d.health === health);
const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);

describe('PeerPodDevicePlugin with a kubelet', () => {
  it('registers with version v1beta1, its socket name as endpoint and the resource name', async () => {
    const dir = await tempDir();
    const kubelet = await startKubelet(dir);
    const { plugin } = makePlugin(dir);
    await plugin.start();
    const reg = await kubelet.waitForRegistration();
    expect(reg.version).toBe('v1beta1');
    expect(reg.endpoint).toBe('peerpods-vm.sock');
    expect(reg.resourceName).toBe('kata.peerpods.io/vm');
    expect(reg.options?.preStartRequired).toBe(false);
    expect(reg.options?.getPreferredAllocationAvailable).toBe(false);
    await plugin.whenRegistered(AbortSignal.timeout(2_000));
    expect(plugin.status()).toMatchObject({ state: 'running', registered: true, registrations: 1, listening: true, socketPath: join(dir, 'peerpods-vm.sock') });
    expect(await exists(join(dir, 'peerpods-vm.sock'))).toBe(true);
  });

  it('advertises `count` devices, all Healthy, with stable IDs, and keeps the stream open', async () => {
    const dir = await tempDir();
    const kubelet = await startKubelet(dir);
    const { plugin } = makePlugin(dir, { count: 4 });
    await plugin.start();
    const devices = await kubelet.waitForDevices((d) => d.length === 4);
    expect(ids(devices)).toEqual(['peerpod-vm-0', 'peerpod-vm-1', 'peerpod-vm-2', 'peerpod-vm-3']);
    expect(allHealth(devices, 'Healthy')).toBe(true);
    expect(devices.every((d) => d.topology === undefined)).toBe(true);
    await waitFor(() => plugin.status().streamsOpen === 1, 'the ListAndWatch stream to be counted');
  });

  it('setHealthy(false) turns every device Unhealthy on the stream and back, logging each transition once', async () => {
    const dir = await tempDir();
    const kubelet = await startKubelet(dir);
    const { plugin, lines } = makePlugin(dir);
    await plugin.start();
    await kubelet.waitForDevices((d) => allHealth(d, 'Healthy'));

    plugin.setHealthy(false, 'cloud API unreachable');
    plugin.setHealthy(false, 'cloud API still unreachable'); // no second transition
    const down = await kubelet.waitForDevices((d) => allHealth(d, 'Unhealthy'));
    expect(ids(down)).toEqual(['peerpod-vm-0', 'peerpod-vm-1', 'peerpod-vm-2']);
    expect(plugin.status()).toMatchObject({ healthy: false, reason: 'cloud API still unreachable' });

    plugin.setHealthy(true, 'cloud API reachable');
    await kubelet.waitForDevices((d) => allHealth(d, 'Healthy'));
    // One list at start, one per transition: the repeated setHealthy(false) sent nothing.
    expect(kubelet.updates.map((d) => d[0]?.health)).toEqual(['Healthy', 'Unhealthy', 'Healthy']);
    const transitions = lines.filter((l) => /Unhealthy:|Healthy again/.test(l.msg));
    expect(transitions.map((l) => [l.level, l.reason])).toEqual([
      [40, 'cloud API unreachable'],
      [30, 'cloud API reachable'],
    ]);
  });

  it('setCount changes the advertised list; a new stream gets the current state at once', async () => {
    const dir = await tempDir();
    const kubelet = await startKubelet(dir);
    const { plugin } = makePlugin(dir, { count: 2 });
    plugin.setHealthy(false, 'not ready yet'); // before start: the first list already says so
    await plugin.start();
    expect(allHealth(await kubelet.waitForDevices((d) => d.length === 2), 'Unhealthy')).toBe(true);
    plugin.setHealthy(true, 'ready');
    plugin.setCount(5);
    expect(ids(await kubelet.waitForDevices((d) => d.length === 5 && allHealth(d, 'Healthy')))).toEqual([
      'peerpod-vm-0',
      'peerpod-vm-1',
      'peerpod-vm-2',
      'peerpod-vm-3',
      'peerpod-vm-4',
    ]);
    plugin.setCount(0);
    await kubelet.waitForDevices((d) => d.length === 0);
    expect(() => plugin.setCount(-1)).toThrow(DevicePluginError);
    expect(plugin.status().count).toBe(0);
  });

  it('answers Allocate with one empty response per container (a peer pod needs no device files)', async () => {
    const { kubelet } = await registeredPlugin();
    const res = await kubelet.allocate([['peerpod-vm-0'], ['peerpod-vm-1', 'peerpod-vm-2']]);
    expect(res.containerResponses).toHaveLength(2);
    for (const c of res.containerResponses) {
      expect(toBinary(ContainerAllocateResponseSchema, c)).toHaveLength(0);
      expect(c).toMatchObject({ envs: {}, mounts: [], devices: [], annotations: {}, cdiDevices: [] });
    }
    expect((await kubelet.allocate([])).containerResponses).toEqual([]);
  });

  it('answers GetDevicePluginOptions, GetPreferredAllocation and PreStartContainer', async () => {
    const { kubelet } = await registeredPlugin();
    const options = await kubelet.getDevicePluginOptions();
    expect([options.preStartRequired, options.getPreferredAllocationAvailable]).toEqual([false, false]);
    const preferred = await kubelet.getPreferredAllocation(
      create(PreferredAllocationRequestSchema, {
        containerRequests: [
          create(ContainerPreferredAllocationRequestSchema, {
            availableDeviceIDs: ['peerpod-vm-0', 'peerpod-vm-1', 'peerpod-vm-2'],
            mustIncludeDeviceIDs: ['peerpod-vm-2'],
            allocationSize: 2,
          }),
        ],
      }),
    );
    expect(preferred.containerResponses.map((c) => c.deviceIDs)).toEqual([['peerpod-vm-2', 'peerpod-vm-0']]);
    await expect(kubelet.preStartContainer(['peerpod-vm-0'])).resolves.toBeDefined();
  });

  it('started before the kubelet, registers once kubelet.sock appears (noticed by watching the directory)', async () => {
    const dir = await tempDir();
    // Backoff and periodic check far beyond the test's time: only the directory watch can be quick.
    const { plugin, lines } = makePlugin(dir, { backoff: { initialMs: 60_000, maxMs: 60_000 }, pollIntervalMs: 60_000 });
    await plugin.start();
    expect(plugin.status()).toMatchObject({ registered: false, listening: true, watching: true });
    const registered = plugin.whenRegistered(AbortSignal.timeout(5_000));
    await waitFor(() => lines.some((l) => l.msg === 'waiting for the kubelet to create its socket'), 'the waiting log line');

    const kubelet = await startKubelet(dir);
    await registered;
    expect((await kubelet.waitForRegistration()).endpoint).toBe('peerpods-vm.sock');
    await kubelet.waitForDevices((d) => d.length === 3);
    expect(kubelet.registrations).toHaveLength(1);
  });

  it('re-registers and re-advertises after a kubelet restart that deleted its socket', async () => {
    const { dir, kubelet, plugin, lines } = await registeredPlugin();
    plugin.setHealthy(false, 'degraded');
    await kubelet.waitForDevices((d) => allHealth(d, 'Unhealthy'));

    await kubelet.restart();
    expect(kubelet.devices()).toBeUndefined();
    const second = await kubelet.waitForRegistration(2);
    expect(second).toMatchObject({ version: 'v1beta1', endpoint: 'peerpods-vm.sock', resourceName: 'kata.peerpods.io/vm' });
    // The new kubelet sees the current state: 3 devices, still Unhealthy.
    expect(ids(await kubelet.waitForDevices((d) => allHealth(d, 'Unhealthy')))).toHaveLength(3);
    expect(await exists(join(dir, 'peerpods-vm.sock'))).toBe(true);
    await waitFor(() => plugin.status().registrations === 2 && plugin.status().registered, 'the plugin to count the second registration');
    expect(lines.some((l) => /socket was removed/.test(l.msg))).toBe(true);

    plugin.setHealthy(true, 'recovered');
    await kubelet.waitForDevices((d) => allHealth(d, 'Healthy'));
  });

  it('re-registers when the kubelet comes back without having deleted the plugin socket', async () => {
    const { kubelet, plugin } = await registeredPlugin();
    const socket = plugin.status().socketPath;
    const before = (await stat(socket)).ino;
    await kubelet.stopServing();
    await waitFor(() => !plugin.status().registered, 'the plugin to notice that kubelet.sock is gone');
    await kubelet.serveAgain();
    await kubelet.waitForRegistration(2);
    await kubelet.waitForDevices((d) => d.length === 3);
    // Still the same socket: nothing made the plugin listen again.
    expect((await stat(socket)).ino).toBe(before);
  });

  it('survives the whole directory being replaced (a remounted hostPath): listens, watches and registers again', async () => {
    const { dir, kubelet, plugin } = await registeredPlugin();
    await kubelet.stopServing();
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir);
    await kubelet.restart();
    await kubelet.waitForRegistration(2);
    await kubelet.waitForDevices((d) => d.length === 3);
    await waitFor(() => plugin.status().watching && plugin.status().registered, 'the plugin to watch the new directory');
    // The new watch works: a kubelet restart is noticed again.
    await kubelet.restart();
    await kubelet.waitForRegistration(3);
  });

  it('keeps retrying while the kubelet refuses, then registers; the refusal is in status()', async () => {
    const dir = await tempDir();
    const kubelet = await startKubelet(dir);
    kubelet.refuse = { code: status.INVALID_ARGUMENT, details: 'resource already registered by another plugin' };
    const { plugin, lines } = makePlugin(dir);
    await plugin.start();
    await kubelet.waitForRegistration(3);
    const st = plugin.status();
    expect(st.registered).toBe(false);
    expect(st.failedAttempts).toBeGreaterThanOrEqual(2);
    expect(st.lastError).toMatchObject({ code: 'REGISTRATION_REJECTED' });
    expect(st.lastError?.message).toContain('resource already registered by another plugin');
    // The first refusal is an error line; the repeats of the same failure are quieter.
    expect(lines.filter((l) => l.level === 50 && l.code === 'REGISTRATION_REJECTED').length).toBeGreaterThanOrEqual(1);
    expect(lines.filter((l) => l.level === 50 && l.code === 'REGISTRATION_REJECTED').length).toBeLessThan(st.failedAttempts);

    kubelet.refuse = undefined;
    await plugin.whenRegistered(AbortSignal.timeout(5_000));
    await kubelet.waitForDevices((d) => d.length === 3);
    expect(plugin.status()).toMatchObject({ registered: true, failedAttempts: 0 });
  });

  it('stop() ends the stream, removes its socket and is idempotent; a stopped plugin cannot restart', async () => {
    const { dir, kubelet, plugin } = await registeredPlugin();
    await Promise.all([plugin.stop(), plugin.stop()]);
    expect(await exists(join(dir, 'peerpods-vm.sock'))).toBe(false);
    expect(await exists(join(dir, 'kubelet.sock'))).toBe(true);
    expect(plugin.status()).toMatchObject({ state: 'stopped', listening: false, registered: false, streamsOpen: 0 });
    expect(isDevicePluginError(await rejectionOf(plugin.whenRegistered()), 'STOPPED')).toBe(true);
    expect(isDevicePluginError(await rejectionOf(plugin.start()), 'INVALID_STATE')).toBe(true);
    await expect(kubelet.allocate([['peerpod-vm-0']])).rejects.toMatchObject({ code: status.UNAVAILABLE });
  });

  it('whenRegistered rejects with STOPPED when the plugin stops first, and with the reason on abort', async () => {
    const dir = await tempDir();
    const { plugin } = makePlugin(dir);
    await plugin.start();
    const aborted = new AbortController();
    const byAbort = plugin.whenRegistered(aborted.signal);
    aborted.abort(new Error('daemon shutting down'));
    expect(await rejectionOf(byAbort)).toMatchObject({ message: 'daemon shutting down' });
    const byStop = plugin.whenRegistered();
    await plugin.stop();
    expect(isDevicePluginError(await rejectionOf(byStop), 'STOPPED')).toBe(true);
  });

  it('aborting the start signal stops the plugin', async () => {
    const dir = await tempDir();
    const kubelet = await startKubelet(dir);
    const { plugin } = makePlugin(dir);
    const life = new AbortController();
    await plugin.start(life.signal);
    await kubelet.waitForDevices((d) => d.length === 3);
    life.abort();
    await waitFor(() => plugin.status().state === 'stopped' && !plugin.status().listening, 'the plugin to stop');
    await plugin.stop(); // joins the stop the abort began
    expect(await exists(join(dir, 'peerpods-vm.sock'))).toBe(false);
  });

  it('replaces a stale socket at its path, but refuses a path that holds a regular file', async () => {
    const dir = await tempDir();
    const path = join(dir, 'peerpods-vm.sock');
    // A live listener stands for the socket left behind by a crashed predecessor.
    const stale: NetServer = createServer();
    await new Promise<void>((resolve) => stale.listen(path, resolve));
    cleanups.push(() => new Promise<void>((resolve) => stale.close(() => resolve())));
    const kubelet = await startKubelet(dir);
    const { plugin } = makePlugin(dir);
    await plugin.start();
    await kubelet.waitForDevices((d) => d.length === 3);
    await plugin.stop();

    const dir2 = await tempDir();
    await writeFile(join(dir2, 'peerpods-vm.sock'), 'not a socket');
    const { plugin: p2 } = makePlugin(dir2);
    expect(isDevicePluginError(await rejectionOf(p2.start()), 'LISTEN_FAILED')).toBe(true);
    expect(p2.status().state).toBe('stopped');
  });

  it('a successor that takes over the socket (surge update) keeps it: no fight, and stop() leaves its socket', async () => {
    const dir = await tempDir();
    const kubelet = await startKubelet(dir);
    const { plugin: old } = makePlugin(dir);
    await old.start();
    await kubelet.waitForDevices((d) => d.length === 3);
    const { plugin: successor } = makePlugin(dir, { count: 7 });
    await successor.start();
    await kubelet.waitForRegistration(2);
    await kubelet.waitForDevices((d) => d.length === 7);
    await waitFor(() => !old.status().registered, 'the old plugin to step back');
    await old.stop();
    expect(await exists(join(dir, 'peerpods-vm.sock'))).toBe(true);
    // Give a fight the chance to happen; there must be no third registration.
    await sleep(400);
    expect(kubelet.registrations).toHaveLength(2);
    expect((await kubelet.allocate([['peerpod-vm-6']])).containerResponses).toHaveLength(1);
  });
});

describe('PeerPodDevicePlugin options', () => {
  const logger = pino({ level: 'silent' });
  it.each([
    ['a negative count', { count: -1 }],
    ['a fractional count', { count: 1.5 }],
    ['a resource name without a domain', { resourceName: 'vm' }],
    ['a kubernetes.io resource name', { resourceName: 'kubernetes.io/vm' }],
    ['a socket name with a slash', { socketName: '../x.sock' }],
    ['the kubelet socket name', { socketName: 'kubelet.sock' }],
    ['a directory that makes the socket path too long', { pluginDir: `/tmp/${'d'.repeat(100)}` }],
  ])('refuses %s with INVALID_CONFIG', (_what, bad) => {
    let err: unknown;
    try {
      new PeerPodDevicePlugin({ count: 1, logger, ...bad });
    } catch (e) {
      err = e;
    }
    expect(isDevicePluginError(err, 'INVALID_CONFIG')).toBe(true);
  });

  it('defaults to kata.peerpods.io/vm on /var/lib/kubelet/device-plugins/peerpods-vm.sock', () => {
    const plugin = new PeerPodDevicePlugin({ count: 10, logger });
    expect(plugin.status()).toMatchObject({
      state: 'new',
      resourceName: 'kata.peerpods.io/vm',
      socketPath: '/var/lib/kubelet/device-plugins/peerpods-vm.sock',
      kubeletSocketPath: '/var/lib/kubelet/device-plugins/kubelet.sock',
      count: 10,
      healthy: true,
      registered: false,
      listening: false,
    });
  });
});
