/**
 * The local provider's bookkeeping, in loopback mode (no root needed): addresses handed to creates
 * running at the same time, and how an instance whose forwarder exits is reported.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalProvider } from '../../../../src/providers/local/provider.js';
import { loadLocalConfig } from '../../../../src/providers/local/config.js';
import type { CreateInstanceRequest, Instance } from '../../../../src/providers/provider.js';
import { buildUserData } from '../../../../src/podvm/user-data.js';
import { captureLogger } from '../../../helpers/capture-logger.js';
import { testPki } from '../../../helpers/test-certs.js';
import { forceCleanLocalInstances } from '../../../helpers/local-instances.js';

let dir: string;
let provider: LocalProvider;
const created: Instance[] = [];

function newProvider(): LocalProvider {
  const { logger } = captureLogger();
  const config = loadLocalConfig({ env: { LOCAL_NETWORK: 'loopback', LOCAL_ADDRESS_PREFIX: `127.${60 + (process.pid % 40)}` }, flags: {} });
  return new LocalProvider({ logger, stateDir: join(dir, 'state'), clusterName: 'c', nodeName: 'n', forwarderPort: 21000 + (process.pid % 20000) }, config);
}

function request(n: number, userData = ''): CreateInstanceRequest {
  return {
    sandboxId: `${n}`.padStart(64, '0'),
    podName: `p${n}`,
    podNamespace: 'default',
    instanceName: `podvm-p${n}-00000000`,
    userData,
    spec: { instanceType: '', vcpus: 0, memoryMiB: 0, gpus: 0, gpuModel: '', image: '', multiNic: false },
    tags: { test: 'local-provider' },
  };
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'caa-local-'));
  provider = newProvider();
  await provider.init();
});

afterEach(async () => {
  await Promise.all(created.splice(0).map((i) => provider.deleteInstance(i.id, AbortSignal.timeout(30_000)).catch(() => undefined)));
  await forceCleanLocalInstances(join(dir, 'state'));
  await rm(dir, { recursive: true, force: true });
});

describe('the local provider', () => {
  it('gives creates running at the same time distinct addresses, and frees them on delete', { timeout: 60_000 }, async () => {
    const n = 20;
    // Staggered by a millisecond each, as StartVMs of pods scheduled together arrive: some creates
    // read the folder while others are writing their records.
    const instances = await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        await new Promise((r) => setTimeout(r, i));
        return provider.createInstance(request(i), AbortSignal.timeout(30_000));
      }),
    );
    created.push(...instances);
    const addresses = new Set(instances.map((i) => i.ips[0]));
    expect(addresses.size).toBe(n);

    // A restarted daemon (a new provider object on the same folder) sees the recorded addresses.
    const again = newProvider();
    const more = await Promise.all([0, 1, 2].map((i) => again.createInstance(request(100 + i), AbortSignal.timeout(30_000))));
    created.push(...more);
    for (const m of more) expect(addresses.has(m.ips[0])).toBe(false);

    await Promise.all(created.splice(0).map((i) => provider.deleteInstance(i.id, AbortSignal.timeout(30_000))));
    expect(await readdir(join(dir, 'state/local/instances'))).toEqual([]);
  });
});

describe('an instance whose forwarder exits', () => {
  const UNREADABLE_POLICY = `algorithm = "sha256"
version = "0.1.0"

[data]
"policy.rego" = '''
this is not a policy {{{
'''
`;

  /** apf.json with TLS material, so the forwarder gets as far as reading its policy. */
  async function apfWithTls(podName: string) {
    const pki = await testPki('podvm-test');
    return { 'pod-namespace': 'default', 'pod-name': podName, 'tls-server-cert': pki.server.cert, 'tls-server-key': pki.server.key, 'tls-client-ca': pki.client.cert };
  }

  it('is reported by watchForExit with the exit status and the forwarder\'s last line', { timeout: 60_000 }, async () => {
    const userData = buildUserData({ apf: await apfWithTls('p1'), initdata: UNREADABLE_POLICY });
    const instance = await provider.createInstance(request(1, userData), AbortSignal.timeout(30_000));
    created.push(instance);
    const reason = await provider.watchForExit(instance, AbortSignal.timeout(50_000));
    expect(reason).toMatch(/^its forwarder process ended with exit code 2; its last line: agent-protocol-forwarder: initdata policy \S+policy\.rego/);
  });

  it('is not reported while the forwarder runs: the watch ends with its signal', { timeout: 60_000 }, async () => {
    const userData = buildUserData({ apf: await apfWithTls('p2') });
    const instance = await provider.createInstance(request(2, userData), AbortSignal.timeout(30_000));
    created.push(instance);
    const stop = new AbortController();
    const watch = provider.watchForExit(instance, stop.signal);
    let settled = false;
    void watch.then(() => (settled = true));
    // Until the forwarder listens; it then runs until deleted.
    await waitForLog(instance.id, 'forwarder listening');
    expect(settled).toBe(false);
    stop.abort();
    expect(await watch).toBeUndefined();
  });
});

async function waitForLog(id: string, text: string): Promise<void> {
  const path = join(dir, 'state/local/instances', id, 'forwarder.log');
  for (let i = 0; i < 400; i++) {
    if ((await readFile(path, 'utf8').catch(() => '')).includes(text)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${path} never said "${text}"`);
}
