import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ProviderError, ProviderErrorCode } from '../../src/providers/errors.js';
import { TagKey } from '../../src/providers/naming.js';
import type { AgentTunnel } from '../../src/shim/ports.js';
import { TtrpcError, codeName, type CodeName } from '../../src/ttrpc/codes.js';
import { DaemonHarness, SANDBOX_ID, shimAnnotations } from '../helpers/daemon-harness.js';
import { MemoryProvider } from '../fakes/memory-provider.js';

let h: DaemonHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

async function code(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(TtrpcError);
    return (err as TtrpcError).code;
  }
  throw new Error('call succeeded where a failure was expected');
}

const exists = (p: string) => access(p).then(() => true, () => false);

/** Creates sandbox SANDBOX_ID as the shim does; returns the hypervisor client it used. */
async function createSandbox(d: DaemonHarness, annotations = shimAnnotations()) {
  const hv = await d.hypervisor();
  await hv.createVM({ id: SANDBOX_ID, annotations, networkNamespacePath: '' });
  return hv;
}

/** Creates and starts sandbox SANDBOX_ID; returns the hypervisor client. */
async function startedSandbox(d: DaemonHarness) {
  const hv = await createSandbox(d);
  await hv.startVM({ id: SANDBOX_ID });
  return hv;
}

describe('hypervisor.Hypervisor lifecycle', () => {
  it('CreateVM prepares without a cloud call, StartVM creates, StopVM deletes', async () => {
    h = await DaemonHarness.start();
    const hv = await h.hypervisor();
    const created = await hv.createVM({ id: SANDBOX_ID, annotations: shimAnnotations(), networkNamespacePath: '/var/run/netns/cni-1234' });
    expect(created.agentSocketPath).toBe(join(h.config.podsDir, SANDBOX_ID, 'agent.ttrpc'));
    expect(h.provider.calls).toEqual([]);
    expect(h.logged(`create a sandbox ${SANDBOX_ID} for pod nginx in namespace default (netns: /var/run/netns/cni-1234)`)).toBe(true);
    const state = JSON.parse(await readFile(join(h.config.podsDir, SANDBOX_ID, 'state.json'), 'utf8'));
    expect(state).toMatchObject({ phase: 'created', podName: 'nginx', podNamespace: 'default', instanceName: 'podvm-nginx-a1b2c3d4' });

    await hv.startVM({ id: SANDBOX_ID }, { timeoutMs: 10_000 });
    expect(h.provider.instances.size).toBe(1);
    const inst = [...h.provider.instances.values()][0]!;
    expect(inst.name).toBe('podvm-nginx-a1b2c3d4');
    expect(inst.tags).toMatchObject({ [TagKey.CLUSTER]: 'test', [TagKey.NODE]: 'node-a', [TagKey.SANDBOX]: SANDBOX_ID, [TagKey.POD_NAME]: 'nginx' });
    expect(inst.userData.startsWith('#cloud-config\n')).toBe(true);
    expect(inst.userData).toContain('"pod-name": "nginx"');
    expect(h.daemon.manager.get(SANDBOX_ID)?.phase).toBe('running');

    await hv.stopVM({ id: SANDBOX_ID });
    await h.settle();
    expect(h.provider.instances.size).toBe(0);
    expect(await exists(join(h.config.podsDir, SANDBOX_ID))).toBe(false);
    expect(h.daemon.manager.size).toBe(0);
  });

  it('serves the Go runtime pattern: a new connection for every call', async () => {
    h = await DaemonHarness.start();
    await (await h.hypervisor()).createVM({ id: SANDBOX_ID, annotations: shimAnnotations(), networkNamespacePath: '' });
    await (await h.hypervisor()).startVM({ id: SANDBOX_ID }, { timeoutMs: 600_000 });
    await (await h.hypervisor()).stopVM({ id: SANDBOX_ID });
    await h.settle();
    expect(h.provider.instances.size).toBe(0);
  });

  it('Version answers 0.0.0', async () => {
    h = await DaemonHarness.start();
    expect((await (await h.hypervisor()).version({ version: '1' })).version).toBe('0.0.0');
  });

  it('takes the pod name from a CRI-O sandbox name', async () => {
    h = await DaemonHarness.start();
    const crioName = 'k8s_web-0_shop_0e8c6d0f-1111-2222-3333-444455556666_0';
    await createSandbox(h, shimAnnotations({ 'io.kubernetes.cri.sandbox-name': crioName, 'io.kubernetes.cri.sandbox-namespace': '' }));
    expect(h.daemon.manager.get(SANDBOX_ID)).toMatchObject({ podName: 'web-0', podNamespace: 'shop', instanceName: 'podvm-web-0-a1b2c3d4' });
  });

  it('passes the annotated instance spec to the provider', async () => {
    h = await DaemonHarness.start();
    const hv = await createSandbox(
      h,
      shimAnnotations({
        'io.katacontainers.config.hypervisor.machine_type': 'm6a.xlarge',
        'io.katacontainers.config.hypervisor.default_vcpus': '4',
        'io.katacontainers.config.hypervisor.default_memory': '8192',
        'io.katacontainers.config.hypervisor.default_gpus': '1',
        'io.katacontainers.config.hypervisor.default_gpu_model': 'nvidia-a100',
        'io.katacontainers.config.hypervisor.image': 'ami-0123',
      }),
    );
    await hv.startVM({ id: SANDBOX_ID });
    const req = [...h.provider.instances.values()][0]!.request;
    expect(req.spec).toEqual({ instanceType: 'm6a.xlarge', vcpus: 4, memoryMiB: 8192, gpus: 1, gpuModel: 'nvidia-a100', image: 'ami-0123', multiNic: false });
  });
});

describe('bad requests get clear errors and the daemon keeps serving', () => {
  const cases: [string, string, Record<string, string>, number, RegExp][] = [
    ['empty id', '', shimAnnotations(), 3, /sandbox id is empty/],
    ['path traversal id', '../../etc', shimAnnotations(), 3, /not 1–128 characters/],
    ['slash in id', 'a/b', shimAnnotations(), 3, /not 1–128/],
    ['id over 128', 'a'.repeat(129), shimAnnotations(), 3, /not 1–128/],
    ['missing pod name', SANDBOX_ID, shimAnnotations({ 'io.kubernetes.cri.sandbox-name': '' }), 3, /pod name io.kubernetes.cri.sandbox-name is missing/],
    ['missing namespace', SANDBOX_ID, shimAnnotations({ 'io.kubernetes.cri.sandbox-namespace': '' }), 3, /namespace .* is missing/],
    ['bad pod name', SANDBOX_ID, shimAnnotations({ 'io.kubernetes.cri.sandbox-name': 'Bad_Name!' }), 3, /not a Kubernetes name/],
    ['non-numeric vcpus', SANDBOX_ID, shimAnnotations({ 'io.katacontainers.config.hypervisor.default_vcpus': 'two' }), 3, /default_vcpus="two" is not an integer/],
    ['negative memory', SANDBOX_ID, shimAnnotations({ 'io.katacontainers.config.hypervisor.default_memory': '-1' }), 3, /default_memory/],
    ['absurd gpus', SANDBOX_ID, shimAnnotations({ 'io.katacontainers.config.hypervisor.default_gpus': '100000' }), 3, /default_gpus/],
    ['bad machine type', SANDBOX_ID, shimAnnotations({ 'io.katacontainers.config.hypervisor.machine_type': 'm6a large; rm' }), 3, /machine_type/],
  ];
  for (const [name, id, annotations, want, message] of cases) {
    it(`CreateVM: ${name}`, async () => {
      h ??= await DaemonHarness.start();
      const hv = await h.hypervisor();
      const err = await hv.createVM({ id, annotations, networkNamespacePath: '' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TtrpcError);
      expect((err as TtrpcError).code).toBe(want);
      expect((err as TtrpcError).message).toMatch(message);
      // Nothing was created on disk or in the cloud, and the next good call works.
      expect(h.daemon.manager.size).toBe(0);
      await (await h.hypervisor()).createVM({ id: 'ok1', annotations: shimAnnotations(), networkNamespacePath: '' });
      await (await h.hypervisor()).stopVM({ id: 'ok1' });
      expect(h.provider.calls).toEqual([]);
    });
  }

  it('relative netns path is refused', async () => {
    h = await DaemonHarness.start();
    expect(await code((await h.hypervisor()).createVM({ id: 'x1', annotations: shimAnnotations(), networkNamespacePath: 'var/run/netns/x' }))).toBe(3);
  });

  it('duplicate CreateVM → ALREADY_EXISTS, also when racing', async () => {
    h = await DaemonHarness.start();
    const hv = await h.hypervisor();
    const both = await Promise.allSettled([
      hv.createVM({ id: SANDBOX_ID, annotations: shimAnnotations(), networkNamespacePath: '' }),
      hv.createVM({ id: SANDBOX_ID, annotations: shimAnnotations(), networkNamespacePath: '' }),
    ]);
    expect(both.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = both.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(rejected.reason).toMatchObject({ code: 6, message: `sandbox ${SANDBOX_ID} already exists` });
    expect(await code(hv.createVM({ id: SANDBOX_ID, annotations: shimAnnotations(), networkNamespacePath: '' }))).toBe(6);
  });

  it('StartVM of an unknown sandbox → NOT_FOUND; StopVM of an unknown sandbox succeeds', async () => {
    h = await DaemonHarness.start();
    const hv = await h.hypervisor();
    const err = (await hv.startVM({ id: 'nope' }).catch((e: unknown) => e)) as TtrpcError;
    expect(err.code).toBe(5);
    expect(err.message).toBe('getting sandbox: sandbox nope does not exist');
    await expect(hv.stopVM({ id: 'nope' })).resolves.toBeDefined();
  });
});

describe('failures leave no instance behind', () => {
  it('a create that fails after making an instance deletes it (partial instance)', async () => {
    const provider = new MemoryProvider();
    provider.failAfterCreate = new ProviderError('CAPACITY', 'InsufficientInstanceCapacity for m6a.large');
    h = await DaemonHarness.start({ provider });
    const hv = await createSandbox(h);
    const err = (await hv.startVM({ id: SANDBOX_ID }).catch((e: unknown) => e)) as TtrpcError;
    expect(err.code).toBe(8); // RESOURCE_EXHAUSTED
    expect(err.message).toMatch(/CAPACITY.*InsufficientInstanceCapacity/);
    await h.settle();
    expect(provider.instances.size).toBe(0);
    // The sandbox is back to `created`; the shim's StopVM then removes it.
    expect(h.daemon.manager.get(SANDBOX_ID)?.phase).toBe('created');
    await hv.stopVM({ id: SANDBOX_ID });
    expect(h.daemon.manager.size).toBe(0);
  });

  // The table of docs/providers.md, by name and grouped by status: the kinds StartVM answers with each.
  const kindsBehind: Partial<Record<CodeName, ProviderErrorCode[]>> = {
    RESOURCE_EXHAUSTED: ['CAPACITY', 'QUOTA'],
    UNAVAILABLE: ['THROTTLED', 'UNAVAILABLE'],
    NOT_FOUND: ['NOT_FOUND'],
    FAILED_PRECONDITION: ['INVALID_CONFIG'],
    INVALID_ARGUMENT: ['INVALID_REQUEST'],
    UNAUTHENTICATED: ['UNAUTHORIZED'],
    CANCELLED: ['CANCELLED'],
    INTERNAL: ['INTERNAL'],
  };
  it('every provider failure kind reaches the shim as its documented ttrpc status', async () => {
    const provider = new MemoryProvider();
    h = await DaemonHarness.start({ provider });
    const hv = await h.hypervisor();
    await hv.createVM({ id: SANDBOX_ID, annotations: shimAnnotations(), networkNamespacePath: '' });
    const seen: Record<string, ProviderErrorCode[]> = {};
    for (const kind of Object.values(ProviderErrorCode)) {
      provider.fault = (op) => {
        if (op === 'create') throw new ProviderError(kind, `injected ${kind}`);
      };
      const err = (await hv.startVM({ id: SANDBOX_ID }).catch((e: unknown) => e)) as TtrpcError;
      expect(err).toBeInstanceOf(TtrpcError);
      expect(err.message).toContain(`(${kind}): injected ${kind}`);
      (seen[codeName(err.code)] ??= []).push(kind);
      await h.settle();
    }
    expect(seen).toEqual(kindsBehind);
  });

  it('a tunnel that never becomes ready: StartVM hits its deadline and the instance is deleted', async () => {
    const tunnel: AgentTunnel = {
      open: (_t, signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true })),
      close: async () => undefined,
    };
    h = await DaemonHarness.start({ tunnel });
    const hv = await createSandbox(h);
    expect(await code(hv.startVM({ id: SANDBOX_ID }, { timeoutMs: 300 }))).toBe(4);
    // The client's own timer may fire a moment before the server's; wait for the server side.
    await h.waitFor(() => h!.logged('StartVM failed'));
    await h.settle();
    expect(h.provider.instances.size).toBe(0);
  });

  it('an instance that stops while the tunnel waits: StartVM fails at once with the provider\'s account, and the instance is deleted', async () => {
    const neverReady: AgentTunnel = {
      open: (_t, signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true })),
      close: async () => undefined,
    };
    const provider = new MemoryProvider();
    provider.exitAfterMs = 50;
    provider.exitReason = 'shut off; console: PODVM_FAILED: no root disk';
    h = await DaemonHarness.start({ provider, tunnel: neverReady });
    const hv = await createSandbox(h);
    const err = (await hv.startVM({ id: SANDBOX_ID }, { timeoutMs: 20_000 }).catch((e: unknown) => e)) as TtrpcError;
    expect(err.code).toBe(14);
    expect(err.message).toMatch(/^pod VM podvm-nginx-\S+ \(i-1\) stopped before its agent-protocol-forwarder answered: podvm-nginx-\S+: shut off; console: PODVM_FAILED: no root disk$/);
    await h.settle();
    expect(h.provider.instances.size).toBe(0);
  });

  it('a watched instance that keeps running: the watch ends with the start', async () => {
    const provider = new MemoryProvider();
    const opened: AbortSignal[] = [];
    const tunnel: AgentTunnel = { open: async (_t, signal) => void opened.push(signal), close: async () => undefined };
    h = await DaemonHarness.start({ provider, tunnel });
    await startedSandbox(h);
    expect(provider.calls.some((c) => c.op === 'watch')).toBe(true);
    expect(opened[0]?.aborted).toBe(true);
    expect(provider.instances.size).toBe(1);
  });

  it('a provider watch that rejects (against its contract) is logged; the start goes on', async () => {
    class RejectingWatch extends MemoryProvider {
      override async watchForExit(): Promise<string | undefined> {
        throw new Error('the watch broke');
      }
    }
    const provider = new RejectingWatch();
    const tunnel: AgentTunnel = { open: async () => new Promise((r) => setTimeout(r, 20)), close: async () => undefined };
    h = await DaemonHarness.start({ provider, tunnel });
    await startedSandbox(h);
    expect(h.logs.some((l) => l.msg === 'watching the instance failed' && l.err === 'the watch broke')).toBe(true);
    expect(provider.instances.size).toBe(1);
  });

  it('a tunnel that fails: StartVM reports it and the instance is deleted', async () => {
    const tunnel: AgentTunnel = { open: async () => Promise.reject(new Error('forwarder refused the connection')), close: async () => undefined };
    h = await DaemonHarness.start({ tunnel });
    const hv = await createSandbox(h);
    const err = (await hv.startVM({ id: SANDBOX_ID }).catch((e: unknown) => e)) as TtrpcError;
    expect(err.message).toMatch(/forwarder refused the connection/);
    await h.settle();
    expect(h.provider.instances.size).toBe(0);
  });

  it('an instance without IPs is refused and deleted', async () => {
    const provider = new MemoryProvider();
    provider.ips = [];
    h = await DaemonHarness.start({ provider });
    const hv = await createSandbox(h);
    expect(await code(hv.startVM({ id: SANDBOX_ID }))).toBe(13);
    await h.settle();
    expect(provider.instances.size).toBe(0);
  });

  it('deletion retries through cloud errors until it succeeds', async () => {
    const provider = new MemoryProvider();
    let failures = 3;
    provider.fault = (op) => {
      if (op === 'delete' && failures-- > 0) throw new ProviderError('THROTTLED', 'RequestLimitExceeded');
    };
    h = await DaemonHarness.start({ provider });
    const hv = await startedSandbox(h);
    await hv.stopVM({ id: SANDBOX_ID });
    await h.settle();
    expect(provider.instances.size).toBe(0);
    expect(provider.calls.filter((c) => c.op === 'delete')).toHaveLength(4);
    expect(h.daemon.manager.size).toBe(0);
  });
});

describe('StopVM under the Rust shim deadline', () => {
  it('answers within 1 s while a slow delete goes on, and the instance ends deleted', async () => {
    const provider = new MemoryProvider();
    h = await DaemonHarness.start({ provider });
    const hv = await startedSandbox(h);
    provider.latency.delete = 1500;
    const t0 = performance.now();
    await hv.stopVM({ id: SANDBOX_ID }, { timeoutMs: 1000 });
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(provider.instances.size).toBe(1); // still being deleted
    await h.settle();
    expect(provider.instances.size).toBe(0);
    expect(h.daemon.manager.size).toBe(0);
  });

  it('StopVM during a slow StartVM cancels it and nothing is left', async () => {
    const provider = new MemoryProvider();
    provider.latency.create = 2000;
    h = await DaemonHarness.start({ provider });
    const hv = await createSandbox(h);
    const start = code(hv.startVM({ id: SANDBOX_ID }));
    await new Promise((r) => setTimeout(r, 100));
    await (await h.hypervisor()).stopVM({ id: SANDBOX_ID }, { timeoutMs: 1000 });
    expect(await start).toBe(1);
    await h.settle();
    expect(provider.instances.size).toBe(0);
    expect(h.daemon.manager.size).toBe(0);
  });

  it('StopVM twice is fine', async () => {
    h = await DaemonHarness.start();
    const hv = await startedSandbox(h);
    await hv.stopVM({ id: SANDBOX_ID });
    await hv.stopVM({ id: SANDBOX_ID });
    await h.settle();
    expect(h.provider.instances.size).toBe(0);
  });
});

describe('a restarted daemon converges', () => {
  it('mid-create: the instance made behind the crash is found by tags and deleted', async () => {
    const provider = new MemoryProvider();
    provider.latency.create = 60_000; // the create never returns before the "crash"
    h = await DaemonHarness.start({ provider });
    const hv = await createSandbox(h);
    const pending = hv.startVM({ id: SANDBOX_ID }).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 100));
    expect(provider.instances.size).toBe(1);
    // Simulate a crash: the state on disk says `creating` and knows no instance id.
    const state = JSON.parse(await readFile(join(h.config.podsDir, SANDBOX_ID, 'state.json'), 'utf8'));
    expect(state.phase).toBe('creating');
    expect(state.instance).toBeUndefined();
    provider.latency.create = 0;
    await h.restart();
    await pending;
    await h.settle();
    expect(provider.instances.size).toBe(0);
    expect(h.daemon.manager.get(SANDBOX_ID)?.phase).toBe('created');
  });

  it('mid-run: the sandbox is re-adopted, its instance kept, and a later StopVM deletes it', async () => {
    h = await DaemonHarness.start();
    await startedSandbox(h);
    await h.restart();
    expect(h.provider.instances.size).toBe(1);
    expect(h.daemon.manager.get(SANDBOX_ID)?.phase).toBe('running');
    expect(h.logged(`re-adopted sandbox ${SANDBOX_ID}`)).toBe(true);
    const info = await (await h.podvminfo()).getInfo({ PodName: 'nginx', PodNamespace: 'default' });
    expect(info.VMID).toBe([...h.provider.instances.keys()][0]);
    await (await h.hypervisor()).stopVM({ id: SANDBOX_ID });
    await h.settle();
    expect(h.provider.instances.size).toBe(0);
  });

  it('mid-stop: the deletion is finished by the next daemon', async () => {
    const provider = new MemoryProvider();
    h = await DaemonHarness.start({ provider });
    const hv = await startedSandbox(h);
    provider.fault = (op) => {
      if (op === 'delete') throw new ProviderError('UNAVAILABLE', 'cloud API down');
    };
    await hv.stopVM({ id: SANDBOX_ID });
    await new Promise((r) => setTimeout(r, 50));
    expect(provider.instances.size).toBe(1);
    await h.stopDaemon(); // abandons the retries; state stays `stopping`
    const state = JSON.parse(await readFile(join(h.config.podsDir, SANDBOX_ID, 'state.json'), 'utf8'));
    expect(state).toMatchObject({ phase: 'stopping', removeAfterDelete: true });
    provider.fault = undefined;
    await h.restart();
    await h.settle();
    expect(provider.instances.size).toBe(0);
    expect(await exists(join(h.config.podsDir, SANDBOX_ID))).toBe(false);
  });

  it('a sandbox folder without state (crash before the first write) is cleaned up', async () => {
    h = await DaemonHarness.start();
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(h.config.podsDir, 'orphan'), { recursive: true });
    await h.restart();
    expect(await exists(join(h.config.podsDir, 'orphan'))).toBe(false);
  });

  it('a corrupt state file is reported and left alone; other sandboxes still load', async () => {
    h = await DaemonHarness.start();
    await createSandbox(h);
    const { mkdir, writeFile } = await import('node:fs/promises');
    await mkdir(join(h.config.podsDir, 'broken'), { recursive: true });
    await writeFile(join(h.config.podsDir, 'broken', 'state.json'), '{not json');
    await h.restart();
    expect(h.daemon.manager.get(SANDBOX_ID)?.phase).toBe('created');
    expect(h.logged('cannot read sandbox state')).toBe(true);
    expect(await exists(join(h.config.podsDir, 'broken', 'state.json'))).toBe(true);
  });
  it('a state with an unknown phase is not acted on: logged with its path and what is wrong, left as it is, and StopVM says so', async () => {
    h = await DaemonHarness.start();
    await (await h.hypervisor()).createVM({ id: SANDBOX_ID, annotations: shimAnnotations(), networkNamespacePath: '' });
    await (await h.hypervisor()).createVM({ id: 'odd', annotations: shimAnnotations({ 'io.kubernetes.cri.sandbox-name': 'odd' }), networkNamespacePath: '' });
    await h.stopDaemon();
    const file = join(h.config.podsDir, 'odd', 'state.json');
    const { writeFile } = await import('node:fs/promises');
    const text = JSON.stringify({ ...JSON.parse(await readFile(file, 'utf8')), phase: 'paused' });
    await writeFile(file, text);
    await h.restart();
    expect(h.daemon.manager.get(SANDBOX_ID)?.phase).toBe('created');
    expect(h.daemon.manager.get('odd')).toBeUndefined();
    const line = h.logs.find((l) => l.msg.startsWith(`cannot read sandbox state ${file}: `));
    expect(line?.level).toBe(50);
    expect(line?.msg).toMatch(/phase: .*\(got "paused"\); left as it is$/);
    // Still owned for the leak reaper: its instance is left for the operator too, not deleted as an orphan.
    expect(h.daemon.manager.sandboxIds().has('odd')).toBe(true);
    await (await h.hypervisor()).stopVM({ id: 'odd' });
    expect(h.logged(`StopVM for sandbox odd, whose state ${file} could not be read; its folder is left for an operator`)).toBe(true);
    expect(await readFile(file, 'utf8')).toBe(text);
    // Its id is not handed out again while the folder is there.
    expect(await code((await h.hypervisor()).createVM({ id: 'odd', annotations: shimAnnotations(), networkNamespacePath: '' }))).toBe(6);
  });
});

describe('podvminfo.PodVMInfo/GetInfo', () => {
  it('without Wait: NOT_FOUND before StartVM, the instance id after', async () => {
    h = await DaemonHarness.start();
    const info = await h.podvminfo();
    expect(await code(info.getInfo({ PodName: 'nginx', PodNamespace: 'default' }))).toBe(5);
    const hv = await h.hypervisor();
    await hv.createVM({ id: SANDBOX_ID, annotations: shimAnnotations(), networkNamespacePath: '' });
    expect(await code(info.getInfo({ PodName: 'nginx', PodNamespace: 'default' }))).toBe(5);
    await hv.startVM({ id: SANDBOX_ID });
    expect((await info.getInfo({ PodName: 'nginx', PodNamespace: 'default' })).VMID).toBe('i-1');
  });

  it('with Wait: blocks until StartVM records the instance', async () => {
    const provider = new MemoryProvider();
    provider.latency.create = 200;
    h = await DaemonHarness.start({ provider });
    const info = await h.podvminfo();
    const waiting = info.getInfo({ PodName: 'nginx', PodNamespace: 'default', Wait: true }, { timeoutMs: 5000 });
    const hv = await h.hypervisor();
    await hv.createVM({ id: SANDBOX_ID, annotations: shimAnnotations(), networkNamespacePath: '' });
    await hv.startVM({ id: SANDBOX_ID });
    expect((await waiting).VMID).toBe('i-1');
  });

  it('with Wait and a deadline: DEADLINE_EXCEEDED', async () => {
    h = await DaemonHarness.start();
    const info = await h.podvminfo();
    expect(await code(info.getInfo({ PodName: 'other', PodNamespace: 'default', Wait: true }, { timeoutMs: 200 }))).toBe(4);
  });
});

describe('shutdown', () => {
  it('leaves VMs running and tears the provider down', async () => {
    h = await DaemonHarness.start();
    await startedSandbox(h);
    await h.stopDaemon();
    expect(h.provider.instances.size).toBe(1);
    expect(h.provider.tornDown).toBe(true);
    expect(await exists(h.config.socket)).toBe(false);
  });

  it('lets a call in flight finish before closing', async () => {
    const provider = new MemoryProvider();
    provider.latency.create = 300;
    h = await DaemonHarness.start({ provider });
    const hv = await createSandbox(h);
    const start = hv.startVM({ id: SANDBOX_ID });
    await new Promise((r) => setTimeout(r, 50));
    const stopping = h.daemon.stop();
    await expect(start).resolves.toBeDefined();
    await stopping;
    expect(h.daemon.manager.get(SANDBOX_ID)?.phase).toBe('running');
  });
});

describe('shutdown past the grace', () => {
  it('a StartVM cut off at the end of SHUTDOWN_GRACE has unwound and saved its state before stop() resolves', async () => {
    // A cloud call that does not react to the abort at once: it returns 300 ms after the grace ended.
    const provider = new MemoryProvider();
    let entered!: () => void;
    const inCreate = new Promise<void>((r) => (entered = r));
    provider.fault = async (op) => {
      if (op !== 'create') return;
      entered();
      await new Promise((r) => setTimeout(r, 300));
      throw new ProviderError('CANCELLED', 'the create was abandoned');
    };
    h = await DaemonHarness.start({ provider, env: { SHUTDOWN_GRACE: '0s' } });
    const hv = await createSandbox(h);
    void hv.startVM({ id: SANDBOX_ID }).catch(() => undefined); // cut off by the stop
    await inCreate;
    await h.daemon.stop();
    // Before: stop() (and so the PODS_DIR lock's release) resolved while the StartVM was still inside
    // the provider; it wrote its state afterwards, when a successor may already own PODS_DIR.
    const phase = h.daemon.manager.get(SANDBOX_ID)?.phase;
    const saved = JSON.parse(await readFile(join(h.config.podsDir, SANDBOX_ID, 'state.json'), 'utf8')) as { phase: string };
    // What the disk says is what the daemon last decided (`stopping`: the failed start's clean-up, which the next daemon resumes).
    expect(saved.phase).toBe(phase);
    expect(phase).toBe('stopping');
  });
});

describe('malformed bytes on the hypervisor socket', () => {
  it('garbage, a huge length and a truncated frame do not disturb the daemon', async () => {
    const { connect } = await import('node:net');
    h = await DaemonHarness.start();
    const send = (bytes: Buffer) =>
      new Promise<void>((resolve) => {
        const s = connect(h!.config.socket, () => {
          s.write(bytes);
          setTimeout(() => s.destroy(), 50);
        });
        s.on('close', () => resolve());
        s.on('error', () => resolve());
      });
    await send(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await send(Buffer.from('ffffffff00000001010000', 'hex'));
    await send(Buffer.from('0000000a000000', 'hex'));
    const hv = await h.hypervisor();
    await hv.createVM({ id: SANDBOX_ID, annotations: shimAnnotations(), networkNamespacePath: '' });
    expect(h.daemon.manager.size).toBe(1);
    expect((await hv.version({})).version).toBe('0.0.0');
  });
});
