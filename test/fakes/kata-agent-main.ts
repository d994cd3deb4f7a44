/**
 * The Kata agent stand-in as a process: `tsx test/fakes/kata-agent-main.ts --socket PATH`. The local
 * provider starts it per instance through LOCAL_AGENT_COMMAND in the demo and end-to-end tests.
 */
import { FakeKataAgent } from './kata-agent.js';

const i = process.argv.indexOf('--socket');
const socket = i >= 0 ? process.argv[i + 1] : undefined;
if (!socket) {
  console.error('usage: kata-agent-main.ts --socket PATH');
  process.exit(2);
}
const agent = await FakeKataAgent.start(socket);
console.log(`fake kata-agent serving ${socket}`);
const stop = (): void => {
  void agent.close().finally(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
