import { describe, expect, it } from 'vitest';
import { parseApfJson, renderApfJson, type ApfConfig } from '../../../src/podvm/apf-config.js';
import { ApfConfigError } from '../../../src/podvm/errors.js';
import { POD_NETWORK_FIELDS_WITHOUT_VXLAN } from '../../helpers/pod-network-fields.js';
import { thrownBy } from '../../helpers/thrown.js';

const KEY = '-----BEGIN PRIVATE KEY-----\nMIGHAgEA\n-----END PRIVATE KEY-----\n';
const CERT = '-----BEGIN CERTIFICATE-----\nMIIBkTCB\n-----END CERTIFICATE-----\n';
const CA = '-----BEGIN CERTIFICATE-----\nMIIBjjCC\n-----END CERTIFICATE-----\n';

const full: ApfConfig = {
  'pod-network': {
    podip: '10.244.1.21/24',
    'pod-hw-addr': '0a:58:0a:f4:01:15',
    interface: 'eth0',
    'worker-node-ip': '10.224.0.5/16',
    'tunnel-type': 'vxlan',
    routes: [
      { dst: '0.0.0.0/0', gw: '10.244.1.1', dev: 'eth0', protocol: 'boot', scope: 'universe' },
      { dst: '10.244.1.0/24', gw: '', dev: 'eth0', protocol: 'kernel', scope: 'link' },
    ],
    neighbors: [{ ip: '10.244.1.1', 'hw-addr': 'ee:ee:ee:ee:ee:ee', dev: 'eth0', state: 'permanent' }],
    mtu: 1450,
    index: 3,
    'vxlan-port': 4789,
    'vxlan-id': 555003,
    dedicated: false,
    'external-net-via-pod-vm': false,
  },
  'pod-namespace': 'default',
  'pod-name': 'nginx',
  'tls-server-key': KEY,
  'tls-server-cert': CERT,
  'tls-client-ca': CA,
  'tls-min-version': 'VersionTLS12',
  'tls-cipher-suites': ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384'],
};

// Written by hand from Go's forwarder.Config / tunneler.Config: field order, 4-space indent, and
// `scope: universe` dropped because it is Go's zero value under `omitempty`.
const FULL_TEXT = `{
    "pod-network": {
        "podip": "10.244.1.21/24",
        "pod-hw-addr": "0a:58:0a:f4:01:15",
        "interface": "eth0",
        "worker-node-ip": "10.224.0.5/16",
        "tunnel-type": "vxlan",
        "routes": [
            {
                "dst": "0.0.0.0/0",
                "gw": "10.244.1.1",
                "dev": "eth0",
                "protocol": "boot"
            },
            {
                "dst": "10.244.1.0/24",
                "gw": "",
                "dev": "eth0",
                "protocol": "kernel",
                "scope": "link"
            }
        ],
        "neighbors": [
            {
                "ip": "10.244.1.1",
                "hw-addr": "ee:ee:ee:ee:ee:ee",
                "dev": "eth0",
                "state": "permanent"
            }
        ],
        "mtu": 1450,
        "index": 3,
        "vxlan-port": 4789,
        "vxlan-id": 555003,
        "dedicated": false,
        "external-net-via-pod-vm": false
    },
    "pod-namespace": "default",
    "pod-name": "nginx",
    "tls-server-key": "-----BEGIN PRIVATE KEY-----\\nMIGHAgEA\\n-----END PRIVATE KEY-----\\n",
    "tls-server-cert": "-----BEGIN CERTIFICATE-----\\nMIIBkTCB\\n-----END CERTIFICATE-----\\n",
    "tls-client-ca": "-----BEGIN CERTIFICATE-----\\nMIIBjjCC\\n-----END CERTIFICATE-----\\n",
    "tls-min-version": "VersionTLS12",
    "tls-cipher-suites": [
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"
    ]
}
`;

const apfError = (fn: () => unknown): ApfConfigError => thrownBy(fn, ApfConfigError);

describe('apf.json', () => {
  it('renders a full config exactly as Go marshals it', () => {
    expect(renderApfJson(full)).toBe(FULL_TEXT);
  });

  it('round-trips through parse (universe scope reads back as absent)', () => {
    const parsed = parseApfJson(FULL_TEXT);
    const { scope: _universe, ...route0 } = full['pod-network']!.routes[0]!;
    expect(parsed).toEqual({ ...full, 'pod-network': { ...full['pod-network']!, routes: [route0, full['pod-network']!.routes[1]] } });
    expect(renderApfJson(parsed)).toBe(FULL_TEXT);
  });

  it('omits empty TLS keys, zero vxlan port/id and Go zero values, and writes a missing pod-network as null', () => {
    const minimal = `{
    "pod-network": null,
    "pod-namespace": "ns",
    "pod-name": "p"
}
`;
    expect(renderApfJson({ 'pod-namespace': 'ns', 'pod-name': 'p' })).toBe(minimal);
    expect(
      renderApfJson({
        'pod-network': null,
        'pod-namespace': 'ns',
        'pod-name': 'p',
        'tls-server-key': '',
        'tls-server-cert': '',
        'tls-client-ca': '',
        'tls-min-version': '',
        'tls-cipher-suites': [],
      }),
    ).toBe(minimal);

    const net = JSON.parse(
      renderApfJson({
        'pod-namespace': 'ns',
        'pod-name': 'p',
        'pod-network': {
          ...full['pod-network']!,
          routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1', dev: '' }],
          neighbors: null,
          'vxlan-port': 0,
          'vxlan-id': 0,
        },
      }),
    ) as { 'pod-network': Record<string, unknown> };
    expect(Object.keys(net['pod-network'])).toEqual(POD_NETWORK_FIELDS_WITHOUT_VXLAN);
    expect(net['pod-network'].routes).toEqual([{ dst: '0.0.0.0/0', gw: '10.0.0.1' }]);
    expect(net['pod-network'].neighbors).toBeNull();
  });

  it('reads a file without pod-network, with routes null, and ignores unknown keys', () => {
    expect(parseApfJson('{"pod-namespace":"ns","pod-name":"p","sc-pp-prv":"AAAA"}')).toEqual({ 'pod-namespace': 'ns', 'pod-name': 'p' });
    const withNullRoutes = JSON.parse(FULL_TEXT) as { 'pod-network': { routes: unknown } };
    withNullRoutes['pod-network'].routes = null;
    expect(parseApfJson(JSON.stringify(withNullRoutes))['pod-network']?.routes).toEqual([]);
  });

  it('names the bad key in parse errors', () => {
    type Obj = Record<string, unknown>;
    type Doc = Obj & { 'pod-network': Obj & { routes: Obj[]; neighbors: Obj[] } };
    const bad = (mutate: (doc: Doc) => void): ApfConfigError => {
      const doc = JSON.parse(FULL_TEXT) as Doc;
      mutate(doc);
      return apfError(() => parseApfJson(JSON.stringify(doc)));
    };
    let e = bad((d) => (d['pod-name'] = 7));
    expect(e.code).toBe('INVALID_APF_CONFIG');
    expect(e.key).toBe('pod-name');
    expect(e.message).toContain('"pod-name"');

    e = bad((d) => delete d['pod-namespace']);
    expect(e.key).toBe('pod-namespace');

    e = bad((d) => (d['pod-network'].routes[1]!.gw = 'not-an-ip'));
    expect(e.key).toBe('pod-network.routes[1].gw');
    expect(e.message).toContain('pod-network.routes[1].gw');

    e = bad((d) => (d['pod-network'].podip = '10.244.1.21'));
    expect(e.key).toBe('pod-network.podip');

    e = bad((d) => (d['pod-network'].mtu = '1450'));
    expect(e.key).toBe('pod-network.mtu');

    e = bad((d) => (d['pod-network']['vxlan-port'] = 70000));
    expect(e.key).toBe('pod-network.vxlan-port');

    e = bad((d) => (d['pod-network'].neighbors[0]!.state = 'bogus'));
    expect(e.key).toBe('pod-network.neighbors[0].state');

    e = bad((d) => (d['tls-min-version'] = 'VersionTLS11'));
    expect(e.key).toBe('tls-min-version');

    e = bad((d) => (d['tls-cipher-suites'] = [1]));
    expect(e.key).toBe('tls-cipher-suites[0]');
  });

  it('refuses text that is not a JSON object', () => {
    expect(apfError(() => parseApfJson('{')).message).toMatch(/not valid JSON/);
    expect(apfError(() => parseApfJson('[]')).code).toBe('INVALID_APF_CONFIG');
    expect(apfError(() => parseApfJson('null')).key).toBe('');
  });

  it('refuses to render a config the forwarder would refuse', () => {
    const e = apfError(() => renderApfJson({ ...full, 'pod-network': { ...full['pod-network']!, 'worker-node-ip': 'x' } }));
    expect(e.key).toBe('pod-network.worker-node-ip');
  });

  it('carries the sandbox id last, after Go\'s keys, and leaves it out when empty', () => {
    const text = renderApfJson({ 'pod-namespace': 'ns', 'pod-name': 'p', 'tls-min-version': 'VersionTLS13', 'sandbox-id': 'f'.repeat(64) });
    expect(Object.keys(JSON.parse(text) as object)).toEqual(['pod-network', 'pod-namespace', 'pod-name', 'tls-min-version', 'sandbox-id']);
    expect(parseApfJson(text)['sandbox-id']).toBe('f'.repeat(64));
    expect(renderApfJson({ 'pod-namespace': 'ns', 'pod-name': 'p', 'sandbox-id': '' })).not.toContain('sandbox-id');
  });
});
