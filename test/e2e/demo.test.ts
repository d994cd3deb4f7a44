/**
 * `npm run demo` (scripts/demo.ts): the whole conversation when the host has what it needs; and,
 * as root on a host without iptables, the install hint before anything starts, and nothing left
 * behind (no namespace, process or temp folder) when a step fails or the demo gets SIGTERM.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PING_TOOL, POD_NETWORK_TOOLS, missingTools } from '../../scripts/host-tools.js';
import { runCommand } from '../../src/util/run-command.js';
import { ChildDaemon } from '../helpers/child-daemon.js';
import { podNetworkUnavailable, skipOrRequirePodNetwork } from '../helpers/pod-network.js';

const root = new URL('../..', import.meta.url).pathname;
const demo = `${root}scripts/demo.ts`;
const isRoot = process.getuid?.() === 0;
// As root the demo wires a pod network; without its tools the full run cannot pass here.
const fullRunUnavailable = isRoot ? await podNetworkUnavailable([PING_TOOL]) : undefined;

describe('npm run demo', () => {
  skipOrRequirePodNetwork(fullRunUnavailable, 'the full demo');

  it.skipIf(fullRunUnavailable !== undefined)(
    fullRunUnavailable ? `plays the shim through every step (skipped: ${fullRunUnavailable})` : 'plays the shim through every step, shows the policy refusal, and leaves nothing behind',
    { timeout: 120_000 },
    async () => {
      const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', demo], { cwd: root, timeout: 110_000 });
      expect(stdout).toContain('✔ StartVM');
      expect(stdout).toContain('PERMISSION_DENIED: ExecProcess is refused by policy');
      expect(stdout).toContain('nothing left behind');
      expect(stdout).not.toContain('✘');
      if (isRoot) expect(stdout).toMatch(/✔ peer pod pings 10\.244\.77\.5/);
    },
  );
});

// The other pod network tools, for the runs that must get as far as the iptables step.
const otherToolsMissing = isRoot ? (await missingTools([...POD_NETWORK_TOOLS.filter((t) => t.tool !== 'iptables'), PING_TOOL])).map((t) => t.tool) : [];
const noIptablesUnavailable = !isRoot ? 'needs root (the demo wires a pod network only as root)' : otherToolsMissing.length ? `needs ${otherToolsMissing.join(', ')}` : undefined;

describe.skipIf(noIptablesUnavailable !== undefined)(
  noIptablesUnavailable ? `npm run demo as root without iptables (skipped: ${noIptablesUnavailable})` : 'npm run demo as root without iptables',
  () => {
    let shadow: string;
    let path: string;

    // PATH as it is, with every folder that holds iptables replaced by a copy (of symlinks) without it.
    beforeAll(async () => {
      shadow = await mkdtemp(join(tmpdir(), 'caa-demo-test-path-'));
      const dirs: string[] = [];
      for (const [i, d] of (process.env.PATH ?? '').split(delimiter).filter(Boolean).entries()) {
        const names = await readdir(d).catch(() => [] as string[]);
        if (!names.some((n) => /^(ip6?tables|xtables)/.test(n))) {
          dirs.push(d);
          continue;
        }
        const copy = join(shadow, String(i));
        await runCommand(['mkdir', '-p', copy]);
        for (const n of names) if (!/^(ip6?tables|xtables)/.test(n)) await symlink(join(d, n), join(copy, n));
        dirs.push(copy);
      }
      path = dirs.join(delimiter);
    });
    afterAll(async () => {
      await rm(shadow, { recursive: true, force: true });
    });

    const netnsNames = async (): Promise<string[]> =>
      (await runCommand(['ip', 'netns', 'list'])).split('\n').map((l) => l.split(' ')[0]!).filter(Boolean);

    /** What this demo run left: its namespaces (named, or holding its addresses), processes naming its folder, the folder. */
    async function leftovers(before: Set<string>, stateDir: string): Promise<string[]> {
      const left: string[] = [];
      for (const ns of await netnsNames()) {
        if (before.has(ns)) continue;
        if (ns.startsWith('caa-demo-')) left.push(`netns ${ns}`);
        else if (/^caa-[0-9a-f]{10}(-pod)?$/.test(ns)) {
          const addrs = await runCommand(['ip', '-n', ns, '-o', 'addr']).catch(() => '');
          // The demo's instance addresses (LOCAL_NETNS_CIDR 10.237.0.0/16) and its pod IP.
          if (/ 10\.237\.| 10\.244\.77\.5\//.test(addrs)) left.push(`netns ${ns}`);
        }
      }
      for (const pid of await readdir('/proc')) {
        if (!/^\d+$/.test(pid)) continue;
        const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
        if (cmdline.includes(stateDir)) left.push(`process ${pid}: ${cmdline.replaceAll('\0', ' ').slice(0, 200)}`);
      }
      if (existsSync(stateDir)) left.push(`folder ${stateDir}`);
      return left;
    }

    /** Runs the demo without iptables on PATH; `onOutput` may act on what it printed so far. */
    async function runDemo(env: Record<string, string>, onOutput?: (text: string, d: ChildDaemon) => void): Promise<{ code: number | null; text: string; stateDir: string | undefined }> {
      const d = new ChildDaemon(spawn(process.execPath, ['--import', 'tsx', demo], { cwd: root, env: { ...process.env, ...env, PATH: path }, stdio: ['ignore', 'pipe', 'pipe'] }));
      if (onOutput) d.child.stdout!.on('data', () => onOutput(d.text(), d));
      const killer = setTimeout(() => d.child.kill('SIGKILL'), 100_000);
      const code = await d.exited;
      clearTimeout(killer);
      return { code, text: d.text(), stateDir: /state in (\S+)/.exec(d.text())?.[1] };
    }

    it('says what to install and exits non-zero before starting anything', { timeout: 60_000 }, async () => {
      const before = new Set(await netnsNames());
      const r = await runDemo({});
      expect(r.code, r.text).toBe(1);
      expect(r.text).toMatch(/needs iptables .*install with: apt-get install -y iptables/);
      expect(r.stateDir, r.text).toBeUndefined(); // nothing was started
      expect((await netnsNames()).filter((n) => !before.has(n) && n.startsWith('caa-demo-'))).toEqual([]);
    });

    it('a step that fails (StartVM without iptables): exits non-zero and leaves no namespace, process or folder', { timeout: 120_000 }, async () => {
      const before = new Set(await netnsNames());
      const r = await runDemo({ CAA_DEMO_NO_PREFLIGHT: '1' });
      expect(r.code, r.text).toBe(1);
      expect(r.text).toMatch(/✘ StartVM/);
      expect(r.stateDir, r.text).toBeDefined();
      expect(await leftovers(before, r.stateDir!)).toEqual([]);
    });

    it('SIGTERM while StartVM is in flight: exits non-zero and leaves no namespace, process or folder', { timeout: 120_000 }, async () => {
      const before = new Set(await netnsNames());
      let sent = false;
      const r = await runDemo({ CAA_DEMO_NO_PREFLIGHT: '1' }, (text, d) => {
        if (!sent && text.includes('✔ CreateVM')) {
          sent = true;
          d.child.kill('SIGTERM');
        }
      });
      expect(sent, r.text).toBe(true);
      expect(r.code, r.text).not.toBe(0);
      expect(r.stateDir, r.text).toBeDefined();
      expect(await leftovers(before, r.stateDir!)).toEqual([]);
    });
  },
);
