/**
 * vitest globalSetup: makes the fake ARM's CA before any test worker starts, and points
 * NODE_EXTRA_CA_CERTS at it. The workers (pool `forks`) are child processes that inherit this
 * environment, so Node loads the CA into their default trust store at start-up; so do the CLI
 * processes the e2e tests spawn. (NODE_EXTRA_CA_CERTS set later, inside a running process, is ignored.)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TLS_DIR_ENV, createArmTls, writeArmTls } from './tls.js';

export default async function setup(): Promise<() => Promise<void>> {
  const dir = await mkdtemp(join(tmpdir(), 'caa-fake-arm-tls-'));
  const bundle = await writeArmTls(dir, await createArmTls());
  process.env.NODE_EXTRA_CA_CERTS = bundle;
  process.env[TLS_DIR_ENV] = dir;
  return async () => {
    await rm(dir, { recursive: true, force: true });
  };
}
