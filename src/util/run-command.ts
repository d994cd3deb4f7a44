/**
 * The one way we run system tools (`ip`, `tc`, `iptables`): no shell, bounded in time, abortable,
 * and a failure that says which command failed and what it printed.
 */
import { execFile } from 'node:child_process';
import { singleCodeError } from './coded-error.js';
import { clampTimerDelay } from './timers.js';

export class CommandError extends singleCodeError('CommandError', 'COMMAND_FAILED') {
  constructor(
    readonly command: readonly string[],
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(`${command.join(' ')} failed${exitCode !== null ? ` (exit ${exitCode})` : ''}: ${stderr.trim() || 'no output'}`);
  }
}

export interface RunOptions {
  signal?: AbortSignal;
  /** Default 30 s; fractional ms round up; 0, negative or NaN means no timeout (execFile's 0). */
  timeoutMs?: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Written to the command's stdin, which is then closed. */
  input?: string | Buffer;
}

/** Runs `argv` and resolves with its stdout; rejects with a CommandError. */
export function runCommand(argv: readonly string[], options: RunOptions = {}): Promise<string> {
  const [cmd, ...args] = argv;
  if (!cmd) return Promise.reject(new Error('empty command'));
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { signal: options.signal, timeout: clampTimerDelay(options.timeoutMs ?? 30_000), maxBuffer: 16 << 20, cwd: options.cwd, env: options.env }, (err, stdout, stderr) => {
      if (err) {
        const code = typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null;
        reject(new CommandError(argv, code, stderr || err.message));
      } else {
        resolve(stdout);
      }
    });
    if (options.input !== undefined) {
      child.stdin?.on('error', () => undefined); // a command that exits without reading is reported by its status
      child.stdin?.end(options.input);
    }
  });
}

/** True when `cmd` can be run (e.g. `ip` is installed). */
export async function commandExists(cmd: string): Promise<boolean> {
  try {
    await runCommand([cmd, '-V'], { timeoutMs: 5000 });
    return true;
  } catch (err) {
    return err instanceof CommandError && err.exitCode !== null && err.exitCode !== 127 && !/ENOENT/.test(err.stderr);
  }
}
