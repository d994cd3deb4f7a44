/** The TestNet helper itself: what it creates is gone after cleanup, also after a crashed test process. */
import { afterEach, describe, expect, it } from 'vitest';
import { access } from 'node:fs/promises';
import { runCommand } from '../../../../src/util/run-command.js';
import { NETNS_DIR, TestNet, netnsTestsUnavailable } from '../../../helpers/netns.js';

const skipReason = await netnsTestsUnavailable();
if (skipReason) console.warn(`[netns] skipping TestNet helper tests: ${skipReason}`);

const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );

describe.skipIf(skipReason !== undefined)('TestNet (root)', () => {
  let net: TestNet | undefined;
  const extra: string[] = [];
  afterEach(async () => {
    const n = net;
    net = undefined;
    for (const name of extra.splice(0)) await runCommand(['ip', 'netns', 'delete', name]).catch(() => undefined);
    await n?.cleanup();
  });

  it('names namespaces per process, links them with veths and removes everything', async () => {
    net = await TestNet.create('caa-tn', ['a', 'b']);
    expect(net.nsName('a')).toBe(`caa-tn-${net.id}-a`);
    expect(net.id).toMatch(new RegExp(`^${process.pid}-\\d+$`));
    expect(net.ns('b')).toBe(`${NETNS_DIR}/caa-tn-${net.id}-b`);
    await net.veth('a', 'eth0', 'b', 'eth0', { aMac: '0a:58:0a:f4:01:15', mtu: 1400 });
    await net.addr('a', 'eth0', '10.250.3.1/24');
    await net.addr('b', 'eth0', '10.250.3.2/24');
    await net.route('a', '10.99.3.0/24', 'via', '10.250.3.2');
    expect(await net.ip('a', '-o', 'link', 'show', 'eth0')).toMatch(/mtu 1400 .*link\/ether 0a:58:0a:f4:01:15/);
    expect(await net.run('a', ['ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0'])).toContain('10.250.3.1/24');
    const child = net.spawn('b', ['sleep', '300']);
    const exited = new Promise((r) => child.once('exit', r));
    expect(await net.remaining()).toHaveLength(2);

    const paths = [net.ns('a'), net.ns('b')];
    await net.cleanup();
    await exited;
    expect(child.signalCode).toBe('SIGKILL');
    for (const p of paths) expect(await exists(p)).toBe(false);
    expect(await net.remaining()).toEqual([]);
    await net.cleanup(); // twice is fine
    expect(() => net!.ns('a')).toThrow(/no namespace "a"/);
  });

  it('sweeps namespaces of test processes that died before their cleanup', async () => {
    const dead = 'caa-tn-999999999-1-x'; // beyond pid_max: never a live process
    const live = `caa-tn-${process.pid}-999-y`;
    extra.push(dead, live);
    await runCommand(['ip', 'netns', 'add', dead]);
    await runCommand(['ip', 'netns', 'add', live]);
    net = await TestNet.create('caa-tn');
    expect(await exists(`${NETNS_DIR}/${dead}`)).toBe(false);
    expect(await exists(`${NETNS_DIR}/${live}`)).toBe(true);
  });

  it('refuses names that would escape the prefix scheme', async () => {
    await expect(TestNet.create('Bad Prefix')).rejects.toThrow(/bad TestNet prefix/);
    net = await TestNet.create('caa-tn');
    await expect(net.addNs('../x')).rejects.toThrow(/bad namespace name/);
  });
});
