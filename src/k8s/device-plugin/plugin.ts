/**
 * The peer-pod capacity advertised to the scheduler as a kubelet device plugin (docs/capacity.md):
 * `count` devices of the extended resource `kata.peerpods.io/vm` (PEERPODS_LIMIT_PER_NODE), all Healthy
 * or all Unhealthy. The scheduler then places at most `count` peer pods on this node, and none while
 * the devices are Unhealthy or the daemon is not running.
 *
 * Life cycle: `start()` listens on `<pluginDir>/<socketName>` and hands over to a supervisor that
 * registers with the kubelet (retrying with backoff while kubelet.sock is absent or refuses), and
 * keeps the registration alive: when the kubelet restarts it deletes every plugin socket and creates
 * kubelet.sock anew, so the supervisor listens again when our socket is gone and registers again when
 * kubelet.sock is a new file. It learns of changes from fs.watch on the directory, from the kubelet
 * closing a ListAndWatch stream, and from a periodic check (`pollIntervalMs`) when both stay silent.
 *
 * Contracts: `setHealthy`, `setCount` and `status` may be called at any time, also before `start` and
 * after `stop`; they never block. `stop` is idempotent and may be called concurrently with anything.
 * A plugin is started once; a stopped plugin stays stopped (make a new one).
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import { Backoff, type BackoffOptions } from '../../util/backoff.js';
import type { ListAndWatchResponse } from '../../proto/gen/deviceplugin/v1beta1/api_pb.js';
import {
  checkCount,
  checkResourceName,
  DEFAULT_PLUGIN_DIR,
  DEFAULT_RESOURCE_NAME,
  DEFAULT_SOCKET_NAME,
  deviceList,
  KUBELET_SOCKET_NAME,
} from './devices.js';
import { DirWatcher } from './dir-watch.js';
import { DevicePluginError, isDevicePluginError, type DevicePluginErrorCode } from './errors.js';
import { PluginServer, pluginOptions } from './plugin-server.js';
import { registerRequest, registerWithKubelet } from './registration.js';
import { checkSocketPath, fileIdentity, type FileIdentity } from './socket-file.js';
import { Wakeup } from './wakeup.js';
import { messageOf } from '../../util/errors.js';

export interface PeerPodDevicePluginOptions {
  /** Devices to advertise: PEERPODS_LIMIT_PER_NODE (a negative limit means "no plugin": don't make one). */
  count: number;
  logger: Logger;
  /** Default `kata.peerpods.io/vm` (POD_VM_EXTENDED_RESOURCE of the webhook). */
  resourceName?: string;
  /** The kubelet's device-plugin directory, holding kubelet.sock; default `/var/lib/kubelet/device-plugins`. */
  pluginDir?: string;
  /** Our socket's file name in `pluginDir`; default `peerpods-vm.sock`. */
  socketName?: string;
  /** Deadline of one Register call; default 10 s. */
  registerTimeoutMs?: number;
  /** Period of the fallback check of both sockets when fs.watch says nothing; default 5 s. */
  pollIntervalMs?: number;
  /** Delays between registration attempts; default 500 ms doubling to 30 s, ±20 % jitter. */
  backoff?: BackoffOptions;
  /** Health to start with; default true. */
  healthy?: boolean;
}

export interface DevicePluginStatus {
  state: 'new' | 'running' | 'stopped';
  resourceName: string;
  socketPath: string;
  kubeletSocketPath: string;
  /** Our socket is bound (it may have been deleted since; the next check notices). */
  listening: boolean;
  /** The kubelet accepted our registration and has not restarted since, as far as we know. */
  registered: boolean;
  /** When the current registration was accepted (ISO 8601). */
  registeredAt?: string;
  /** Accepted registrations since start (more than one: the kubelet restarted). */
  registrations: number;
  /** Failed attempts since the last accepted one. */
  failedAttempts: number;
  lastError?: { code: DevicePluginErrorCode | 'UNEXPECTED'; message: string; at: string };
  healthy: boolean;
  reason: string;
  count: number;
  /** Open ListAndWatch streams (1 when the kubelet watches us). */
  streamsOpen: number;
  /** fs.watch is active on the directory (when false, only the periodic check notices changes). */
  watching: boolean;
}

export class PeerPodDevicePlugin {
  readonly resourceName: string;
  readonly socketPath: string;
  readonly kubeletSocketPath: string;
  private readonly socketName: string;
  private readonly pluginDir: string;
  private readonly log: Logger;
  private readonly registerTimeoutMs: number;
  private readonly pollIntervalMs: number;
  private readonly backoff: Backoff;
  private readonly lifetime = new AbortController();
  private readonly wakeup = new Wakeup();
  private readonly watcher: DirWatcher;

  private state: DevicePluginStatus['state'] = 'new';
  private count: number;
  private healthy: boolean;
  private reason = '';
  private server: PluginServer | undefined;
  private registeredWith: FileIdentity | undefined;
  private registeredAt: Date | undefined;
  private registrations = 0;
  private failedAttempts = 0;
  private lastFailureCode: string | undefined;
  private lastError: DevicePluginStatus['lastError'];
  private waitingForKubeletLogged = false;
  private supplanted = false;
  private supervisor: Promise<void> | undefined;
  private stopped: Promise<void> | undefined;
  private registeredWaiters = new Set<{ resolve: () => void; reject: (err: unknown) => void }>();

  /** Throws INVALID_CONFIG for a bad count, resource name, socket name or a socket path over 107 bytes. */
  constructor(options: PeerPodDevicePluginOptions) {
    checkCount(options.count);
    this.resourceName = options.resourceName ?? DEFAULT_RESOURCE_NAME;
    checkResourceName(this.resourceName);
    this.socketName = options.socketName ?? DEFAULT_SOCKET_NAME;
    if (this.socketName === KUBELET_SOCKET_NAME || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(this.socketName)) {
      throw new DevicePluginError('INVALID_CONFIG', `socket name ${JSON.stringify(this.socketName)} must be a plain file name other than ${KUBELET_SOCKET_NAME}`);
    }
    this.pluginDir = options.pluginDir ?? DEFAULT_PLUGIN_DIR;
    this.socketPath = join(this.pluginDir, this.socketName);
    this.kubeletSocketPath = join(this.pluginDir, KUBELET_SOCKET_NAME);
    checkSocketPath(this.socketPath);
    checkSocketPath(this.kubeletSocketPath);
    this.count = options.count;
    this.healthy = options.healthy ?? true;
    this.registerTimeoutMs = options.registerTimeoutMs ?? 10_000;
    this.pollIntervalMs = options.pollIntervalMs ?? 5_000;
    this.backoff = new Backoff({ initialMs: 500, maxMs: 30_000, ...options.backoff });
    this.log = options.logger.child({ component: 'k8s/device-plugin', resource: this.resourceName });
    this.watcher = new DirWatcher(this.pluginDir, new Set([KUBELET_SOCKET_NAME, this.socketName]), () => this.wakeup.notify(), this.log);
  }

  /**
   * Listens on our socket, then registers with the kubelet in the background (see `whenRegistered`):
   * a kubelet that is not up yet is normal while a node boots and does not fail start. Rejects with
   * LISTEN_FAILED / INVALID_CONFIG when the socket cannot be bound, INVALID_STATE when called twice.
   * `signal` bounds the whole life of the plugin: aborting it stops the plugin, as `stop()` does.
   */
  async start(signal?: AbortSignal): Promise<void> {
    if (this.state !== 'new') throw new DevicePluginError('INVALID_STATE', `the device plugin was already ${this.state === 'running' ? 'started' : 'stopped'}`);
    this.state = 'running';
    if (signal) {
      if (signal.aborted) {
        await this.stop();
        throw signal.reason;
      }
      signal.addEventListener('abort', () => void this.stop(), { once: true, signal: this.lifetime.signal });
    }
    try {
      await this.listen();
    } catch (err) {
      await this.stop();
      throw err;
    }
    if (this.lifetime.signal.aborted) throw new DevicePluginError('STOPPED', 'the device plugin was stopped while starting');
    this.log.info({ socket: this.socketPath, count: this.count, healthy: this.healthy }, 'device plugin listening; registering with the kubelet');
    await this.watcher.ensure();
    this.supervisor = this.supervise();
  }

  /**
   * Resolves when the kubelet has accepted our registration (at once if it has). Rejects with the
   * signal's reason when `signal` aborts, with STOPPED when the plugin stops first.
   */
  whenRegistered(signal?: AbortSignal): Promise<void> {
    if (this.state === 'stopped') return Promise.reject(new DevicePluginError('STOPPED', 'the device plugin is stopped'));
    if (this.registeredWith !== undefined) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.registeredWaiters.delete(waiter);
        reject(signal!.reason);
      };
      const waiter = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (err: unknown) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      this.registeredWaiters.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Marks every device Healthy (the scheduler may place peer pods here) or Unhealthy (allocatable
   * drops to 0; running pods are not touched) and pushes the new list to the kubelet. Logs the
   * transition once; a call that does not change the health only updates the reason.
   */
  setHealthy(healthy: boolean, reason: string): void {
    const changed = healthy !== this.healthy;
    this.reason = reason;
    if (!changed) return;
    this.healthy = healthy;
    if (healthy) this.log.info({ reason, count: this.count }, `${this.resourceName} devices are Healthy again`);
    else this.log.warn({ reason, count: this.count }, `marking all ${this.resourceName} devices Unhealthy: no new peer pods on this node`);
    this.server?.broadcast(this.list());
  }

  /** Advertises `n` devices from now on (INVALID_CONFIG unless n is whole and 0 ≤ n ≤ MAX_DEVICE_COUNT). */
  setCount(n: number): void {
    checkCount(n);
    if (n === this.count) return;
    this.log.info({ from: this.count, to: n }, `advertising ${n} ${this.resourceName} devices`);
    this.count = n;
    this.server?.broadcast(this.list());
  }

  status(): DevicePluginStatus {
    return {
      state: this.state,
      resourceName: this.resourceName,
      socketPath: this.socketPath,
      kubeletSocketPath: this.kubeletSocketPath,
      listening: this.server !== undefined,
      registered: this.registeredWith !== undefined,
      ...(this.registeredAt && { registeredAt: this.registeredAt.toISOString() }),
      registrations: this.registrations,
      failedAttempts: this.failedAttempts,
      ...(this.lastError && { lastError: { ...this.lastError } }),
      healthy: this.healthy,
      reason: this.reason,
      count: this.count,
      streamsOpen: this.server?.openStreams ?? 0,
      watching: this.watcher.watching,
    };
  }

  /**
   * Ends the ListAndWatch streams (the kubelet then drops our devices from allocatable), stops
   * listening and removes our socket if it is still ours. Idempotent; resolves when all is closed.
   */
  stop(): Promise<void> {
    this.stopped ??= this.shutdown();
    return this.stopped;
  }

  private async shutdown(): Promise<void> {
    const wasRunning = this.state === 'running';
    this.state = 'stopped';
    this.lifetime.abort(new DevicePluginError('STOPPED', 'the device plugin is stopped'));
    this.watcher.close();
    await this.supervisor;
    await this.server?.close();
    this.server = undefined;
    this.setRegistered(undefined);
    for (const waiter of this.registeredWaiters) waiter.reject(new DevicePluginError('STOPPED', 'the device plugin stopped before the kubelet accepted it'));
    this.registeredWaiters.clear();
    if (wasRunning) this.log.info({ socket: this.socketPath }, 'device plugin stopped');
  }

  private list(): ListAndWatchResponse {
    return deviceList(this.count, this.healthy);
  }

  private async listen(): Promise<void> {
    await this.server?.close();
    this.server = undefined;
    this.server = await PluginServer.listen(
      this.socketPath,
      {
        currentList: () => this.list(),
        onStreamClosed: () => {
          this.log.debug('the kubelet closed ListAndWatch; checking the kubelet socket');
          this.wakeup.notify();
        },
        logger: this.log,
      },
      this.lifetime.signal,
    );
  }

  /** The loop behind start(): check, then sleep until a change, a timer or stop. Never throws. */
  private async supervise(): Promise<void> {
    const signal = this.lifetime.signal;
    while (!signal.aborted) {
      let delayMs: number;
      try {
        delayMs = await this.check(signal);
      } catch (err) {
        if (signal.aborted) break;
        this.noteError(err);
        delayMs = this.backoff.next();
        this.log.error({ err, retryInMs: Math.round(delayMs) }, 'device plugin check failed; retrying');
      }
      try {
        await this.wakeup.wait(delayMs, signal);
      } catch {
        break;
      }
    }
  }

  /**
   * One pass: listen again if our socket is gone, register if not registered with the kubelet.sock
   * that exists now. Returns how long to sleep before the next pass, unless something changes.
   */
  private async check(signal: AbortSignal): Promise<number> {
    await this.watcher.ensure();
    const socket = this.server ? await this.server.socketState() : 'absent';
    if (socket === 'other') {
      // Someone else serves at our path now (our successor in a surge update has registered it): do
      // not fight over it. Should it go away, the next pass listens and registers again.
      if (!this.supplanted) {
        this.log.warn({ socket: this.socketPath }, 'another process replaced our device-plugin socket; leaving the registration to it');
        this.supplanted = true;
        this.setRegistered(undefined);
      }
      return this.pollIntervalMs;
    }
    if (!this.server || socket === 'absent') {
      if (this.server) this.log.info({ socket: this.socketPath }, 'our device-plugin socket was removed (kubelet restart?); listening again');
      this.setRegistered(undefined);
      this.supplanted = false;
      await this.listen();
    }

    const kubelet = await fileIdentity(this.kubeletSocketPath);
    if (kubelet !== undefined && kubelet === this.registeredWith) return this.pollIntervalMs;
    if (this.registeredWith !== undefined) {
      this.log.info({ kubeletSocket: this.kubeletSocketPath }, 'kubelet.sock was removed or recreated (kubelet restart); registering again');
      this.setRegistered(undefined);
    }
    if (kubelet === undefined) {
      if (!this.waitingForKubeletLogged) this.log.info({ kubeletSocket: this.kubeletSocketPath }, 'waiting for the kubelet to create its socket');
      this.waitingForKubeletLogged = true;
      return this.backoff.next();
    }

    try {
      await registerWithKubelet({
        kubeletSocket: this.kubeletSocketPath,
        request: registerRequest(this.socketName, this.resourceName, pluginOptions()),
        timeoutMs: this.registerTimeoutMs,
        signal,
      });
    } catch (err) {
      if (signal.aborted) throw err;
      return this.registrationFailed(err);
    }
    this.registrations += 1;
    this.failedAttempts = 0;
    this.lastFailureCode = undefined;
    this.waitingForKubeletLogged = false;
    this.backoff.reset();
    this.setRegistered(kubelet);
    this.log.info(
      { endpoint: this.socketName, count: this.count, healthy: this.healthy, registrations: this.registrations },
      'registered with the kubelet',
    );
    return this.pollIntervalMs;
  }

  private registrationFailed(err: unknown): number {
    this.failedAttempts += 1;
    this.noteError(err);
    const delayMs = this.backoff.next();
    const code = isDevicePluginError(err) ? err.code : 'UNEXPECTED';
    const fields = { code, err, attempt: this.failedAttempts, retryInMs: Math.round(delayMs) };
    // Say it loudly when the kind of failure changes and now and then while it lasts, not every time.
    if (code !== this.lastFailureCode || this.failedAttempts % 10 === 0) {
      const level = code === 'REGISTRATION_REJECTED' || code === 'UNEXPECTED' ? 'error' : 'warn';
      this.log[level](fields, 'registration with the kubelet failed; retrying');
    } else {
      this.log.debug(fields, 'registration with the kubelet failed; retrying');
    }
    this.lastFailureCode = code;
    return delayMs;
  }

  private noteError(err: unknown): void {
    this.lastError = {
      code: isDevicePluginError(err) ? err.code : 'UNEXPECTED',
      message: messageOf(err),
      at: new Date().toISOString(),
    };
  }

  private setRegistered(kubelet: FileIdentity | undefined): void {
    this.registeredWith = kubelet;
    this.registeredAt = kubelet === undefined ? undefined : new Date();
    if (kubelet === undefined) return;
    for (const waiter of this.registeredWaiters) waiter.resolve();
    this.registeredWaiters.clear();
  }
}
