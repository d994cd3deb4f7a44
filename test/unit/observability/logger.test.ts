/**
 * The daemon's logger bounds every line: no field a client can fill (an id, a name, an error text
 * quoting a request) may make a line huge.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { LOG_LIMITS, boundLogValue, createLogger } from '../../../src/observability/logger.js';
import { ProviderError } from '../../../src/providers/errors.js';
import { TlsError } from '../../../src/tunnel/tls/errors.js';
import { VxlanError } from '../../../src/tunnel/vxlan/errors.js';

function capture(): { lines: string[]; sink: Writable } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString('utf8'));
      cb();
    },
  });
  return { lines, sink };
}

const MIB = 'x'.repeat(1 << 20);
const LIMIT = LOG_LIMITS.stringChars;

describe('createLogger', () => {
  it('cuts long string fields, the message, printf arguments and child bindings, with a marker', () => {
    const { lines, sink } = capture();
    const log = createLogger('info', sink);
    log.info({ sandbox: MIB, nested: { list: [MIB] }, n: 7 }, `StopVM for unknown sandbox ${MIB}`);
    log.info('quoted: %s', MIB);
    log.child({ component: 'x', sandbox: MIB }).warn('child line');
    log.child({ component: 'y' }).child({ sandbox: MIB }).warn('grandchild line');
    expect(lines).toHaveLength(4);
    for (const line of lines) expect(line.length).toBeLessThan(4 * (LIMIT + 100) + 300);

    const first = JSON.parse(lines[0]!) as { sandbox: string; nested: { list: string[] }; n: number; msg: string };
    expect(first.sandbox).toBe(`${'x'.repeat(LIMIT)}…[truncated: 1048576 chars]`);
    expect(first.nested.list[0]).toBe(first.sandbox);
    expect(first.n).toBe(7);
    expect(first.msg.startsWith('StopVM for unknown sandbox xxx')).toBe(true);
    expect(first.msg).toMatch(/…\[truncated: 1048603 chars\]$/);
    expect((JSON.parse(lines[1]!) as { msg: string }).msg).toMatch(/^quoted: x+…\[truncated: 1048576 chars\]$/);
    expect((JSON.parse(lines[2]!) as { sandbox: string }).sandbox).toMatch(/…\[truncated: 1048576 chars\]$/);
    expect(JSON.parse(lines[3]!)).toMatchObject({ component: 'y', msg: 'grandchild line' });
  });

  it('leaves ordinary lines exactly as they were', () => {
    const { lines, sink } = capture();
    createLogger('info', sink).info({ sandbox: 'a'.repeat(64), phase: 'running', count: 3, ok: true }, 'sandbox started');
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(line).toMatchObject({ sandbox: 'a'.repeat(64), phase: 'running', count: 3, ok: true, msg: 'sandbox started', level: 'info' });
  });

  it('cuts an error whose message is huge', () => {
    const { lines, sink } = capture();
    createLogger('info', sink).error({ err: new Error(MIB) }, 'failed');
    expect(lines[0]!.length).toBeLessThan(3 * LIMIT);
    expect((JSON.parse(lines[0]!) as { err: { message: string } }).err.message).toMatch(/…\[truncated: 1048576 chars\]$/);
  });
});

describe('createLogger: errors', () => {
  interface ErrRecord {
    type: string;
    message: string;
    stack: string;
    code?: string;
    name?: string;
    cause?: ErrRecord | string;
    errors?: ErrRecord[];
  }
  const errOf = (line: string): ErrRecord => (JSON.parse(line) as { err: ErrRecord }).err;

  it('writes a coded error with its type, message, stack, code and cause (also the code of the cause)', () => {
    const { lines, sink } = capture();
    const root = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    createLogger('info', sink).error({ err: new TlsError('FILE_UNREADABLE', 'cannot read /etc/caa/ca.pem', { cause: root }) }, 'TLS set-up failed');
    const err = errOf(lines[0]!);
    expect(err).toMatchObject({ type: 'TlsError', name: 'TlsError', code: 'FILE_UNREADABLE', message: 'cannot read /etc/caa/ca.pem' });
    expect(err.stack.split('\n')[0]).toBe('TlsError: cannot read /etc/caa/ca.pem');
    expect(err.cause).toMatchObject({ type: 'Error', code: 'ENOSPC', message: 'ENOSPC: no space left on device, write' });
    expect((err.cause as ErrRecord).stack).toContain('ENOSPC');
  });

  it('writes an error given as the only argument under err, its message as the line message', () => {
    const { lines, sink } = capture();
    createLogger('info', sink).warn(new ProviderError('THROTTLED', 'rate limited', { cause: 'a string cause' }));
    const line = JSON.parse(lines[0]!) as { err: ErrRecord; msg: string };
    expect(line.msg).toBe('rate limited');
    expect(line.err).toMatchObject({ type: 'ProviderError', code: 'THROTTLED', cause: 'a string cause' });
  });

  it('writes errors under other keys and inside arrays the same way; a cycle of causes ends in a marker', () => {
    const { lines, sink } = capture();
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    const agg = new AggregateError([new VxlanError('VNI_IN_USE', 'create-device', 'VNI 7 is taken')], 'undo failed');
    createLogger('info', sink).error({ failures: [b], other: agg }, 'several');
    const line = JSON.parse(lines[0]!) as { failures: ErrRecord[]; other: ErrRecord };
    expect(line.failures[0]).toMatchObject({ message: 'b', cause: { message: 'a', cause: '[circular]' } });
    expect(line.other).toMatchObject({ type: 'AggregateError', message: 'undo failed' });
    expect(line.other.errors?.[0]).toMatchObject({ type: 'VxlanError', code: 'VNI_IN_USE', step: 'create-device' });
  });

  it('bounds a long cause chain by depth', () => {
    const { lines, sink } = capture();
    let err = new Error('root');
    for (let i = 0; i < 20; i++) err = new Error(`level ${i}`, { cause: err });
    createLogger('info', sink).error({ err }, 'deep');
    expect(lines[0]).toContain('[truncated: too deep]');
    expect(errOf(lines[0]!).message).toBe('level 19');
  });
});

describe('boundLogValue', () => {
  it('returns the value itself when nothing is over the limits', () => {
    const v = { a: 'short', b: [1, 2, 3], c: { d: 'e' } };
    expect(boundLogValue(v)).toBe(v);
  });

  it('bounds arrays, objects with many keys and deep nesting', () => {
    const many = Array.from({ length: 10_000 }, (_, i) => i);
    expect((boundLogValue(many) as unknown[]).length).toBe(LOG_LIMITS.arrayItems + 1);
    const wide = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, i]));
    expect(Object.keys(boundLogValue(wide) as object).length).toBe(LOG_LIMITS.objectKeys + 1);
    let deep: Record<string, unknown> = { leaf: true };
    for (let i = 0; i < 50; i++) deep = { deep };
    expect(JSON.stringify(boundLogValue(deep))).toContain('[truncated: too deep]');
  });

  it('a wide object whose first values were cut keeps only its first keys, every one bounded', () => {
    // Before: a long value among the first keys made a full copy, which the key cap then kept whole.
    const wide: Record<string, unknown> = { first: 'y'.repeat(LIMIT + 10) };
    for (let i = 0; i < 300; i++) wide[`k${i}`] = 'z'.repeat(LIMIT * 2);
    const out = boundLogValue(wide) as Record<string, string>;
    expect(Object.keys(out)).toHaveLength(LOG_LIMITS.objectKeys + 1);
    expect(Object.values(out).every((v) => v.length < LIMIT + 40)).toBe(true);
  });
});
