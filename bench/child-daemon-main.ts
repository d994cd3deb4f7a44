/**
 * The child side of child-daemon.ts: the one place the benches build a Daemon. The in-memory cloud,
 * no agent tunnel, no pod network, no probes; PODS_DIR and the state in a fresh folder under `base`
 * (a tmpfs, as /run is on a node). Prints `READY <socket> <dir>`; SIGTERM drains and exits 0.
 */
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { loadDaemonConfig } from '../src/config/daemon-config.js';
import { Daemon } from '../src/shim/daemon.js';
import { MemoryProvider } from '../test/fakes/memory-provider.js';
import { NoAgentTunnel } from '../test/helpers/no-agent-tunnel.js';

export async function serveBenchDaemon(options: { base: string; prefix: string; env?: Record<string, string>; logger: (dir: string) => Logger }): Promise<void> {
  const dir = await mkdtemp(join(options.base, options.prefix));
  const config = loadDaemonConfig({
    flags: { socket: join(dir, 'hv.sock'), 'pods-dir': join(dir, 'pods'), 'state-dir': join(dir, 'state') },
    env: { REAPER_PERIOD: '0s', ...options.env },
  });
  const logger = options.logger(dir);
  const daemon = new Daemon({ config, provider: new MemoryProvider(), logger, tunnel: new NoAgentTunnel((msg) => logger.warn({ component: 'tunnel' }, msg)) });
  await daemon.start();
  console.log(`READY ${config.socket} ${dir}`);
  process.on('SIGTERM', () => void daemon.stop().then(() => process.exit(0)));
}
