/**
 * The daemon for the lifecycle benchmark, in its own process so that its CPU and RSS are measured
 * alone: the in-memory cloud with zero latency, no agent tunnel, no pod network, no probes.
 */
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadDaemonConfig } from '../../src/config/daemon-config.js';
import { Daemon } from '../../src/shim/daemon.js';
import { MemoryProvider } from '../../test/fakes/memory-provider.js';
import { NoAgentTunnel } from '../../test/helpers/no-agent-tunnel.js';

// PODS_DIR lives under /run on a node, a tmpfs; /dev/shm is the tmpfs at hand here (LIFECYCLE_BENCH_DIR overrides).
const base = process.env.LIFECYCLE_BENCH_DIR ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());
const dir = await mkdtemp(join(base, 'caa-lc-'));
const config = loadDaemonConfig({ flags: { socket: join(dir, 'hv.sock'), 'pods-dir': join(dir, 'pods'), 'state-dir': join(dir, 'state') }, env: { REAPER_PERIOD: '0s' } });
const logger = pino({ level: 'warn' });
const daemon = new Daemon({ config, provider: new MemoryProvider(), logger, tunnel: new NoAgentTunnel((msg) => logger.warn({ component: 'tunnel' }, msg)) });
await daemon.start();
console.log(`READY ${config.socket} ${dir}`);
process.on('SIGTERM', () => void daemon.stop().then(() => process.exit(0)));
