import { afterEach, describe, expect, it } from 'vitest';
import { stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseApfJson, renderApfJson, validateApfConfig, type ApfRoute } from '../../../../src/podvm/apf-config.js';
import {
  NetnsError,
  inspectHost,
  inspectPodNetns,
  isNetnsError,
  pickPrimaryRoute,
  podNetworkConfig,
  type HostNetInfo,
  type NetnsErrorCode,
  type PodNetnsInfo,
} from '../../../../src/tunnel/netns/index.js';
import { makeTempDir, rejectionOf, removeDir, sleep } from '../../../helpers/async.js';
import { TestNet, netnsTestsUnavailable } from '../../../helpers/netns.js';
import { POD_NETWORK_FIELDS } from '../../../helpers/pod-network-fields.js';

const skipReason = await netnsTestsUnavailable();
if (skipReason) console.warn(`[netns] skipping pod/host namespace inspection tests: ${skipReason}`);

async function netnsError(p: Promise<unknown>, code: NetnsErrorCode): Promise<NetnsError> {
  const err = await rejectionOf(p);
  expect(err).toBeInstanceOf(NetnsError);
  expect((err as NetnsError).code).toBe(code);
  expect(isNetnsError(err, code)).toBe(true);
  return err as NetnsError;
}

const POD_MAC = '0a:58:0a:f4:01:15';
const GW_MAC = '0a:58:0a:f4:01:01';

/** What the pod namespace built by `makePod` must inspect to. */
const EXPECTED_POD: PodNetnsInfo = {
  interface: 'eth0',
  podIp: '10.244.1.21/24',
  hwAddr: POD_MAC,
  mtu: 1450,
  gateway: '10.244.1.1',
  routes: [
    { dst: '0.0.0.0/0', gw: '10.244.1.1', dev: 'eth0', protocol: 'boot', scope: 'universe' },
    { dst: '10.99.0.0/16', gw: '10.244.1.1', dev: 'eth0', protocol: 'static', scope: 'universe' },
    { dst: '10.99.5.5/32', gw: '', dev: 'eth0', protocol: 'boot', scope: 'link' },
    { dst: '10.244.1.0/24', gw: '', dev: 'eth0', protocol: 'kernel', scope: 'link' },
    { dst: '10.250.7.0/24', gw: '', dev: 'net1', protocol: 'kernel', scope: 'link' },
  ],
  neighbors: [{ ip: '10.244.1.1', 'hw-addr': GW_MAC, dev: 'eth0', state: 'permanent' }],
};

const HOST: HostNetInfo = { interface: 'ens0', workerNodeIp: '10.250.0.10/24', mtu: 1500, dedicated: false };

describe('pickPrimaryRoute (Go findPrimaryInterface)', () => {
  const def = (dev: string) => ({ dst: '0.0.0.0/0', dev });

  it('prefers the same name prefix with the lowest number', () => {
    expect(pickPrimaryRoute([def('ens1'), def('ens0')])?.dev).toBe('ens0');
    expect(pickPrimaryRoute([def('ens10'), def('ens2'), def('ens3')])?.dev).toBe('ens2');
    expect(pickPrimaryRoute([def('eth1'), def('eth0')])?.dev).toBe('eth0');
  });

  it('keeps the first (lowest metric) route when the prefixes differ', () => {
    expect(pickPrimaryRoute([def('eth9'), def('ens1'), def('ens0')])?.dev).toBe('eth9');
    expect(pickPrimaryRoute([def('ens1'), def('eth0'), def('ens0')])?.dev).toBe('ens0');
  });

  it('a name without a numeric suffix loses to a numbered one of the same prefix', () => {
    expect(pickPrimaryRoute([def('ens'), def('ens5')])?.dev).toBe('ens5');
    expect(pickPrimaryRoute([def('br-lan'), def('eth0')])?.dev).toBe('br-lan');
  });

  it('ignores non-default routes and routes without a device', () => {
    expect(pickPrimaryRoute([{ dst: '10.0.0.0/8', dev: 'eth0' }, { dst: '0.0.0.0/0' }])).toBeUndefined();
    expect(pickPrimaryRoute([])).toBeUndefined();
  });
});

describe('podNetworkConfig', () => {
  const input = { pod: EXPECTED_POD, host: HOST, vni: 555_003, port: 4789, index: 3, externalNetViaPodVm: false };

  it('builds the apf.json pod-network object in Go field order', () => {
    const cfg = podNetworkConfig(input);
    expect(cfg).toEqual({
      podip: '10.244.1.21/24',
      'pod-hw-addr': POD_MAC,
      interface: 'eth0',
      'worker-node-ip': '10.250.0.10/24',
      'tunnel-type': 'vxlan',
      routes: EXPECTED_POD.routes,
      neighbors: EXPECTED_POD.neighbors,
      mtu: 1450,
      index: 3,
      'vxlan-port': 4789,
      'vxlan-id': 555_003,
      dedicated: false,
      'external-net-via-pod-vm': false,
    });
    expect(Object.keys(cfg)).toEqual(POD_NETWORK_FIELDS);
    // A copy: editing it does not change the inspection result.
    cfg.routes[0]!.gw = '10.244.1.254';
    expect(EXPECTED_POD.routes[0]!.gw).toBe('10.244.1.1');
  });

  it('is a valid apf.json pod-network that survives render → parse', () => {
    const doc = { 'pod-network': podNetworkConfig(input), 'pod-namespace': 'default', 'pod-name': 'nginx' };
    expect(() => validateApfConfig(doc)).not.toThrow();
    const text = renderApfJson(doc);
    const parsed = parseApfJson(text);
    // The renderer drops Go zero values (scope "universe"); everything else round-trips.
    const universeDropped: ApfRoute[] = EXPECTED_POD.routes.map(({ scope, ...r }) => (scope === 'universe' ? r : { ...r, scope }));
    expect(parsed['pod-network']?.routes).toEqual(universeDropped);
    expect(parsed['pod-network']?.neighbors).toEqual(EXPECTED_POD.neighbors);
    expect(JSON.parse(text)['pod-network']['routes'][0]).toEqual({ dst: '0.0.0.0/0', gw: '10.244.1.1', dev: 'eth0', protocol: 'boot' });
  });

  it('writes neighbors: null when there are none, and passes dedicated / external-net through', () => {
    const cfg = podNetworkConfig({
      ...input,
      pod: { ...EXPECTED_POD, neighbors: null },
      host: { ...HOST, dedicated: true },
      externalNetViaPodVm: true,
    });
    expect(cfg.neighbors).toBeNull();
    expect(cfg.dedicated).toBe(true);
    expect(cfg['external-net-via-pod-vm']).toBe(true);
    const text = renderApfJson({ 'pod-network': cfg, 'pod-namespace': 'ns', 'pod-name': 'p' });
    expect(text).toContain('"neighbors": null');
  });

  it('adds POD_SUBNET_CIDRS routes via the pod gateway', () => {
    const cfg = podNetworkConfig({ ...input, podSubnetCidrs: ['10.96.0.0/12'] });
    expect(cfg.routes.at(-1)).toEqual({ dst: '10.96.0.0/12', gw: '10.244.1.1', dev: 'eth0' });
    expect(() => podNetworkConfig({ ...input, podSubnetCidrs: ['10.96.0.0'] })).toThrow(/pod subnet CIDR "10.96.0.0"/);
  });

  it('refuses out-of-range VNI, port and index', () => {
    expect(() => podNetworkConfig({ ...input, vni: 1 << 24 })).toThrow(/vni must be an integer between 0 and 16777215/);
    expect(() => podNetworkConfig({ ...input, port: 70000 })).toThrow(/port/);
    expect(() => podNetworkConfig({ ...input, index: -1 })).toThrow(/index/);
    expect(() => podNetworkConfig({ ...input, vni: 1.5 })).toThrow(RangeError);
  });
});

describe.skipIf(skipReason !== undefined)('inspection of real namespaces (root)', () => {
  let net: TestNet | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    const n = net;
    net = undefined;
    await removeDir(dir);
    dir = undefined;
    await n?.cleanup();
  });

  /**
   * A pod namespace as a CNI leaves it: eth0 (veth, peer in `node`) 10.244.1.21/24, default route
   * via 10.244.1.1, an extra static route, a host route, a second interface net1, a blackhole route
   * (not unicast: not recorded), a permanent and a reachable neighbour on eth0 and a permanent one
   * on net1 (only the first is recorded).
   */
  async function makePod(): Promise<string> {
    net = await TestNet.create('caa-insp', ['pod', 'node']);
    await net.veth('pod', 'eth0', 'node', 'veth0', { aMac: POD_MAC, mtu: 1450 });
    await net.veth('pod', 'net1', 'node', 'veth1');
    await net.addr('pod', 'eth0', '10.244.1.21/24');
    await net.addr('pod', 'net1', '10.250.7.2/24');
    await net.route('pod', 'default', 'via', '10.244.1.1', 'dev', 'eth0');
    await net.route('pod', '10.99.0.0/16', 'via', '10.244.1.1', 'dev', 'eth0', 'proto', 'static');
    await net.route('pod', '10.99.5.5', 'dev', 'eth0', 'scope', 'link');
    await net.route('pod', 'blackhole', '10.250.9.0/24');
    await net.neigh('pod', '10.244.1.1', GW_MAC, 'eth0');
    await net.neigh('pod', '10.244.1.7', '0a:58:0a:f4:01:07', 'eth0', 'reachable');
    await net.neigh('pod', '10.250.7.1', '0a:58:0a:fa:07:01', 'net1');
    return net.ns('pod');
  }

  /** A worker namespace with two default routes: via ens1 (metric 100) and via ens0 (metric 200). */
  async function makeWorker(): Promise<string> {
    net = await TestNet.create('caa-insp', ['worker', 'lan']);
    await net.veth('worker', 'ens1', 'lan', 'lan1');
    await net.veth('worker', 'ens0', 'lan', 'lan0');
    await net.veth('worker', 'ens2', 'lan', 'lan2'); // no IPv4 address
    await net.addr('worker', 'ens1', '10.250.1.10/24');
    await net.addr('worker', 'ens0', '10.250.0.10/24');
    await net.addr('worker', 'ens0', '10.250.0.11/24');
    await net.route('worker', 'default', 'via', '10.250.1.1', 'dev', 'ens1', 'metric', '100');
    await net.route('worker', 'default', 'via', '10.250.0.1', 'dev', 'ens0', 'metric', '200');
    return net.ns('worker');
  }

  it('records the pod interface, IP, MAC, MTU, routes and permanent neighbours', async () => {
    const ns = await makePod();
    expect(await inspectPodNetns(ns)).toEqual(EXPECTED_POD);
  });

  it('gives a valid apf.json pod-network together with the worker inspection', async () => {
    const podNs = await makePod();
    await net!.addNs('worker');
    await net!.veth('worker', 'ens0', 'node', 'up0');
    await net!.addr('worker', 'ens0', '10.250.0.10/24');
    await net!.route('worker', 'default', 'via', '10.250.0.1');
    const [pod, host] = await Promise.all([inspectPodNetns(podNs), inspectHost({ netns: net!.ns('worker') })]);
    expect(host).toEqual(HOST);
    const cfg = podNetworkConfig({ pod, host, vni: 555_000, port: 4789, index: 0, externalNetViaPodVm: false });
    const doc = validateApfConfig({ 'pod-network': cfg, 'pod-namespace': 'default', 'pod-name': 'nginx' });
    expect(doc['pod-network']).toEqual(cfg);
    expect(cfg).toMatchObject({ podip: '10.244.1.21/24', 'pod-hw-addr': POD_MAC, 'worker-node-ip': '10.250.0.10/24', 'vxlan-id': 555_000 });
  });

  it('reads a pod namespace through /proc/<pid>/ns/net', async () => {
    await makePod();
    const child = net!.spawn('pod', ['sleep', '300']);
    const path = `/proc/${child.pid}/ns/net`;
    // ip netns exec enters the namespace before exec'ing sleep: wait until the process is in it.
    const podIno = (await stat(net!.ns('pod'))).ino;
    const deadline = Date.now() + 5000;
    while ((await stat(path).catch(() => undefined))?.ino !== podIno) {
      if (Date.now() > deadline) throw new Error(`${path} did not enter the pod namespace`);
      await sleep(10);
    }
    expect(await inspectPodNetns(path)).toEqual(EXPECTED_POD);
  });

  it('records neighbors: null when the pod interface has no permanent entry', async () => {
    net = await TestNet.create('caa-insp', ['pod', 'node']);
    await net.veth('pod', 'eth0', 'node', 'veth0');
    await net.addr('pod', 'eth0', '10.244.2.5/32');
    await net.route('pod', '169.254.1.1', 'dev', 'eth0', 'scope', 'link');
    await net.route('pod', 'default', 'via', '169.254.1.1', 'dev', 'eth0');
    const info = await inspectPodNetns(net.ns('pod'));
    expect(info.neighbors).toBeNull();
    expect(info.podIp).toBe('10.244.2.5/32');
    expect(info.routes).toEqual([
      { dst: '0.0.0.0/0', gw: '169.254.1.1', dev: 'eth0', protocol: 'boot', scope: 'universe' },
      { dst: '169.254.1.1/32', gw: '', dev: 'eth0', protocol: 'boot', scope: 'link' },
    ]);
  });

  it('a missing pod netns path is POD_NETNS_NOT_FOUND naming the path', async () => {
    const path = '/var/run/netns/cni-caa-test-does-not-exist';
    const err = await netnsError(inspectPodNetns(path), 'POD_NETNS_NOT_FOUND');
    expect(err.message).toBe(`pod network namespace ${path} does not exist`);
    expect(err.netns).toBe(path);
  });

  it('a stale mount point (plain file) is POD_NETNS_NOT_FOUND', async () => {
    dir = await makeTempDir('netns-');
    const stale = join(dir, 'cni-stale');
    await writeFile(stale, '');
    const err = await netnsError(inspectPodNetns(stale), 'POD_NETNS_NOT_FOUND');
    expect(err.message).toContain(`pod network namespace ${stale} is not a namespace file`);
  });

  it('no default route is NO_DEFAULT_ROUTE naming the netns and its routes', async () => {
    net = await TestNet.create('caa-insp', ['pod', 'node']);
    await net.veth('pod', 'eth0', 'node', 'veth0');
    await net.addr('pod', 'eth0', '10.244.1.21/24');
    const ns = net.ns('pod');
    const err = await netnsError(inspectPodNetns(ns), 'NO_DEFAULT_ROUTE');
    expect(err.message).toBe(`no IPv4 default route with a device in pod network namespace ${ns} (routes: 10.244.1.0/24 dev eth0)`);
    expect(err.netns).toBe(ns);
  });

  it('two IPv4 addresses on the primary interface is POD_IP_NOT_UNIQUE naming the interface', async () => {
    const ns = await makePod();
    await net!.addr('pod', 'eth0', '10.244.1.22/24');
    const err = await netnsError(inspectPodNetns(ns), 'POD_IP_NOT_UNIQUE');
    expect(err.message).toBe(`more than one IPv4 address on interface eth0 of pod network namespace ${ns}: 10.244.1.21/24, 10.244.1.22/24`);
    expect(err.interface).toBe('eth0');
  });

  it('no IPv4 address on the primary interface is NO_POD_IP naming the interface', async () => {
    net = await TestNet.create('caa-insp', ['pod', 'node']);
    await net.veth('pod', 'eth0', 'node', 'veth0');
    await net.route('pod', 'default', 'dev', 'eth0');
    const ns = net.ns('pod');
    const err = await netnsError(inspectPodNetns(ns), 'NO_POD_IP');
    expect(err.message).toBe(`no IPv4 address on interface eth0 of pod network namespace ${ns}`);
    expect(err).toMatchObject({ netns: ns, interface: 'eth0' });
  });

  it('host: picks ens0 over ens1 and its first IPv4 address', async () => {
    const ns = await makeWorker();
    expect(await inspectHost({ netns: ns })).toEqual(HOST);
    expect(await inspectHost({ netns: ns, hostInterface: '' })).toEqual(HOST);
  });

  it('host: a given hostInterface other than the primary is dedicated', async () => {
    const ns = await makeWorker();
    expect(await inspectHost({ netns: ns, hostInterface: 'ens1' })).toEqual({
      interface: 'ens1',
      workerNodeIp: '10.250.1.10/24',
      mtu: 1500,
      dedicated: true,
    });
    expect(await inspectHost({ netns: ns, hostInterface: 'ens0' })).toEqual(HOST);
  });

  it('host: bad interface, interface without IPv4, no default route, missing netns', async () => {
    const ns = await makeWorker();
    const missing = await netnsError(inspectHost({ netns: ns, hostInterface: 'nope0' }), 'INTERFACE_NOT_FOUND');
    expect(missing.message).toBe(`host interface nope0 does not exist in network namespace ${ns}`);
    const noIp = await netnsError(inspectHost({ netns: ns, hostInterface: 'ens2' }), 'NO_HOST_IP');
    expect(noIp.message).toBe(`no IPv4 address on host interface ens2 in network namespace ${ns}`);
    const lan = net!.ns('lan');
    const noRoute = await netnsError(inspectHost({ netns: lan }), 'NO_DEFAULT_ROUTE');
    expect(noRoute.message).toContain(`no IPv4 default route with a device in network namespace ${lan}`);
    const gone = await netnsError(inspectHost({ netns: '/var/run/netns/caa-test-gone' }), 'NETNS_NOT_FOUND');
    expect(gone.message).toBe('network namespace /var/run/netns/caa-test-gone does not exist');
  });

  it('host: without netns it reads the current namespace (run inside the worker namespace)', async () => {
    await makeWorker();
    const tsx = resolve('node_modules/.bin/tsx');
    const main = resolve('test/unit/tunnel/netns/fixtures/inspect-host-main.ts');
    expect(JSON.parse(await net!.run('worker', [tsx, main], 20_000))).toEqual(HOST);
    expect(JSON.parse(await net!.run('worker', [tsx, main, 'ens1'], 20_000))).toMatchObject({ interface: 'ens1', dedicated: true });
  });

  it('an aborted signal stops the inspection', async () => {
    const ns = await makePod();
    const ac = new AbortController();
    ac.abort();
    await expect(inspectPodNetns(ns, { signal: ac.signal })).rejects.toThrow();
  });
});
