/**
 * The daemon for the memory benchmark, alone in its process so that its RSS is its own: the
 * in-memory cloud, no agent tunnel, no probes, logging at `info` (the production level) into the file
 * named by MEMORY_BENCH_LOG, so the benchmark can count the bytes a case makes it write.
 */
import { mkdtemp } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadDaemonConfig } from '../../src/config/daemon-config.js';
import { createLogger } from '../../src/observability/logger.js';
import { Daemon } from '../../src/shim/daemon.js';
import { MemoryProvider } from '../../test/fakes/memory-provider.js';
import { NoAgentTunnel } from '../../test/helpers/no-agent-tunnel.js';

const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
const dir = await mkdtemp(join(base, 'caa-mem-'));
const logFile = process.env.MEMORY_BENCH_LOG ?? join(dir, 'daemon.log');
const config = loadDaemonConfig({
  flags: { socket: join(dir, 'hv.sock'), 'pods-dir': join(dir, 'pods'), 'state-dir': join(dir, 'state') },
  env: { REAPER_PERIOD: '0s', ...(process.env.MEMORY_BENCH_ENV ? (JSON.parse(process.env.MEMORY_BENCH_ENV) as Record<string, string>) : {}) },
});
const logger = createLogger('info', pino.destination({ dest: logFile, sync: true }) as unknown as NodeJS.WritableStream);
const daemon = new Daemon({ config, provider: new MemoryProvider(), logger, tunnel: new NoAgentTunnel((msg) => logger.warn({ component: 'tunnel' }, msg)) });
await daemon.start();
console.log(`READY ${config.socket} ${dir}`);
process.on('SIGTERM', () => void daemon.stop().then(() => process.exit(0)));
