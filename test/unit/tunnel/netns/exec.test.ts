import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CommandError, commandExists } from '../../../../src/util/run-command.js';
import {
  NetnsError,
  inNetns,
  ip,
  ipJson,
  iptables,
  isNetnsError,
  netnsExists,
  netnsProblem,
  tc,
} from '../../../../src/tunnel/netns/index.js';
import { makeTempDir, rejectionOf, removeDir } from '../../../helpers/async.js';
import { TestNet, netnsTestsUnavailable } from '../../../helpers/netns.js';
import { skipOrRequirePodNetwork } from '../../../helpers/pod-network.js';
import { POD_NETWORK_TOOLS, installHint } from '../../../../scripts/host-tools.js';

const skipReason = await netnsTestsUnavailable();
if (skipReason) console.warn(`[netns] skipping namespace tests of the exec wrapper: ${skipReason}`);
const noIptables = skipReason === undefined && !(await commandExists('iptables')) ? installHint(POD_NETWORK_TOOLS.filter((t) => t.tool === 'iptables')) : undefined;
skipOrRequirePodNetwork(noIptables, 'the iptables test of the exec wrapper');
const haveIptables = skipReason === undefined && noIptables === undefined;

describe('inNetns', () => {
  it('runs in the current namespace without a path', () => {
    expect(inNetns(undefined, ['ip', 'link'])).toEqual(['ip', 'link']);
  });

  it('prefixes nsenter --net=<path> for any namespace path', () => {
    expect(inNetns('/var/run/netns/cni-1234', ['ip', '-json', 'route'])).toEqual([
      'nsenter',
      '--net=/var/run/netns/cni-1234',
      'ip',
      '-json',
      'route',
    ]);
    expect(inNetns('/proc/42/ns/net', ['tc', 'qdisc'])).toEqual(['nsenter', '--net=/proc/42/ns/net', 'tc', 'qdisc']);
  });

  it('returns a copy and refuses an empty path', () => {
    const argv = ['ip'];
    expect(inNetns(undefined, argv)).not.toBe(argv);
    expect(() => inNetns('', argv)).toThrow(/empty network namespace path/);
  });
});

describe('netnsExists / netnsProblem (no namespace needed)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await makeTempDir('netns-');
  });
  afterAll(async () => {
    await removeDir(dir);
  });

  it('a missing path does not exist', async () => {
    expect(await netnsExists(join(dir, 'cni-gone'))).toBe(false);
    expect(await netnsProblem(join(dir, 'cni-gone'))).toBe('does not exist');
    expect(await netnsProblem('')).toBe('is empty');
  });

  it('a plain file (a stale mount point) is not a namespace', async () => {
    const stale = join(dir, 'cni-stale');
    await writeFile(stale, '');
    expect(await netnsExists(stale)).toBe(false);
    expect(await netnsProblem(stale)).toMatch(/not a namespace file/);
  });

  it("the process's own namespace file is one", async () => {
    expect(await netnsExists('/proc/self/ns/net')).toBe(true);
  });
});

describe.skipIf(skipReason !== undefined)('exec wrapper in a test namespace (root)', () => {
  let net: TestNet | undefined;
  afterEach(async () => {
    const n = net;
    net = undefined;
    await n?.cleanup();
  });

  async function oneNs(): Promise<string> {
    net = await TestNet.create('caa-exec', ['a']);
    return net.ns('a');
  }

  it('ip and ipJson run inside the namespace', async () => {
    const ns = await oneNs();
    await net!.veth('a', 'eth0', 'a', 'peer0');
    const links = await ipJson<{ ifname: string }[]>(['link', 'show'], { netns: ns });
    expect(links.map((l) => l.ifname).sort()).toEqual(['eth0', 'lo', 'peer0']);
    expect(await ip(['-o', 'link', 'show', 'dev', 'eth0'], { netns: ns })).toMatch(/eth0@peer0/);
    expect(await netnsExists(ns)).toBe(true);
  });

  it('ipJson reads empty output as []', async () => {
    const ns = await oneNs();
    expect(await ipJson(['-4', 'route', 'show', 'table', 'main'], { netns: ns })).toEqual([]);
  });

  it('a failing ip names the whole command, the exit code and stderr', async () => {
    const ns = await oneNs();
    const err = await rejectionOf(ip(['link', 'show', 'dev', 'nope0'], { netns: ns }));
    expect(err).toBeInstanceOf(CommandError);
    const e = err as CommandError;
    expect(e.command).toEqual(['nsenter', `--net=${ns}`, 'ip', 'link', 'show', 'dev', 'nope0']);
    expect(e.exitCode).toBe(1);
    expect(e.stderr).toMatch(/Device "nope0" does not exist/);
    expect(e.message).toContain(`nsenter --net=${ns} ip link show dev nope0 failed (exit 1)`);
    expect(e.message).toContain('does not exist');
  });

  it('a failing tc and ipJson are CommandErrors too', async () => {
    const ns = await oneNs();
    const t = (await rejectionOf(tc(['qdisc', 'show', 'dev', 'nope0'], { netns: ns }))) as CommandError;
    expect(t).toBeInstanceOf(CommandError);
    expect(t.command.slice(2)).toEqual(['tc', 'qdisc', 'show', 'dev', 'nope0']);
    expect(t.message).toMatch(/tc qdisc show dev nope0 failed/);
    const j = (await rejectionOf(ipJson(['route', 'get', '10.250.0.1'], { netns: ns }))) as CommandError;
    expect(j).toBeInstanceOf(CommandError);
    expect(j.command).toEqual(['nsenter', `--net=${ns}`, 'ip', '-json', 'route', 'get', '10.250.0.1']);
    expect(j.stderr).toMatch(/unreachable/i);
  });

  it('output that is not JSON is UNEXPECTED_OUTPUT naming the command', async () => {
    const ns = await oneNs();
    const err = await rejectionOf(ipJson(['-V'], { netns: ns }));
    expect(isNetnsError(err, 'UNEXPECTED_OUTPUT')).toBe(true);
    expect((err as NetnsError).message).toContain(`nsenter --net=${ns} ip -json -V printed no JSON`);
    expect((err as NetnsError).message).toContain('iproute2');
  });

  it('a path that is not a namespace fails in nsenter, naming it', async () => {
    const err = (await rejectionOf(ip(['link'], { netns: '/proc/self/cmdline' }))) as CommandError;
    expect(err).toBeInstanceOf(CommandError);
    expect(err.message).toContain('nsenter --net=/proc/self/cmdline ip link failed');
  });

  it('an aborted signal stops the command', async () => {
    const ns = await oneNs();
    const ac = new AbortController();
    ac.abort();
    await expect(ip(['link'], { netns: ns, signal: ac.signal })).rejects.toThrow();
  });

  it.skipIf(!haveIptables)('iptables waits for the xtables lock (-w) and runs inside the namespace', async () => {
    const ns = await oneNs();
    await iptables(['-t', 'raw', '-N', 'caa-test'], { netns: ns });
    expect(await iptables(['-t', 'raw', '-S'], { netns: ns })).toContain('-N caa-test');
    const err = (await rejectionOf(iptables(['-t', 'raw', '-N', 'caa-test'], { netns: ns }))) as CommandError;
    expect(err).toBeInstanceOf(CommandError);
    expect(err.command).toEqual(['nsenter', `--net=${ns}`, 'iptables', '-w', '-t', 'raw', '-N', 'caa-test']);
    expect(err.message).toMatch(/iptables -w -t raw -N caa-test failed \(exit 1\): .*exists/i);
  });
});
