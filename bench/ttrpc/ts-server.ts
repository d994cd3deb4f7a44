/**
 * The TypeScript side of the ttrpc benchmark, run as its own Node process so that server and client
 * do not share an event loop (the Go server is a separate process too). Serves `bench.Echo/Echo`,
 * which returns the request payload untouched, and prints READY once listening.
 *
 *   node --import tsx bench/ttrpc/ts-server.ts --socket PATH
 */
import { TtrpcServer, listenUnix } from '../../src/ttrpc/index.js';

const i = process.argv.indexOf('--socket');
const socket = i >= 0 ? process.argv[i + 1] : undefined;
if (!socket) {
  console.error('usage: ts-server.ts --socket PATH');
  process.exit(2);
}

const server = new TtrpcServer();
server.register('bench.Echo', { Echo: (payload) => payload });
const listener = await listenUnix(socket);
server.serve(listener.server);

const stop = async (): Promise<void> => {
  await server.shutdown(0);
  await listener.close();
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
console.log('READY');
