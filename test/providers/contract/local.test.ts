/**
 * The contract suite against the local provider, built through its plugin as the daemon builds it, in
 * loopback mode (no root): each instance is a record, a cidata folder and detached forwarder processes.
 * Everything a case leaves is deleted through the provider, then killed by the records (as the e2e
 * tests do), and the folder removed.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { localPlugin } from '../../../src/providers/local/index.js';
import { forceCleanLocalInstances, localInstanceRecords } from '../../helpers/local-instances.js';
import { CONTRACT_IDS, providerContract } from './provider-contract.js';

const NO_CLOUD = 'a local create makes no remote call';

providerContract(
  'local',
  async () => {
    const dir = await mkdtemp(join(tmpdir(), 'caa-contract-local-'));
    const stateDir = join(dir, 'state');
    const env = { LOCAL_NETWORK: 'loopback', LOCAL_ADDRESS_PREFIX: `127.${20 + (process.pid % 40)}` };
    const host = { logger: pino({ level: 'silent' }), stateDir, ...CONTRACT_IDS, forwarderPort: 22000 + (process.pid % 20000) };
    const { provider } = await localPlugin.create(host, { flags: {}, env });
    const instanceDir = (id: string): string => join(stateDir, 'local', 'instances', id);
    return {
      provider,
      ...CONTRACT_IDS,
      missingId: 'local-0000000000000000',
      liveInstanceIds: async () => (await localInstanceRecords(stateDir)).map((r) => r.id),
      stored: async (id) => {
        const record = await readFile(join(instanceDir(id), 'record.json'), 'utf8').catch(() => undefined);
        if (record === undefined) return undefined;
        return { tags: (JSON.parse(record) as { tags: Record<string, string> }).tags, userData: await readFile(join(instanceDir(id), 'cidata', 'user-data'), 'utf8') };
      },
      // Never called: the cases that use them are skipped below.
      loseCreateReplies: () => {
        throw new Error(NO_CLOUD);
      },
      injectFaults: () => {
        throw new Error(NO_CLOUD);
      },
      setCreateLatency: () => undefined,
      close: async () => {
        for (const r of await localInstanceRecords(stateDir)) await provider.deleteInstance(r.id, AbortSignal.timeout(30_000)).catch(() => undefined);
        await provider.teardown();
        await forceCleanLocalInstances(stateDir);
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
  {
    // Each instance is two node processes on a machine the suite shares.
    concurrency: 10,
    skip: {
      'a create whose reply is lost leaves one instance, which the sandbox tags find and delete removes': `${NO_CLOUD}, so there is no reply to lose`,
      'an aborted create rejects with CANCELLED promptly, and whatever it left is found by tags': `${NO_CLOUD} to slow down: it ends in milliseconds, before an abort could come`,
      'with 20 % of cloud calls failing, retries and clean-ups leave no instance behind': `${NO_CLOUD} that could fail`,
    },
  },
);
