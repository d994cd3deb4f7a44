import { describe, expect, it } from 'vitest';
import { MultiNicNotice, afterCreated, checkUserDataBytes } from '../../../src/providers/create-checks.js';
import { ProviderError, isProviderError } from '../../../src/providers/errors.js';
import { captureLogger } from '../../helpers/capture-logger.js';

const live = (): AbortSignal => new AbortController().signal;

describe('MultiNicNotice', () => {
  it('warns on the first multi-NIC pod only, naming the provider and what instances get instead', () => {
    const { logger, logs } = captureLogger();
    const notice = new MultiNicNotice('aws', 'instances get one interface');
    notice.check({ multiNic: false }, logger);
    expect(logs).toEqual([]);
    notice.check({ multiNic: true }, logger);
    notice.check({ multiNic: true }, logger);
    expect(logs.map((l) => [l.level, l.msg])).toEqual([[40, 'EXTERNAL_NETWORK_VIA_PODVM is not implemented for aws; instances get one interface']]);
  });

  it('once per provider object: another provider warns again', () => {
    const { logger, logs } = captureLogger();
    new MultiNicNotice('azure', 'VMs get one NIC').check({ multiNic: true }, logger);
    new MultiNicNotice('azure', 'VMs get one NIC').check({ multiNic: true }, logger);
    expect(logs).toHaveLength(2);
  });
});

describe('afterCreated', () => {
  const created = { id: 'i-1', what: 'instance i-1 created but not reachable' };

  it('hands back what the steps made', async () => {
    expect(await afterCreated({ ...created, signal: live() }, async () => 42)).toBe(42);
  });

  it('a failure keeps its kind, is prefixed, names the instance for the caller to delete, and keeps the cause', async () => {
    const cause = new ProviderError('UNAVAILABLE', 'no address yet');
    const err = await afterCreated({ ...created, signal: live() }, () => Promise.reject(cause)).catch((e: unknown) => e);
    expect(isProviderError(err, 'UNAVAILABLE')).toBe(true);
    expect(err).toMatchObject({ message: 'instance i-1 created but not reachable: no address yet', partialInstanceId: 'i-1', cause });
  });

  it('a plain error is INTERNAL, or CANCELLED once the signal ended', async () => {
    const plain = await afterCreated({ ...created, signal: live() }, () => Promise.reject(new Error('boom'))).catch((e: unknown) => e);
    expect(plain).toMatchObject({ code: 'INTERNAL', message: 'instance i-1 created but not reachable: boom', partialInstanceId: 'i-1' });
    const ac = new AbortController();
    ac.abort(new Error('StopVM'));
    const cancelled = await afterCreated({ ...created, signal: ac.signal }, () => Promise.reject(new Error('socket closed'))).catch((e: unknown) => e);
    expect(cancelled).toMatchObject({ code: 'CANCELLED', partialInstanceId: 'i-1' });
  });

  it('`code` overrides the kind; `passThrough` lets a provider\'s own signal through untouched', async () => {
    const forced = await afterCreated({ ...created, signal: live(), code: 'INTERNAL' }, () => Promise.reject(new ProviderError('UNAVAILABLE', 'x'))).catch((e: unknown) => e);
    expect(forced).toMatchObject({ code: 'INTERNAL', partialInstanceId: 'i-1' });
    class Retry extends Error {}
    const mine = new Retry('next profile');
    const through = await afterCreated({ ...created, signal: live(), passThrough: (e) => e instanceof Retry }, () => Promise.reject(mine)).catch((e: unknown) => e);
    expect(through).toBe(mine);
  });
});

describe('checkUserDataBytes', () => {
  it('counts UTF-8 bytes: at the limit passes, one byte over is INVALID_REQUEST naming the instance and the size', () => {
    const at = { instanceName: 'podvm-a', userData: 'é'.repeat(8) }; // 16 bytes in 8 characters
    expect(() => checkUserDataBytes(at, 16, 'the cloud accepts at most 16 bytes')).not.toThrow();
    const over = { instanceName: 'podvm-a', userData: `${'é'.repeat(8)}x` };
    expect(() => checkUserDataBytes(over, 16, 'the cloud accepts at most 16 bytes')).toThrow(
      expect.objectContaining({ code: 'INVALID_REQUEST', message: 'user-data for podvm-a is 17 bytes; the cloud accepts at most 16 bytes' }),
    );
  });
});
