import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalProvider } from '../../../src/providers/local/provider.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('local placeholder provider', () => {
  it('records instances across restarts, lists by tags, deletes idempotently', async () => {
    dir = await mkdtemp(join(tmpdir(), 'caa-local-'));
    const host = { logger: pino({ level: 'silent' }), stateDir: dir, clusterName: 'c', nodeName: 'n' };
    const p = new LocalProvider(host);
    const signal = new AbortController().signal;
    const spec = { instanceType: '', vcpus: 0, memoryMiB: 0, gpus: 0, gpuModel: '', image: '', multiNic: false };
    const a = await p.createInstance({ sandboxId: 's1', podName: 'a', podNamespace: 'ns', instanceName: 'podvm-a-s1', userData: '', spec, tags: { sb: 's1' } }, signal);
    await p.createInstance({ sandboxId: 's2', podName: 'b', podNamespace: 'ns', instanceName: 'podvm-b-s2', userData: '', spec, tags: { sb: 's2' } }, signal);
    expect(a.ips).toEqual(['127.0.0.1']);
    const again = new LocalProvider(host);
    expect((await again.listInstances({ sb: 's1' }, signal)).map((i) => i.id)).toEqual([a.id]);
    expect(await again.listInstances({}, signal)).toHaveLength(2);
    await again.deleteInstance(a.id, signal);
    await again.deleteInstance(a.id, signal);
    expect(await again.listInstances({ sb: 's1' }, signal)).toEqual([]);
    await expect(again.deleteInstance('../../etc/passwd', signal)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
