import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { requestLog } from '../../../src/providers/request-log.js';

/** A root logger writing raw lines to a buffer, so that duplicate keys would show (JSON.parse hides them). */
function bufferLogger(): { root: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  return { root: pino({ base: undefined, timestamp: false }, { write: (l: string) => void lines.push(l.trim()) }), lines };
}

describe('requestLog', () => {
  it('binds the sandbox logger\'s keys on the provider\'s logger, keeping the provider\'s component once', () => {
    const { root, lines } = bufferLogger();
    const own = root.child({ component: 'aws' });
    const sandbox = root.child({ component: 'sandbox' }).child({ sandbox: 'sid-1', pod: 'web', namespace: 'prod' });
    requestLog(own, sandbox, { sandbox: 'ignored' }).info({ instanceId: 'i-1' }, 'created instance i-1');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toEqual({ level: 30, component: 'aws', sandbox: 'sid-1', pod: 'web', namespace: 'prod', instanceId: 'i-1', msg: 'created instance i-1' });
    expect(lines[0]!.match(/"component"/g)).toHaveLength(1);
    expect(lines[0]!.match(/"sandbox"/g)).toHaveLength(1);
  });

  it('without a sandbox logger: the fallback keys, or the provider\'s logger itself', () => {
    const { root, lines } = bufferLogger();
    const own = root.child({ component: 'libvirt' });
    requestLog(own, undefined, { sandbox: 'sid-2' }).info('a');
    expect(requestLog(own, undefined)).toBe(own);
    expect(JSON.parse(lines[0]!)).toEqual({ level: 30, component: 'libvirt', sandbox: 'sid-2', msg: 'a' });
  });
});
