#!/usr/bin/env node
/**
 * `agent-protocol-forwarder [flags]` — runs inside the pod VM: reads apf.json, listens for the
 * daemon's agent proxy (mTLS), gates and forwards calls to the kata-agent.
 * `agent-protocol-forwarder provision-files [flags]` — the VM's user-data reader (process-user-data).
 * Parses, builds, starts; the logic lives in src/tunnel and src/podvm.
 */
import { messageOf } from '../util/errors.js';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Command, Option } from 'commander';
import { createLogger } from '../observability/logger.js';
import { parseApfJson } from '../podvm/apf-config.js';
import { CIDATA_DIR } from '../podvm/paths.js';
import { provisionFiles } from '../podvm/provision.js';
import { duration, int, parseFlag, type DurationBounds } from '../config/options.js';
import { Forwarder } from '../tunnel/forwarder.js';
import { DEFAULT_POLICY_PATH, INITDATA_POLICY_PATH, PolicyGate } from '../tunnel/policy/index.js';
import { forwarderServerOptions, forwarderServerOptionsFromFiles } from '../tunnel/tls/index.js';
import { VERSION } from '../version.js';
import { DEFAULT_MTU_CEILING, NETNS_RUN_DIR, setupVmPodNetwork, teardownVmPodNetwork } from '../tunnel/vxlan/index.js';
import { exitCodeFor, printedByCommander } from './exit-code.js';
import { normalizeGoFlags } from './go-flags.js';

/** How long a call may wait for the agent socket (--agent-wait), and provision-files --timeout. */
/** --agent-wait and provision-files --timeout: from 1 s to 1 h. */
const WAIT_BOUNDS: DurationBounds = { min: 1_000, max: 3_600_000 };

interface RunFlags {
  config: string;
  listen: string;
  kataAgentSocket: string;
  podNamespace: string;
  hostInterface?: string;
  caCertFile?: string;
  certFile?: string;
  certKey?: string;
  disableTls?: boolean;
  root: string;
  provisionFrom?: string;
  policyPreset?: string;
  agentWait: string;
  mtuCeiling: string;
  logLevel: string;
}

const FLAGS = [
  { flag: 'config' }, { flag: 'listen' }, { flag: 'kata-agent-socket' }, { flag: 'pod-namespace' }, { flag: 'host-interface' },
  { flag: 'ca-cert-file' }, { flag: 'cert-file' }, { flag: 'cert-key' }, { flag: 'disable-tls', boolean: true },
  { flag: 'root' }, { flag: 'provision-from' }, { flag: 'policy-preset' }, { flag: 'agent-wait' }, { flag: 'mtu-ceiling' }, { flag: 'log-level' }, { flag: 'version', boolean: true },
];

/** Paths inside the VM, under `--root` (a test or the local provider runs a "VM" in a folder). */
const under = (root: string, path: string): string => (root === '/' ? path : join(root, path));

function parseListen(listen: string): { host: string; port: number } {
  const m = /^(.*):(\d{1,5})$/.exec(listen);
  if (!m || Number(m[2]) > 65535) throw Object.assign(new Error(`--listen ${listen}: expected HOST:PORT`), { code: 'INVALID_CONFIG' });
  return { host: m[1] === '' ? '0.0.0.0' : m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

async function run(flags: RunFlags): Promise<void> {
  // Every flag is checked before anything starts: a bad one exits 2 naming it.
  const agentWaitMs = parseFlag('agent-wait', flags.agentWait, duration(WAIT_BOUNDS));
  const mtuCeiling = parseFlag('mtu-ceiling', flags.mtuCeiling, int(68, 65535));
  const { host, port } = parseListen(flags.listen);
  const root = createLogger(flags.logLevel as 'info', undefined, 'agent-protocol-forwarder');
  const logger = root.child({ component: 'forwarder' });
  logger.info({ version: VERSION }, `agent-protocol-forwarder ${VERSION} starting`);
  if (flags.provisionFrom) {
    const r = await provisionFiles({ logger: root.child({ component: 'userdata/provision' }), root: flags.root, cidataDir: flags.provisionFrom });
    logger.info({ written: r.written, ignored: r.ignored, digest: r.initdata.digest }, 'user-data provisioned');
  }
  const apf = parseApfJson(await readFile(under(flags.root, flags.config), 'utf8'));

  let tls;
  if (flags.disableTls) {
    logger.warn('TLS is DISABLED (--disable-tls): anyone who can reach this port drives the agent; for tests only');
  } else if (flags.caCertFile || flags.certFile || flags.certKey) {
    tls = await forwarderServerOptionsFromFiles({ certFile: flags.certFile, keyFile: flags.certKey, caFile: flags.caCertFile }, apf);
  } else {
    tls = forwarderServerOptions(apf);
  }

  const gate = await PolicyGate.fromSources({
    initdataPolicyPath: under(flags.root, INITDATA_POLICY_PATH),
    defaultPolicyPath: under(flags.root, DEFAULT_POLICY_PATH),
    preset: flags.policyPreset,
  });
  if (gate.warning) logger.warn(gate.warning);
  logger.info({ policy: gate.source }, `request policy from ${gate.source.description}`);

  const podNetwork = apf['pod-network'];
  const podNetnsName = basename(flags.podNamespace);
  if (podNetwork) {
    const net = await setupVmPodNetwork(podNetwork, {
      podNetnsName,
      underlayInterface: flags.hostInterface,
      mtuCeiling,
      signal: AbortSignal.timeout(180_000),
    });
    logger.info({ podNetns: net.podNetnsPath, mtu: net.mtu, vni: podNetwork['vxlan-id'], workerNodeIp: podNetwork['worker-node-ip'] }, `pod network ${podNetwork.podip} up in ${net.podNetnsPath}`);
  }
  const forwarder = new Forwarder({
    host,
    port,
    tls,
    agentSocket: flags.kataAgentSocket,
    agentWaitMs,
    podNetnsPath: podNetwork ? join(NETNS_RUN_DIR, podNetnsName) : undefined,
    gate,
    sandboxId: apf['sandbox-id'],
    logger,
  });
  await forwarder.start();
  const stop = (sig: string): void => {
    logger.info(`${sig} received, stopping`);
    forwarder
      .close()
      .then(() => (podNetwork ? teardownVmPodNetwork(podNetwork, { podNetnsName }) : undefined))
      .catch((err: unknown) => logger.error({ err }, 'stopping failed'))
      .finally(() => logger.flush(() => process.exit(0)));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

const program = new Command('agent-protocol-forwarder')
  .description('Runs in the pod VM: forwards the Kata agent protocol from the cloud-api-adaptor (mutual TLS) to the kata-agent, under the pod policy')
  .version(VERSION, '--version')
  .showHelpAfterError()
  .exitOverride() // usage errors exit 2 (bad configuration), not commander's 1
  .option('--config <path>', 'forwarder configuration (written from user-data)', '/run/peerpod/apf.json')
  .option('--listen <host:port>', 'address for the agent proxy', '0.0.0.0:15150')
  .option('--kata-agent-socket <path>', "the kata-agent's ttrpc socket", '/run/kata-containers/agent.sock')
  .option('--pod-namespace <path>', 'network namespace of the pod', '/run/netns/podns')
  .option('--host-interface <name>', 'dedicated tunnel interface (pod network)')
  .option('--ca-cert-file <path>', 'manual TLS: CA of the client certificates')
  .option('--cert-file <path>', 'manual TLS: server certificate')
  .option('--cert-key <path>', 'manual TLS: server key')
  .option('--disable-tls', 'plain TCP: tests only')
  .option('--root <dir>', 'prefix of the VM file system paths of --config, user-data files and policies (the local provider runs a "VM" in a folder)', '/')
  .option('--provision-from <dir>', 'first provision the files from this cidata folder (local provider)')
  .addOption(new Option('--policy-preset <name>', 'policy when neither initdata nor the image has one'))
  .option('--agent-wait <duration>', 'how long a call waits for the agent socket', '150s')
  .option('--mtu-ceiling <bytes>', 'upper bound of the pod MTU in the VM (also bounded by the underlay MTU − 50)', String(DEFAULT_MTU_CEILING))
  .option('--log-level <level>', 'log level', 'info')
  .action((flags: RunFlags) => run(flags));

program
  .command('provision-files')
  .description("write the allowed files from the VM's user-data (cidata disk or the cloud's metadata service), then expand initdata")
  .option('--root <dir>', 'prefix of every written path', '/')
  .option('--cidata <dir>', 'where the cidata disk is mounted', CIDATA_DIR)
  .addOption(new Option('--source <cloud>', 'metadata service to ask when there is no cidata disk').choices(['aws', 'azure', 'gcp', 'none']).default('none'))
  .option('--timeout <duration>', 'how long to keep trying', '180s')
  .action(async (o: { root: string; cidata: string; source: 'aws' | 'azure' | 'gcp' | 'none'; timeout: string }) => {
    const logger = createLogger('info', undefined, 'agent-protocol-forwarder').child({ component: 'userdata/provision' });
    const timeoutMs = parseFlag('timeout', o.timeout, duration(WAIT_BOUNDS));
    const r = await provisionFiles({ logger, root: o.root, cidataDir: o.cidata, source: o.source, timeoutMs });
    logger.info(r, 'provisioning done');
    logger.flush(() => process.exit(0));
  });

program.parseAsync(normalizeGoFlags(process.argv, FLAGS)).catch((err: unknown) => {
  if (!printedByCommander(err)) console.error(`agent-protocol-forwarder: ${messageOf(err)}`);
  process.exit(exitCodeFor(err));
});
