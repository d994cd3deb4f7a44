/**
 * The host programs a run needs, and what to install when some are missing: checked before the
 * demo starts anything, and by the tests that skip (or, in CI, fail) without them.
 */
import { commandExists } from '../src/util/run-command.js';

export interface HostTool {
  /** The program, as looked up on PATH. */
  tool: string;
  /** The Debian/Ubuntu package that has it. */
  pkg: string;
  /** What it is needed for (one short phrase). */
  why: string;
}

/** What the pod network of a local peer pod needs (as root): namespaces, veths, VXLAN, tc, the NOTRACK rules. */
export const POD_NETWORK_TOOLS: readonly HostTool[] = [
  { tool: 'ip', pkg: 'iproute2', why: 'network namespaces, veth and VXLAN links' },
  { tool: 'tc', pkg: 'iproute2', why: "the pod's traffic redirect" },
  { tool: 'nsenter', pkg: 'util-linux', why: 'running commands in a namespace' },
  { tool: 'iptables', pkg: 'iptables', why: 'the VXLAN NOTRACK rules' },
];

/** What a peer pinging the pod needs (the demo and the pod network tests check the path end to end). */
export const PING_TOOL: HostTool = { tool: 'ping', pkg: 'iputils-ping', why: 'the peer pod pinging the pod' };

/** The tools among `tools` that cannot be run here. */
export async function missingTools(tools: readonly HostTool[]): Promise<HostTool[]> {
  const found = await Promise.all(tools.map((t) => commandExists(t.tool)));
  return tools.filter((_, i) => !found[i]);
}

/** `needs iptables (the VXLAN NOTRACK rules); install with: apt-get install -y iptables` */
export function installHint(missing: readonly HostTool[]): string {
  const pkgs = [...new Set(missing.map((t) => t.pkg))];
  return `needs ${missing.map((t) => `${t.tool} (${t.why})`).join(', ')}; install with: apt-get install -y ${pkgs.join(' ')}`;
}
