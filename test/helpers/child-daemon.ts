/**
 * A daemon (or any program) run as a child process by an end-to-end test: its output collected,
 * waited on for a line, its JSON log records parsed, its exit awaited.
 *
 *   const d = new ChildDaemon(spawn(process.execPath, [...], { stdio: ['ignore', 'pipe', 'pipe'] }));
 *   await d.until('serving hypervisor.Hypervisor');
 */
import type { ChildProcess } from 'node:child_process';
import { sleep } from './async.js';

export class ChildDaemon {
  readonly out: string[] = [];
  readonly exited: Promise<number | null>;

  constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (d: Buffer) => this.out.push(d.toString()));
    child.stderr?.on('data', (d: Buffer) => this.out.push(d.toString()));
    this.exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  }

  text(): string {
    return this.out.join('');
  }

  /** The JSON log lines (others are skipped). */
  records(): Record<string, unknown>[] {
    const records: Record<string, unknown>[] = [];
    for (const line of this.text().split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        records.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // a line cut by the chunking, or not JSON after all
      }
    }
    return records;
  }

  /** Resolves once the output contains `text`; rejects, with the output's tail, when the child exits first or after `ms`. */
  async until(text: string | RegExp, ms = 30_000): Promise<void> {
    const end = Date.now() + ms;
    const seen = (): boolean => (typeof text === 'string' ? this.text().includes(text) : text.test(this.text()));
    while (!seen()) {
      if (this.child.exitCode !== null) throw new Error(`the daemon exited (${this.child.exitCode}) before "${String(text)}":\n${this.text().slice(-4000)}`);
      if (Date.now() > end) throw new Error(`no "${String(text)}" in the daemon's output:\n${this.text().slice(-4000)}`);
      await sleep(25);
    }
  }
}
