/**
 * Child processes of the providers benchmark. Fakes (and the Azure SDK driver) run in their own
 * process so that the CPU figures measured in the parent, or in the driver, are the provider's alone.
 * Parent and child talk over the fork IPC channel, one request and one reply at a time.
 */
import { fork, type ChildProcess } from 'node:child_process';

export class BenchChild {
  private constructor(private readonly child: ChildProcess) {}

  /** Forks `script` under tsx and waits for its first message (the `ready` one, returned as `ready`). */
  static start<Ready>(script: URL, args: string[], label: string, env?: Record<string, string>): Promise<{ child: BenchChild; ready: Ready }> {
    const child = fork(script.pathname, args, {
      execArgv: ['--import', 'tsx'],
      ...(env ? { env: { ...process.env, ...env } } : {}),
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new Promise((resolve, reject) => {
      child.once('message', (m: Ready) => resolve({ child: new BenchChild(child), ready: m }));
      child.once('exit', (code) => reject(new Error(`${label} exited with ${code}`)));
    });
  }

  /** Sends `msg` and resolves with the child's next message (rejects if it exits first). */
  ask<T>(msg: object): Promise<T> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null): void => reject(new Error(`bench child exited with ${code}`));
      this.child.once('exit', onExit);
      this.child.once('message', (m: T) => {
        this.child.off('exit', onExit);
        resolve(m);
      });
      this.child.send(msg);
    });
  }

  stop(): Promise<void> {
    if (this.child.exitCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.send({ type: 'close' });
    });
  }
}

export interface CpuMeasured {
  wallMs: number;
  /** User + system CPU time of this process while `work` ran. */
  cpuMs: number;
}

export async function measureCpu(work: () => Promise<unknown>): Promise<CpuMeasured> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await work();
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { wallMs, cpuMs: (cpu.user + cpu.system) / 1000 };
}

/** Resets the fake's stats, measures `work` in this process, then reads the stats back. */
export async function measureAgainst<Stats>(fake: BenchChild, work: () => Promise<unknown>): Promise<CpuMeasured & { stats: Stats }> {
  await fake.ask({ type: 'reset' });
  const m = await measureCpu(work);
  return { ...m, stats: await fake.ask<Stats>({ type: 'stats' }) };
}

/**
 * A fake cloud in a child process (`script` gets the injected latency as its argument and reports
 * `Ready`, its endpoints), measured against with `measure`: the fake's `Stats` come back per run. The
 * caller must `stop()` it (in a `finally`), or the child outlives the bench.
 */
export class FakeCloudProcess<Ready, Stats> {
  private constructor(
    private readonly child: BenchChild,
    readonly ready: Ready,
  ) {}

  static async start<Ready, Stats>(script: URL, latencyMs: number, label: string): Promise<FakeCloudProcess<Ready, Stats>> {
    const { child, ready } = await BenchChild.start<Ready>(script, [String(latencyMs)], label);
    return new FakeCloudProcess<Ready, Stats>(child, ready);
  }

  stop(): Promise<void> {
    return this.child.stop();
  }

  measure(work: () => Promise<unknown>): Promise<CpuMeasured & { stats: Stats }> {
    return measureAgainst<Stats>(this.child, work);
  }
}

/** Child side: answers `stats` (with `stats()`), `reset` and `close` for `fake`, then reports `ready`. */
export function serveFake(fake: { resetStats(): void; close(): Promise<void> }, stats: () => object, ready: object): void {
  process.on('message', (msg: { type: string }) => {
    if (msg.type === 'stats') {
      process.send!({ type: 'stats', ...stats() });
    } else if (msg.type === 'reset') {
      fake.resetStats();
      process.send!({ type: 'reset' });
    } else if (msg.type === 'close') {
      void fake.close().then(() => process.exit(0));
    }
  });
  process.send!({ type: 'ready', ...ready });
}
