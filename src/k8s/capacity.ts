/**
 * Advertising `kata.peerpods.io/vm` (PEERPODS_LIMIT_PER_NODE devices) to the scheduler, and taking
 * it away while this node cannot create VMs: after a QUOTA or UNAUTHORIZED failure the devices are
 * Unhealthy for `retryAfterMs`, then Healthy again so that one pod may find out whether the cause
 * is gone (a success ends the outage at once).
 */
import { stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { SandboxObserver } from '../shim/ports.js';
import { PeerPodDevicePlugin } from './device-plugin/index.js';
import { setLongTimeout, type LongTimer } from '../util/timers.js';

export interface CapacityOptions {
  mode: 'device-plugin' | 'node-status' | 'off';
  limit: number;
  pluginDir: string;
  logger: Logger;
  /** node-status mode: patches the node's capacity (needs a Kubernetes API). */
  setNodeCapacity?(count: number): Promise<void>;
  retryAfterMs?: number;
}

export interface Capacity {
  /** Feed it to the daemon: creates and their failures drive the devices' health. */
  observer: SandboxObserver;
  /** Ends advertising (the kubelet then sees the devices go). Idempotent. */
  stop(): Promise<void>;
}

export async function startCapacity(o: CapacityOptions, signal?: AbortSignal): Promise<Capacity> {
  const log = o.logger.child({ component: 'capacity' });
  const none: Capacity = { observer: {}, stop: async () => undefined };
  if (o.mode === 'off' || o.limit < 0) {
    log.info('kata.peerpods.io/vm is not advertised (CAPACITY_MODE=off or PEERPODS_LIMIT_PER_NODE < 0)');
    return none;
  }
  if (o.mode === 'node-status') {
    if (!o.setNodeCapacity) {
      log.warn('CAPACITY_MODE=node-status needs the Kubernetes API, which is not configured: kata.peerpods.io/vm is not advertised');
      return none;
    }
    await o.setNodeCapacity(o.limit).then(
      () => log.info({ count: o.limit }, `node capacity kata.peerpods.io/vm set to ${o.limit}`),
      (err: unknown) => log.error({ err }, 'patching the node capacity failed'),
    );
    return none;
  }
  if (!(await stat(o.pluginDir).then((st) => st.isDirectory(), () => false))) {
    // Not on a Kubernetes node (or the DaemonSet lacks the mount): nothing to register with.
    log.warn({ dir: o.pluginDir }, `no kubelet device-plugin directory ${o.pluginDir}: kata.peerpods.io/vm is not advertised`);
    return none;
  }
  const plugin = new PeerPodDevicePlugin({ count: o.limit, pluginDir: o.pluginDir, logger: log });
  await plugin.start(signal);
  const retryAfterMs = o.retryAfterMs ?? 300_000;
  let timer: LongTimer | undefined;
  const healthy = (reason: string): void => {
    timer?.clear();
    timer = undefined;
    plugin.setHealthy(true, reason);
  };
  return {
    observer: {
      instanceCreated: () => healthy('a VM was created'),
      instanceCreateFailed: (_s, code, message) => {
        if (code !== 'QUOTA' && code !== 'UNAUTHORIZED') return;
        plugin.setHealthy(false, `${code}: ${message}`);
        timer?.clear();
        timer = setLongTimeout(() => healthy(`retrying after ${Math.round(retryAfterMs / 1000)}s`), retryAfterMs);
      },
    },
    stop: async () => {
      timer?.clear();
      await plugin.stop();
    },
  };
}
