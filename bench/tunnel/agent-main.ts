/**
 * The fake kata-agent as its own process for the tunnel benchmark: `FakeKataAgent` on a Unix socket
 * (unknown methods such as `grpc.AgentService/BenchEcho` echo their payload). Prints READY once
 * listening.
 *
 *   node --import tsx bench/tunnel/agent-main.ts --socket PATH
 */
import { FakeKataAgent } from '../../test/fakes/kata-agent.js';

const i = process.argv.indexOf('--socket');
const socket = i >= 0 ? process.argv[i + 1] : undefined;
if (!socket) {
  console.error('usage: agent-main.ts --socket PATH');
  process.exit(2);
}

const agent = await FakeKataAgent.start(socket);
// The fake keeps a copy of every request for the tests; 1 MiB echoes would pile up, so drop them.
setInterval(() => agent.clearCalls(), 20);

const stop = (): void => void agent.close().finally(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
console.log('READY');
