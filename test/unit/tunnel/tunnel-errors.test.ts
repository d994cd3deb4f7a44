/** The tunnel's own failures are TunnelErrors with a stable code; their messages are as before. */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ProxyAgentTunnel } from '../../../src/tunnel/proxy-tunnel.js';
import { TunnelError, isTunnelError } from '../../../src/tunnel/errors.js';
import { createRelay } from '../../../src/tunnel/relay.js';
import type { ReconnectingClient } from '../../../src/tunnel/reconnecting-client.js';

const log = pino({ level: 'silent' });

describe('tunnel errors', () => {
  it('an instance without an address: NO_ADDRESS, naming the instance', async () => {
    const tunnel = new ProxyAgentTunnel({ forwarderPort: 15150, proxyTimeoutMs: 1000, tlsFor: () => undefined, logger: log });
    const instance = { id: 'i-7', name: 'podvm-x', ips: [] };
    const err = await tunnel.open({ sandboxId: 's', socketPath: '/nonexistent/agent.ttrpc', instance, instanceName: 'podvm-x' }, new AbortController().signal).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TunnelError);
    expect(err).toMatchObject({ name: 'TunnelError', code: 'NO_ADDRESS', message: 'instance i-7 has no IP address' });
    expect(tunnel.size).toBe(0);
  });

  it('a relay hook key that is not service/method: INVALID_ARGUMENT', () => {
    const upstream = {} as ReconnectingClient;
    const make = (): unknown => createRelay({ upstream, rewriters: new Map([['CreateContainer', (p: Buffer) => p]]) });
    expect(make).toThrow('relay hook key "CreateContainer" is not service/method');
    let err: unknown;
    try {
      make();
    } catch (e) {
      err = e;
    }
    expect(isTunnelError(err, 'INVALID_ARGUMENT')).toBe(true);
  });

  it('the code list is what the guard and the docs know', () => {
    expect(TunnelError.codes).toEqual(['FORWARDER_UNREACHABLE', 'IDENTITY_MISMATCH', 'CANCELLED', 'CLOSED', 'NO_ADDRESS', 'INVALID_ARGUMENT']);
    // The type checker knows the codes too (tsc -p tsconfig.test.json fails if this line compiles).
    // @ts-expect-error 'UNHEARD_OF' is not a TunnelErrorCode
    expect(new TunnelError('UNHEARD_OF', 'x').code).toBe('UNHEARD_OF');
  });
});
