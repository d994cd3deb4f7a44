import { describe, expect, it } from 'vitest';
import { daemonOptions, loadDaemonConfig } from '../../../src/config/daemon-config.js';
import { parseGoDuration } from '../../../src/config/duration.js';
import { ConfigError } from '../../../src/config/errors.js';
import { redact } from '../../../src/config/options.js';
import { normalizeGoFlags } from '../../../src/cli/go-flags.js';

const load = (env: Record<string, string>, flags: Record<string, string | boolean> = {}) => loadDaemonConfig({ env, flags });

describe('daemon configuration', () => {
  it('upstream defaults', () => {
    const c = load({});
    expect(c).toMatchObject({
      socket: '/run/peerpod/hypervisor.sock',
      podsDir: '/run/peerpod/pods',
      forwarderPort: 15150,
      proxyTimeoutMs: 300_000,
      tunnelType: 'vxlan',
      vxlanPort: 4789,
      vxlanMinId: 555000,
      peerpodsLimitPerNode: 10,
      disableTls: false,
    });
  });
  it('environment with upstream names, the old PEER_PODS_DIR alias, and flags over env', () => {
    const c = load({ REMOTE_HYPERVISOR_ENDPOINT: '/tmp/x.sock', PEER_PODS_DIR: '/tmp/pods', PROXY_TIMEOUT: '1m30s', ENABLE_SCRATCH_SPACE: 'TRUE', TLS_CIPHER_SUITES: 'A, B' }, { socket: '/tmp/y.sock' });
    expect(c.socket).toBe('/tmp/y.sock');
    expect(c.podsDir).toBe('/tmp/pods');
    expect(c.proxyTimeoutMs).toBe(90_000);
    expect(c.enableScratchSpace).toBe(true);
    expect(c.tlsCipherSuites).toEqual(['A', 'B']);
  });
  it('reports every bad key with its name and what it accepts', () => {
    try {
      load({ FORWARDER_PORT: '70000', TUNNEL_TYPE: 'geneve', PROXY_TIMEOUT: 'soon', CLOUD_CONFIG_VERIFY: 'yes', PODS_DIR: 'relative' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const m = (err as Error).message;
      expect(m).toMatch(/FORWARDER_PORT .* "70000" .*expected an integer from 1 to 65535/);
      expect(m).toMatch(/TUNNEL_TYPE .*expected one of: vxlan/);
      expect(m).toMatch(/PROXY_TIMEOUT .*invalid duration "soon"/);
      expect(m).toMatch(/CLOUD_CONFIG_VERIFY .*expected true or false/);
      expect(m).toMatch(/PODS_DIR .*expected an absolute path/);
    }
  });
  it('refuses a PODS_DIR too long for Unix socket paths', () => {
    expect(() => load({ PODS_DIR: `/${'d'.repeat(60)}` })).toThrow(/limit is 107/);
  });
  it('refuses contradictory TLS settings', () => {
    expect(() => load({ TLS_MIN_VERSION: 'VersionTLS13', TLS_CIPHER_SUITES: 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256' })).toThrow(/only be chosen with TLS 1.2/);
    expect(() => load({ CACERT_FILE: '/x', TLS_SKIP_VERIFY: 'true' })).toThrow(/cannot be used together/);
    expect(() => load({ TLS_MIN_VERSION: 'VersionTLS10' })).toThrow(/expected one of: "", VersionTLS12, VersionTLS13/);
  });
  it('redacts secrets for the log line', () => {
    const c = load({ CERT_KEY: '/etc/certificates/client.key' });
    expect(redact(daemonOptions, c).certKey).toBe('<redacted>');
    expect(redact(daemonOptions, c).socket).toBe('/run/peerpod/hypervisor.sock');
  });
});

describe('Go durations', () => {
  it.each([
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['300ms', 300],
    ['1.5s', 1500],
    ['0', 0],
  ])('%s', (text, ms) => expect(parseGoDuration(text)).toBe(ms));
  it.each(['', '5', 'm', '5 m', '-1s', '5d'])('refuses %j', (text) => expect(() => parseGoDuration(text)).toThrow(/invalid duration/));
});

describe('Go-style flags', () => {
  it('rewrites -flag and -bool=false forms', () => {
    expect(normalizeGoFlags(['node', 'caa', 'aws', '-pods-dir', '/p', '-disable-tls', '-socket=/s', '-enable-scratch-space=false', '-h'], Object.values(daemonOptions))).toEqual([
      'node', 'caa', 'aws', '--pods-dir', '/p', '--disable-tls', '--socket=/s', '-h',
    ]);
  });
});
