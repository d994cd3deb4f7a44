/**
 * The agent-protocol-forwarder (our `Forwarder`) as its own process for the tunnel benchmark:
 * mTLS on 127.0.0.1 (a free port), relaying to the fake agent's socket. The config file holds
 * `{ agentSocket, tls }`, `tls` being `forwarderServerOptions(apfTlsFields(...))` as JSON.
 * Prints `READY <port>` once listening.
 *
 *   node --import tsx bench/tunnel/forwarder-main.ts --config FILE
 */
import { readFile } from 'node:fs/promises';
import type { TlsOptions } from 'node:tls';
import { pino } from 'pino';
import { Forwarder } from '../../src/tunnel/forwarder.js';

const i = process.argv.indexOf('--config');
const file = i >= 0 ? process.argv[i + 1] : undefined;
if (!file) {
  console.error('usage: forwarder-main.ts --config FILE');
  process.exit(2);
}
const config = JSON.parse(await readFile(file, 'utf8')) as { agentSocket: string; tls: TlsOptions };

const forwarder = new Forwarder({
  host: '127.0.0.1',
  port: 0,
  tls: config.tls,
  agentSocket: config.agentSocket,
  agentWaitMs: 10_000,
  podNetnsPath: undefined,
  logger: pino({ level: 'silent' }),
});
const port = await forwarder.start();

const stop = (): void => void forwarder.close().finally(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
console.log(`READY ${port}`);
