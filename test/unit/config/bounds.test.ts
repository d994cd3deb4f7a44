/**
 * Configuration that cannot work is refused at start, naming the key and what it accepts (issue 16
 * finding 8): out-of-range durations (PROXY_TIMEOUT=0s or 2000h were accepted, then every StartVM
 * failed), malformed CIDR lists, empty names.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { daemonOptions, loadDaemonConfig } from '../../../src/config/daemon-config.js';
import { ConfigError } from '../../../src/config/errors.js';
import { cidrList, duration, durationRange, int, isCidr, name, parseFlag, resolveOptions } from '../../../src/config/options.js';
import { azureOptions } from '../../../src/providers/azure/config.js';
import { libvirtOptions } from '../../../src/providers/libvirt/config.js';
import { MAX_TIMER_DELAY_MS } from '../../../src/util/timers.js';

const load = (env: Record<string, string>) => loadDaemonConfig({ env: { NODE_NAME: 'worker-1', ...env }, flags: {} });
const refusal = (env: Record<string, string>): string => {
  try {
    load(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(env)}`);
};

describe('duration bounds', () => {
  it.each([
    ['PROXY_TIMEOUT', '0s', /PROXY_TIMEOUT .*"0s".*expected a duration from 1s to 24h/],
    ['PROXY_TIMEOUT', '2000h', /PROXY_TIMEOUT .*"2000h".*out of range: expected a duration from 1s to 24h/],
    ['PROXY_TIMEOUT', '999ms', /PROXY_TIMEOUT .*from 1s to 24h/],
    ['PROXY_TIMEOUT', '0.5ns', /PROXY_TIMEOUT .*from 1s to 24h/],
    ['SHUTDOWN_GRACE', '2h', /SHUTDOWN_GRACE .*from 0s to 1h/],
    ['REAPER_PERIOD', '1s', /REAPER_PERIOD .*0 \(off\) or from 10s to 24h/],
    ['REAPER_PERIOD', '30000h', /REAPER_PERIOD .*0 \(off\) or from 10s to 24h/],
    ['REAPER_GRACE', '169h', /REAPER_GRACE .*from 0s to 168h/],
    ['START_FAILURE_CLEANUP_TIMEOUT', '0s', /START_FAILURE_CLEANUP_TIMEOUT .*from 1s to 24h/],
    ['START_FAILURE_CLEANUP_TIMEOUT', '700h', /START_FAILURE_CLEANUP_TIMEOUT .*from 1s to 24h/],
  ])('%s=%s is refused naming the key and the range', (key, value, message) => {
    expect(refusal({ [key]: value })).toMatch(message);
  });

  it.each([
    ['PROXY_TIMEOUT', '1s', 1_000],
    ['PROXY_TIMEOUT', '24h', 86_400_000],
    ['PROXY_TIMEOUT', '1m30.5s', 90_500],
    ['SHUTDOWN_GRACE', '0s', 0],
    ['REAPER_PERIOD', '0', 0],
    ['REAPER_GRACE', '0s', 0],
  ])('%s=%s is accepted', (key, value, ms) => {
    const c = load({ [key]: value });
    const field = Object.entries(daemonOptions).find(([, o]) => o.env[0] === key)![0];
    expect((c as Record<string, unknown>)[field]).toBe(ms);
  });

  it('every duration option of the daemon and the providers has a bound far below the 2^31 ms timer limit, and its default is inside it', () => {
    const tables = [daemonOptions, azureOptions, libvirtOptions];
    let durations = 0;
    for (const table of tables) {
      for (const o of Object.values(table)) {
        if (!o.schema.description?.startsWith('a duration ')) continue;
        durations++;
        expect(o.schema.safeParse(o.default).success, `${o.env[0] ?? o.flag} default ${o.default}`).toBe(true);
        // Over the timer limit is always refused.
        expect(o.schema.safeParse(`${Math.ceil((MAX_TIMER_DELAY_MS + 1) / 3_600_000)}h`).success, o.env[0] ?? o.flag).toBe(false);
      }
    }
    expect(durations).toBeGreaterThanOrEqual(7);
  });

  it('the schema accepts exactly the durations within its bounds (property)', () => {
    const bounds = { min: 1_000, max: 86_400_000 };
    const schema = duration(bounds);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 200_000_000 }), (ms) => {
        const r = schema.safeParse(`${ms}ms`);
        return r.success === (ms >= bounds.min && ms <= bounds.max) && (!r.success || r.data === ms);
      }),
    );
    expect(durationRange({ min: 0, max: 3_600_000, zero: 'off' })).toBe('0 (off) or from 0s to 1h');
  });

  it('provider durations: AZURE_POLL_INTERVAL and LIBVIRT_IP_TIMEOUT', () => {
    const bad = (table: typeof azureOptions | typeof libvirtOptions, env: Record<string, string>) => () => resolveOptions({ k: Object.values(table).find((o) => o.env[0] === Object.keys(env)[0])! }, { env, flags: {} });
    expect(bad(azureOptions, { AZURE_POLL_INTERVAL: '0s' })).toThrow(/AZURE_POLL_INTERVAL .*from 10ms to 10m/);
    expect(bad(azureOptions, { AZURE_POLL_INTERVAL: '2000h' })).toThrow(/AZURE_POLL_INTERVAL .*from 10ms to 10m/);
    expect(bad(libvirtOptions, { LIBVIRT_IP_TIMEOUT: '0s' })).toThrow(/LIBVIRT_IP_TIMEOUT .*from 1s to 1h/);
    expect(bad(libvirtOptions, { LIBVIRT_IP_TIMEOUT: '2000h' })).toThrow(/LIBVIRT_IP_TIMEOUT .*from 1s to 1h/);
  });
});

describe('lists and names', () => {
  it('POD_SUBNET_CIDRS: each entry must be a CIDR, the bad one is named', () => {
    expect(refusal({ POD_SUBNET_CIDRS: 'notacidr' })).toMatch(/POD_SUBNET_CIDRS .*"notacidr" is not a CIDR/);
    expect(refusal({ POD_SUBNET_CIDRS: '10.244.0.0/16,10.0.0.0/33' })).toMatch(/"10.0.0.0\/33" is not a CIDR/);
    expect(refusal({ POD_SUBNET_CIDRS: '10.244.0.0' })).toMatch(/"10.244.0.0" is not a CIDR/);
    expect(load({ POD_SUBNET_CIDRS: ' 10.244.0.0/16, fd00::/64 ,' }).podSubnetCidrs).toEqual(['10.244.0.0/16', 'fd00::/64']);
    expect(load({}).podSubnetCidrs).toEqual([]);
  });

  it('isCidr', () => {
    for (const good of ['0.0.0.0/0', '10.1.2.3/32', '::/0', 'fd00::/128', '192.168.0.0/24']) expect(isCidr(good), good).toBe(true);
    for (const bad of ['', '/', '10.0.0.0/', '10.0.0.0/-1', '10.0.0.0/1/2', '300.0.0.0/8', 'fd00::/129', 'host/24', '10.0.0.0/0x10']) expect(isCidr(bad), bad).toBe(false);
    expect(cidrList().safeParse('').success).toBe(true);
  });

  it.each([
    ['NODE_NAME', ''],
    ['NODE_NAME', '   '],
    ['NODE_NAME', 'node one'],
    ['NODE_NAME', 'a/b'],
    ['CLUSTER_NAME', ''],
    ['RUNTIMECLASS_NAME', ''],
  ])('%s=%j is refused', (key, value) => {
    expect(refusal({ [key]: value })).toMatch(new RegExp(`${key} .*(must not be empty|expected letters)`));
  });

  it('names: host names (also upper case and dots) are accepted, trimmed', () => {
    expect(load({ NODE_NAME: ' ip-10-0-1-2.ec2.internal ' }).nodeName).toBe('ip-10-0-1-2.ec2.internal');
    expect(load({ NODE_NAME: 'Worker_1' }).nodeName).toBe('Worker_1');
    expect(name().safeParse('x'.repeat(254)).success).toBe(false);
  });

  it('HOST_INTERFACE: empty, or a Linux interface name', () => {
    expect(load({ HOST_INTERFACE: 'eth1' }).hostInterface).toBe('eth1');
    expect(refusal({ HOST_INTERFACE: 'a-name-longer-than-15' })).toMatch(/HOST_INTERFACE .*1 to 15 characters/);
    expect(refusal({ HOST_INTERFACE: 'eth0/1' })).toMatch(/HOST_INTERFACE/);
  });
});

describe('parseFlag (forwarder flags outside the option tables)', () => {
  it('returns the value, or throws a ConfigError naming the flag', () => {
    expect(parseFlag('agent-wait', '150s', duration({ min: 1_000, max: 3_600_000 }))).toBe(150_000);
    expect(() => parseFlag('agent-wait', '2000h', duration({ min: 1_000, max: 3_600_000 }))).toThrow(ConfigError);
    expect(() => parseFlag('mtu-ceiling', 'abc', int(68, 65535))).toThrow(/--mtu-ceiling = "abc": expected an integer from 68 to 65535/);
  });
});
