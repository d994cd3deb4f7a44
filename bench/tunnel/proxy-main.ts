/**
 * The worker side (our `AgentProxy`) as its own process for the tunnel benchmark: serves
 * `agent.ttrpc` and relays over one mTLS connection to the forwarder. The config file holds
 * `{ socketPath, host, port, tls }`, `tls` being `clientOptions(material, profile, …)` as JSON.
 * Prints READY once `start()` resolved (the forwarder answered and the socket is served).
 *
 *   node --import tsx bench/tunnel/proxy-main.ts --config FILE
 */
import { readFile } from 'node:fs/promises';
import type { ConnectionOptions } from 'node:tls';
import { pino } from 'pino';
import { AgentProxy } from '../../src/tunnel/agent-proxy.js';

const i = process.argv.indexOf('--config');
const file = i >= 0 ? process.argv[i + 1] : undefined;
if (!file) {
  console.error('usage: proxy-main.ts --config FILE');
  process.exit(2);
}
const config = JSON.parse(await readFile(file, 'utf8')) as { socketPath: string; host: string; port: number; tls: ConnectionOptions };

const proxy = new AgentProxy({
  sandboxId: 'bench',
  socketPath: config.socketPath,
  host: config.host,
  port: config.port,
  tls: config.tls,
  proxyTimeoutMs: 10_000,
  logger: pino({ level: 'silent' }),
});
await proxy.start(AbortSignal.timeout(10_000));

const stop = (): void => void proxy.close().finally(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
console.log('READY');
