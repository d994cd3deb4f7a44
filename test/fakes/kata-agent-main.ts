/**
 * The Kata agent stand-in as a process: `kata-agent-main.ts --socket PATH [--log-calls]`. The local
 * provider starts it per instance through LOCAL_AGENT_COMMAND in the demo and end-to-end tests; the
 * local pod VM image (podvm/) runs it bundled, with --log-calls, so the calls that reached the VM
 * show on its serial console.
 */
import { fromBinary } from '@bufbuild/protobuf';
import { CreateContainerRequestSchema } from '../../src/proto/gen/agent/agent_pb.js';
import { FakeKataAgent, type RecordedCall } from './kata-agent.js';

const i = process.argv.indexOf('--socket');
const socket = i >= 0 ? process.argv[i + 1] : undefined;
if (!socket) {
  console.error('usage: kata-agent-main.ts --socket PATH [--log-calls]');
  process.exit(2);
}

/** One line per call; CreateContainer also names the network namespace the container joins. */
function describeCall(call: RecordedCall): string {
  let detail = '';
  if (call.method === 'CreateContainer') {
    try {
      const req = fromBinary(CreateContainerRequestSchema, call.payload);
      const netns = req.OCI?.Linux?.Namespaces.find((n) => n.Type === 'network');
      detail = ` container=${req.containerId} netns=${netns?.Path || '(none)'}`;
    } catch {
      detail = ' (undecodable)';
    }
  }
  return `kata-agent call ${call.service}/${call.method}${detail}`;
}

const agent = await FakeKataAgent.start(socket, process.argv.includes('--log-calls') ? { onCall: (c) => console.log(describeCall(c)) } : {});
console.log(`fake kata-agent serving ${socket}`);
const stop = (): void => {
  void agent.close().finally(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
