/**
 * `npm start` as the README runs it, in a copy of the project (its own dist/): the first start
 * builds, the second does not run tsc, and SIGTERM sent to npm stops the daemon — no process of the
 * tree npm started is left (before, npm → sh → node left the daemon running with no parent).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, readlink, realpath, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/util/run-command.js';
import { ChildDaemon } from '../helpers/child-daemon.js';
import { pidAlive } from '../helpers/pids.js';

const root = new URL('../..', import.meta.url).pathname;
let work: string;
const started = new Set<number>();

/** Every live descendant of `pid` (children, their children, …). */
async function descendants(pid: number): Promise<number[]> {
  const children = new Map<number, number[]>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const statLine = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // The command name may hold spaces and parentheses: the fields after its closing one are fixed.
    const ppid = Number(statLine.slice(statLine.lastIndexOf(')') + 2).split(' ')[1]);
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid)!.push(Number(entry));
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const c of children.get(queue.shift()!) ?? []) {
      found.push(c);
      queue.push(c);
    }
  }
  return found;
}

/** The pids among `pids` still alive once they had up to 15 s to exit. */
async function survivors(pids: number[]): Promise<number[]> {
  const until = Date.now() + 15_000;
  while (pids.some(pidAlive) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
  return pids.filter(pidAlive);
}

function npmStart(): ChildDaemon {
  const env = {
    ...process.env,
    REMOTE_HYPERVISOR_ENDPOINT: join(work, 'hv.sock'),
    // Short: agent socket paths under it must fit a unix socket address (108 bytes).
    PODS_DIR: join(work, 'p'),
    CAA_STATE_DIR: join(work, 'state'),
    PROBE_PORT: '0',
  };
  const d = new ChildDaemon(spawn('npm', ['start', '--', 'local'], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] }));
  if (d.child.pid) started.add(d.child.pid);
  return d;
}

/** Sends SIGTERM to npm (only to npm, as a service manager or a terminal's kill would) and returns what of its tree survived. */
async function stopNpm(d: ChildDaemon): Promise<{ tree: number[]; left: number[] }> {
  const tree = await descendants(d.child.pid!);
  for (const p of tree) started.add(p);
  d.child.kill('SIGTERM');
  await d.exited;
  return { tree, left: await survivors(tree) };
}

describe('npm start', () => {
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'caa-ns-'));
    await runCommand(['cp', '-a', join(root, 'src'), join(root, 'scripts'), join(root, 'package.json'), join(root, 'tsconfig.json'), work]);
    await symlink(await realpath(join(root, 'node_modules')), join(work, 'node_modules'));
  });

  // Also after a failure: npm, and every process that runs in the copy (the daemon, tsc), whoever its parent now is.
  afterAll(async () => {
    for (const entry of await readdir('/proc')) {
      if (/^\d+$/.test(entry) && work && (await readlink(`/proc/${entry}/cwd`).catch(() => '')).startsWith(work)) started.add(Number(entry));
    }
    for (const pid of started) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone, as it should be
      }
    }
    await rm(work, { recursive: true, force: true });
  });

  it('builds once, serves, and SIGTERM to npm stops the daemon with nothing left running', { timeout: 300_000 }, async () => {
    const d = npmStart();
    await d.until('serving hypervisor.Hypervisor', 240_000);
    const { tree, left } = await stopNpm(d);
    expect(tree.length, d.text()).toBeGreaterThan(0);
    expect(left, `still running after SIGTERM to npm: ${left.join(', ')}\n${d.text().slice(-2000)}`).toEqual([]);
    expect(d.text()).toMatch(/npm start: building dist\/ with tsc \(no build yet\)/);
  });

  it('the second start does not run tsc (the build stamp is untouched) and stops on SIGTERM too', { timeout: 120_000 }, async () => {
    const stamp = join(work, 'dist', '.build-stamp');
    const before = (await stat(stamp)).mtimeMs;
    const d = npmStart();
    await d.until('serving hypervisor.Hypervisor', 60_000);
    expect(d.text()).toContain('npm start: dist/ is up to date with src/; not rebuilding');
    expect(d.text()).not.toContain('building dist/');
    expect((await stat(stamp)).mtimeMs).toBe(before);
    const { left } = await stopNpm(d);
    expect(left, `still running after SIGTERM to npm: ${left.join(', ')}`).toEqual([]);
  });
});
