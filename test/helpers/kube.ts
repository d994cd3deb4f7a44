/**
 * A fake kube-apiserver with the client-node APIs and a capturing logger, for the src/k8s tests.
 */
import type { Logger } from 'pino';
import { makeKubeApis, type KubeApis } from '../../src/k8s/clients.js';
import { FakeKubeApiServer, type FakeKubeOptions } from '../fakes/kube/index.js';
import { captureLogger, type LogLine } from './capture-logger.js';

export { captureLogger, type LogLine };


export interface KubeUnderTest {
  fake: FakeKubeApiServer;
  apis: KubeApis;
  logger: Logger;
  logs: LogLine[];
  close(): Promise<void>;
}

/** Retries without real waiting. */
export const FAST_RETRY = { attempts: 4, backoff: { initialMs: 1, maxMs: 5, jitter: 0 } };


/** Starts the fake (RBAC on unless told otherwise) with a node `node-a`. */
export async function startKube(options: FakeKubeOptions = {}): Promise<KubeUnderTest> {
  const fake = await FakeKubeApiServer.start({ rbac: true, ...options });
  fake.addNode({ name: 'node-a' });
  const { logger, logs } = captureLogger();
  return { fake, apis: makeKubeApis(fake.kubeConfig()), logger, logs, close: () => fake.close() };
}

/** Log lines at `warn` (pino level 40). */
export const warnings = (logs: LogLine[]): LogLine[] => logs.filter((l) => l.level === 40);

/** Every request the fake refused for RBAC. */
export const forbidden = (fake: FakeKubeApiServer): string[] => fake.requests.filter((r) => r.status === 403 && !r.fault).map((r) => `${r.method} ${r.path}`);
