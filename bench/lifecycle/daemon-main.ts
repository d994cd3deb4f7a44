/**
 * The daemon for the lifecycle benchmark, in its own process so that its CPU and RSS are measured
 * alone: the in-memory cloud with zero latency, no agent tunnel, no pod network, no probes.
 */
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { pino } from 'pino';
import { serveBenchDaemon } from '../child-daemon-main.js';

// PODS_DIR lives under /run on a node, a tmpfs; /dev/shm is the tmpfs at hand here (LIFECYCLE_BENCH_DIR overrides).
const base = process.env.LIFECYCLE_BENCH_DIR ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());
await serveBenchDaemon({ base, prefix: 'caa-lc-', logger: () => pino({ level: 'warn' }) });
