/**
 * The contract suite against the libvirt provider and a real libvirtd (QEMU under TCG) that this
 * file starts in its own network and mount namespaces (test/helpers/libvirt.ts). The instances are
 * real domains booting SeaBIOS from an empty base image, with static addresses from the lab's
 * subnet; "the cloud's view" is read through a second, fault-free connection and from the pool
 * folder (the cidata ISO the VM would read, parsed back). Needs root and libvirt; skips otherwise,
 * and fails instead when CAA_REQUIRE_LIBVIRT=1.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { RpcLibvirtApi, domainUuid } from '../../../src/providers/libvirt/client.js';
import { loadLibvirtConfig } from '../../../src/providers/libvirt/config.js';
import { startLibvirt } from '../../../src/providers/libvirt/setup.js';
import { readIso } from '../../../src/lib/iso9660.js';
import { readMetadata } from '../../../src/providers/libvirt/metadata.js';
import { volumeNames } from '../../../src/providers/libvirt/provider.js';
import { parseXml } from '../../../src/lib/xml.js';
import { TagKey } from '../../../src/providers/naming.js';
import { LIBVIRT_REQUIRED, createBaseVolume, libvirtEnv, libvirtUnavailable, startLibvirtLab, withFaults, type LibvirtLab } from '../../helpers/libvirt.js';
import { providerContract, seededDraw } from './provider-contract.js';

const unavailable = await libvirtUnavailable();

if (unavailable) {
  if (LIBVIRT_REQUIRED) {
    it('a private libvirtd can run here (CAA_REQUIRE_LIBVIRT=1)', () => {
      throw new Error(`libvirt contract tests cannot run: ${unavailable}`);
    });
  } else {
    describe.skip(`provider contract: libvirt (skipped: ${unavailable})`, () => {
      it('runs against a private libvirtd', () => undefined);
    });
  }
} else {
  let lab: LibvirtLab | undefined;
  let labStarting: Promise<LibvirtLab> | undefined;
  const startLab = (): Promise<LibvirtLab> =>
    (labStarting ??= startLibvirtLab({ prefix: 'caa-lvc' }).then(async (l) => {
      lab = l;
      await createBaseVolume(l, 'podvm-base.qcow2');
      return l;
    }));
  // Up front, with room to wait for another file's lab (one at a time, see startLibvirtLab).
  beforeAll(async () => void (await startLab()), 900_000);
  afterAll(async () => {
    await lab?.stop();
  }, 60_000);

  let seq = 0;
  providerContract(
    'libvirt',
    async () => {
      const l = await startLab();
      const clusterName = `contract-${++seq}`;
      const judge = new RpcLibvirtApi(l.uri);
      const roll = seededDraw(0x9e3779b9 + seq);
      let loseDefine = false;
      let faultRate = 0;
      let injected = 0;
      let createLatency = 0;
      const api = withFaults(new RpcLibvirtApi(l.uri), {
        failBefore: () => (faultRate > 0 && roll(faultRate / 2) ? (injected++, true) : false),
        loseReply: (m) => (m === 'defineDomain' && loseDefine) || (faultRate > 0 && roll(faultRate / 2) ? (injected++, true) : false),
        latency: (m) => (m === 'defineDomain' ? createLatency : 0),
      });
      const config = loadLibvirtConfig({ flags: {}, env: libvirtEnv(l) });
      const { provider } = await startLibvirt({ logger: pino({ level: 'silent' }) }, config, AbortSignal.timeout(30_000), api);
      const ours = async (): Promise<{ id: string; name: string; tags: Record<string, string> }[]> => {
        const s = AbortSignal.timeout(30_000);
        const out = [];
        for (const dom of await judge.listDomains(s)) {
          const meta = readMetadata(parseXml(await judge.domainXml(dom, s)));
          if (meta?.tags[TagKey.CLUSTER] === clusterName) out.push({ id: domainUuid(dom), name: dom.name, tags: meta.tags });
        }
        return out;
      };
      return {
        provider,
        clusterName,
        nodeName: 'node-a',
        missingId: '00000000-0000-4000-8000-000000000000',
        liveInstanceIds: async () => (await ours()).map((d) => d.id),
        stored: async (id) => {
          const d = (await ours()).find((x) => x.id === id);
          if (!d) return undefined;
          const iso = readIso(await readFile(join(l.poolDir, volumeNames(d.name).cidata)));
          return { tags: d.tags, userData: iso.files.get('user-data')?.toString('utf8') ?? '' };
        },
        loseCreateReplies: () => {
          loseDefine = true;
          return () => (loseDefine = false);
        },
        injectFaults: (rate) => {
          faultRate = rate;
          return { undo: () => (faultRate = 0), injected: () => injected };
        },
        setCreateLatency: (ms) => (createLatency = ms),
        close: async () => {
          // Whatever a failed test left is removed here, so the next test starts clean.
          for (const d of await ours()) await provider.deleteInstance(d.id, AbortSignal.timeout(30_000)).catch(() => undefined);
          await provider.teardown();
          await judge.close();
        },
      };
    },
    { concurrency: 24, faultSandboxes: 16 },
  );
}
