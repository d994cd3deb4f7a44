/**
 * State files written by the previous version (no `intent`; `removeAfterDelete` where it was set),
 * written here by hand in that version's exact format: a restarted daemon reads them and converges
 * as that version did. And what this version writes still reads the same to a rolled-back daemon.
 */
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ProviderError } from '../../src/providers/errors.js';
import { sandboxTags } from '../../src/providers/naming.js';
import { DaemonHarness, SANDBOX_ID, shimAnnotations } from '../helpers/daemon-harness.js';
import { MemoryProvider } from '../fakes/memory-provider.js';

const exists = (p: string) => access(p).then(() => true, () => false);

let h: DaemonHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** A state file as the previous version wrote it (keys in its order; `tail` holds what it appended). */
function previousVersionState(phase: string, tail: string): string {
  return `{
  "version": 1,
  "id": "${SANDBOX_ID}",
  "podName": "nginx",
  "podNamespace": "default",
  "netnsPath": "",
  "instanceName": "podvm-nginx-a1b2c3d4",
  "spec": {
    "instanceType": "",
    "image": "",
    "vcpus": 0,
    "memoryMiB": 0,
    "gpus": 0,
    "gpuModel": "",
    "multiNic": false
  },
  "initdata": "",
  "phase": "${phase}",
  "createdAt": "2026-12-07T20:46:31.597Z",
  "updatedAt": "2026-12-07T20:46:31.623Z"${tail}
}`;
}

const instanceJson = (id: string) => `,
  "instance": {
    "id": "${id}",
    "name": "podvm-nginx-a1b2c3d4",
    "ips": [
      "10.99.0.10"
    ],
    "instanceType": "memory.small"
  }`;

/** A daemon stopped with nothing in PODS_DIR, an instance in the cloud for the sandbox, and `text` as its state. */
async function stoppedDaemonWith(text: (instanceId: string) => string, provider = new MemoryProvider()): Promise<DaemonHarness> {
  h = await DaemonHarness.start({ provider });
  await h.stopDaemon();
  const instance = await provider.createInstance(
    {
      sandboxId: SANDBOX_ID,
      podName: 'nginx',
      podNamespace: 'default',
      instanceName: 'podvm-nginx-a1b2c3d4',
      userData: '',
      spec: { instanceType: '', vcpus: 0, memoryMiB: 0, gpus: 0, gpuModel: '', image: '', multiNic: false },
      tags: sandboxTags({ clusterName: 'test', nodeName: 'node-a', sandboxId: SANDBOX_ID }),
    },
    new AbortController().signal,
  );
  await mkdir(join(h.config.podsDir, SANDBOX_ID), { recursive: true });
  await writeFile(stateFile(h), text(instance.id));
  return h;
}

const stateFile = (d: DaemonHarness) => join(d.config.podsDir, SANDBOX_ID, 'state.json');
const saved = async (d: DaemonHarness) => JSON.parse(await readFile(stateFile(d), 'utf8')) as Record<string, unknown>;

describe('a restarted daemon reads state files of the previous version', () => {
  it('stopping with removeAfterDelete: the deletion is finished and the sandbox removed', async () => {
    const d = await stoppedDaemonWith((id) => previousVersionState('stopping', `${instanceJson(id)},\n  "removeAfterDelete": true`));
    await d.restart();
    await d.settle();
    expect(d.provider.instances.size).toBe(0);
    expect(d.daemon.manager.size).toBe(0);
    expect(await exists(join(d.config.podsDir, SANDBOX_ID))).toBe(false);
  });

  it('stopping with removeAfterDelete false (a failed start): the instance is deleted and the sandbox returns to created', async () => {
    const d = await stoppedDaemonWith((id) => previousVersionState('stopping', `${instanceJson(id)},\n  "removeAfterDelete": false`));
    await d.restart();
    await d.settle();
    expect(d.provider.instances.size).toBe(0);
    expect(d.daemon.manager.get(SANDBOX_ID)).toMatchObject({ phase: 'created', intent: 'run' });
    const onDisk = await saved(d);
    expect(onDisk).toMatchObject({ phase: 'created', intent: 'run' });
    expect(onDisk).not.toHaveProperty('instance');
    expect(onDisk).not.toHaveProperty('removeAfterDelete');
    // And the shim can start it again.
    await (await d.hypervisor()).startVM({ id: SANDBOX_ID });
    expect(d.daemon.manager.get(SANDBOX_ID)?.phase).toBe('running');
  });

  it('creating with removeAfterDelete (a StopVM mid-create): what it made is found by tags and deleted; back to created, as before', async () => {
    const d = await stoppedDaemonWith(() => previousVersionState('creating', `,\n  "removeAfterDelete": true`));
    await d.restart();
    await d.settle();
    expect(d.provider.instances.size).toBe(0);
    expect(d.daemon.manager.get(SANDBOX_ID)).toMatchObject({ phase: 'created', intent: 'run' });
  });

  it('running: re-adopted; a StopVM records intent remove, with removeAfterDelete for a rolled-back daemon', async () => {
    const provider = new MemoryProvider();
    const d = await stoppedDaemonWith((id) => previousVersionState('running', instanceJson(id)), provider);
    await d.restart();
    expect(d.daemon.manager.get(SANDBOX_ID)).toMatchObject({ phase: 'running', intent: 'run' });
    const instanceId = [...provider.instances.keys()][0];
    expect((await (await d.podvminfo()).getInfo({ PodName: 'nginx', PodNamespace: 'default' })).VMID).toBe(instanceId);

    provider.fault = (op) => {
      if (op === 'delete') throw new ProviderError('UNAVAILABLE', 'cloud API down');
    };
    await (await d.hypervisor()).stopVM({ id: SANDBOX_ID });
    expect(await saved(d)).toMatchObject({ phase: 'stopping', intent: 'remove', removeAfterDelete: true });
    provider.fault = undefined;
    await d.settle();
    expect(provider.instances.size).toBe(0);
    expect(await exists(join(d.config.podsDir, SANDBOX_ID))).toBe(false);
  });
});

describe('what this version writes', () => {
  it('a new sandbox records intent run and no removeAfterDelete', async () => {
    h = await DaemonHarness.start();
    await (await h.hypervisor()).createVM({ id: SANDBOX_ID, annotations: shimAnnotations(), networkNamespacePath: '' });
    const onDisk = await saved(h);
    expect(onDisk).toMatchObject({ phase: 'created', intent: 'run' });
    expect(onDisk).not.toHaveProperty('removeAfterDelete');
  });
});
