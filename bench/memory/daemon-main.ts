/**
 * The daemon for the memory benchmark, alone in its process so that its RSS is its own: the
 * in-memory cloud, no agent tunnel, no probes, logging at `info` (the production level) into the file
 * named by MEMORY_BENCH_LOG, so the benchmark can count the bytes a case makes it write.
 */
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createLogger } from '../../src/observability/logger.js';
import { serveBenchDaemon } from '../child-daemon-main.js';

await serveBenchDaemon({
  base: existsSync('/dev/shm') ? '/dev/shm' : tmpdir(),
  prefix: 'caa-mem-',
  env: process.env.MEMORY_BENCH_ENV ? (JSON.parse(process.env.MEMORY_BENCH_ENV) as Record<string, string>) : {},
  logger: (dir) => createLogger('info', pino.destination({ dest: process.env.MEMORY_BENCH_LOG ?? join(dir, 'daemon.log'), sync: true }) as unknown as NodeJS.WritableStream),
});
