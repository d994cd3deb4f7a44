#!/usr/bin/env node
/** `cloud-api-adaptor <provider> [flags]`, `cloud-api-adaptor version`. Parses, builds, starts; no logic. */
import { Command, Option } from 'commander';
import { messageOf } from '../util/errors.js';
import type { Logger } from 'pino';
import { daemonOptions, loadDaemonConfig, type DaemonConfig } from '../config/daemon-config.js';
import { redact, type OptionSpec, type RawSources } from '../config/options.js';
import { createLogger } from '../observability/logger.js';
import { DEFAULT_PROVIDER, builtinProviders } from '../providers/builtin/index.js';
import type { ProviderHost } from '../providers/provider.js';
import type { ProviderPlugin } from '../providers/registry.js';
import { TagKey } from '../providers/naming.js';
import { InstanceReaper } from '../shim/instance-reaper.js';
import { SandboxStore } from '../shim/sandbox-store.js';
import { OwnerLock } from '../shim/owner-lock.js';
import { VERSION } from '../version.js';
import { WebhookServer, flagsByName, loadWebhookConfig, webhookOptions } from '../webhook/index.js';
import { StoppedBySignal, exitCodeFor, printedByCommander } from './exit-code.js';
import { normalizeGoFlags } from './go-flags.js';
import { pathAccessError, prepareDaemonPaths } from './daemon-paths.js';

const registry = builtinProviders();

/** Flags of the daemon and of every provider (providers may share a flag name, e.g. `-imageid`). */
function allOptionSpecs(): OptionSpec<unknown>[] {
  const byFlag = new Map<string, OptionSpec<unknown>>();
  for (const spec of [...Object.values(daemonOptions), ...registry.list().flatMap((p) => Object.values(p.options))]) {
    if (!byFlag.has(spec.flag)) byFlag.set(spec.flag, spec);
  }
  return [...byFlag.values()];
}

const VERIFY_FLAG = { flag: 'verify', boolean: true } as const;
const REAP_DRY_RUN_FLAG = { flag: 'reap-dry-run', boolean: true } as const;

function daemonCommand(program: Command): void {
  const cmd = program
    .argument('[provider]', `cloud provider: ${registry.names().join(', ')}`, DEFAULT_PROVIDER)
    .action(async (providerName: string, flags: Record<string, string | boolean>) => {
      const plugin = registry.get(providerName);
      const sources: RawSources = { flags: camelToFlags(flags), env: process.env };
      const config = loadDaemonConfig(sources);
      const logger = createLogger(config.logLevel);
      const host = { logger, stateDir: config.stateDir, clusterName: config.clusterName, nodeName: config.nodeName, forwarderPort: config.forwarderPort };
      if (flags.verify === true) {
        process.exit(await runVerify(plugin, host, sources));
      }
      if (flags.reapDryRun === true) {
        process.exit(await runReapDryRun(plugin, host, sources, config.podsDir));
      }
      logger.child({ component: 'cli' }).info(
        { version: VERSION, provider: providerName, config: redact(daemonOptions, config), providerConfig: plugin.describeConfig?.(sources) },
        `cloud-api-adaptor ${VERSION} starting with provider ${providerName}`,
      );
      if (config.cloudConfigVerify && plugin.verify) {
        const failed = (await plugin.verify(host, sources)).filter((c) => !c.ok);
        if (failed.length > 0) {
          throw Object.assign(new Error(`CLOUD_CONFIG_VERIFY: ${failed.map((c) => `${c.name}: ${c.detail}`).join('; ')}`), { code: 'INVALID_CONFIG' });
        }
      }
      // Before anything else is started: a daemon without the rights for its folders says so and which flags move them.
      await prepareDaemonPaths(config);
      // One owner of PODS_DIR (docs/operations.md, "Rolling updates"), taken before anything with node-wide
      // effects starts (the provider on the shared state dir, capacity advertising); the daemon releases it on stop.
      // Loaded here, not at the top: the Kubernetes and gRPC clients cost ≈ 1 s that `version` and `--help` need not pay;
      // and before the lock, so that a handover does not wait for it (the shim's calls are refused meanwhile).
      const { composeDaemon } = await import('./compose-daemon.js');
      const ownerLock = await takeOwnership(config, logger);
      // A signal while the provider and the daemon are being built (seconds on a cloud): hand PODS_DIR back
      // at once rather than leave a lock that the next daemon must wait out as stale.
      const stopWhileBuilding = (sig: NodeJS.Signals): void => {
        logger.info(`${sig} received while starting; releasing PODS_DIR`);
        void ownerLock.release().finally(() => logger.flush(() => process.exit(0)));
      };
      process.once('SIGTERM', stopWhileBuilding);
      process.once('SIGINT', stopWhileBuilding);
      let composed: Awaited<ReturnType<typeof composeDaemon>>;
      try {
        const started = await plugin.create(host, sources);
        composed = await composeDaemon({ config, provider: started.provider, underlayInterface: started.underlayInterface, logger, env: process.env, ownerLock });
      } catch (err) {
        await ownerLock.release();
        throw pathAccessError(err, config) ?? err;
      } finally {
        process.off('SIGTERM', stopWhileBuilding);
        process.off('SIGINT', stopWhileBuilding);
      }
      const { daemon, stop } = composed;
      let signals = 0;
      const onSignal = (sig: NodeJS.Signals): void => {
        if (++signals > 1) {
          logger.warn(`second ${sig}: exiting now`);
          process.exit(1);
        }
        logger.info(`${sig} received`);
        stop().then(
          () => logger.flush(() => process.exit(0)),
          (err: unknown) => {
            logger.error({ err }, 'shutdown failed');
            logger.flush(() => process.exit(1));
          },
        );
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      // A successor asked for PODS_DIR (rolling update), or another daemon took it: the daemon has
      // drained as on SIGTERM; stop the rest and exit (0 after a handover, 1 when the lock was lost).
      void daemon.ownershipEnded.then(async (end) => {
        await stop().catch(() => undefined);
        logger.flush(() => process.exit(end.reason === 'successor' ? 0 : 1));
      });
      try {
        await daemon.start();
      } catch (err) {
        if (signals > 0) return; // stopped while starting: the signal handler exits
        await stop().catch(() => undefined);
        throw pathAccessError(err, config) ?? err;
      }
    });
  cmd.addOption(new Option('--reap-dry-run', "print the instances of this cluster and node that no sandbox owns (what the reaper would delete), and exit"));
  cmd.addOption(new Option('--verify', "check the provider's configuration against the cloud, one line per check, and exit"));
  for (const [flag, owners] of optionOwnersByFlag()) {
    const describe = (spec: OptionSpec<unknown>): string => `${spec.description}${spec.env.length ? ` (env ${spec.env.join(', ')})` : ''}; default ${JSON.stringify(spec.default)}`;
    // A flag several providers share (-imageid, -subnetid, …) means something else to each: list each one's meaning and environment name.
    // Provider options name their provider: `[azure] … (env AZURE_SUBNET_ID)`.
    const text = owners.map((o) => `${o.owner === 'daemon' ? '' : `[${o.owner}] `}${describe(o.spec)}`).join('; ');
    cmd.addOption(new Option(owners[0]!.spec.boolean ? `--${flag}` : `--${flag} <value>`, text));
  }
}

/** Every flag with the daemon's or each provider's option behind it, for --help. */
function optionOwnersByFlag(): Map<string, { owner: string; spec: OptionSpec<unknown> }[]> {
  const byFlag = new Map<string, { owner: string; spec: OptionSpec<unknown> }[]>();
  const tables: [string, Record<string, OptionSpec<unknown>>][] = [['daemon', daemonOptions], ...registry.list().map((p): [string, Record<string, OptionSpec<unknown>>] => [p.name, p.options])];
  for (const [owner, table] of tables) {
    for (const spec of Object.values(table)) byFlag.set(spec.flag, [...(byFlag.get(spec.flag) ?? []), { owner, spec }]);
  }
  return byFlag;
}

/** Takes the PODS_DIR lock, waiting up to OWNER_WAIT for its owner to hand over; SIGTERM/SIGINT end the wait. */
async function takeOwnership(config: DaemonConfig, logger: Logger): Promise<OwnerLock> {
  if (config.ownerWaitMs > 0 && config.ownerWaitMs <= config.shutdownGraceMs) {
    // The owner drains for up to SHUTDOWN_GRACE before it hands over: a shorter wait may give up on a handover in progress.
    logger.warn({ ownerWaitMs: config.ownerWaitMs, shutdownGraceMs: config.shutdownGraceMs }, 'OWNER_WAIT is not longer than SHUTDOWN_GRACE: a rolling update may give up while the old daemon is still draining');
  }
  const waiting = new AbortController();
  const abort = (sig: NodeJS.Signals): void => waiting.abort(new StoppedBySignal(`${sig} received while waiting for PODS_DIR; exiting`));
  process.once('SIGTERM', abort);
  process.once('SIGINT', abort);
  try {
    return await OwnerLock.acquire({ dir: config.podsDir, waitMs: config.ownerWaitMs, podUid: process.env.POD_UID, logger: logger.child({ component: 'owner-lock' }), signal: waiting.signal });
  } finally {
    process.off('SIGTERM', abort);
    process.off('SIGINT', abort);
  }
}

/** Prints one line per check; the exit code says whether all passed. */
async function runVerify(plugin: ProviderPlugin, host: ProviderHost, sources: RawSources): Promise<number> {
  if (!plugin.verify) {
    console.log(`provider ${plugin.name} has nothing to verify`);
    return 0;
  }
  const checks = await plugin.verify(host, sources, AbortSignal.timeout(120_000));
  for (const c of checks) console.log(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
  const failed = checks.filter((c) => !c.ok).length;
  console.log(failed === 0 ? `${plugin.name}: all ${checks.length} checks passed` : `${plugin.name}: ${failed} of ${checks.length} checks failed`);
  return failed === 0 ? 0 : 1;
}

/**
 * Lists what the reaper would delete: instances with this cluster's and node's tags that no sandbox
 * in PODS_DIR owns. Reads the store without changing it; deletes nothing. (PeerPod claims are not
 * consulted here: the daemon's reaper also skips instances a PeerPod names.)
 */
async function runReapDryRun(plugin: ProviderPlugin, host: ProviderHost, sources: RawSources, podsDir: string): Promise<number> {
  const { provider } = await plugin.create(host, sources);
  try {
    const { states, unreadable } = await new SandboxStore(podsDir).loadAll({ readOnly: true });
    const reaper = new InstanceReaper({
      provider,
      ownership: {
        // A folder whose state cannot be read still owns its instances (left for an operator, as the daemon does).
        sandboxIds: () => new Set([...states.map((s) => s.id), ...unreadable.map((u) => u.id)]),
        instanceIds: () => new Set(states.flatMap((s) => (s.instance?.id ? [s.instance.id] : []))),
      },
      clusterName: host.clusterName,
      nodeName: host.nodeName,
      periodMs: 0,
      graceMs: 0,
      logger: host.logger,
    });
    const orphans = await reaper.orphans(AbortSignal.timeout(120_000));
    for (const o of orphans) console.log(`would delete ${o.id} ${o.name} (sandbox ${o.tags[TagKey.SANDBOX] ?? '?'}, pod ${o.tags[TagKey.POD_NAMESPACE] ?? '?'}/${o.tags[TagKey.POD_NAME] ?? '?'})`);
    console.log(`${orphans.length} instance(s) of cluster ${host.clusterName}, node ${host.nodeName} without a sandbox in ${podsDir}`);
    return 0;
  } finally {
    await provider.teardown();
  }
}

/** commander names options in camelCase; the config layer reads them by flag name. */
function camelToFlags(opts: Record<string, string | boolean>): Record<string, string | boolean> {
  const out: Record<string, string | boolean> = {};
  for (const spec of [...allOptionSpecs(), VERIFY_FLAG, REAP_DRY_RUN_FLAG]) {
    const key = spec.flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    if (opts[key] !== undefined) out[spec.flag] = opts[key];
  }
  return out;
}

const program = new Command('cloud-api-adaptor')
  .description('Remote hypervisor for Kata Containers peer pods: creates confidential VMs through a cloud API')
  .version(VERSION, '--version')
  .showHelpAfterError()
  // Usage errors (unknown flag, missing value) are thrown, not exited with 1: bad configuration exits 2.
  .exitOverride();
program
  .command('version')
  .description('print the version and exit')
  .action(() => console.log(`cloud-api-adaptor ${VERSION}`));
const webhookCommand = program
  .command('webhook')
  .description('serve the mutating admission webhook for peer pods (HTTPS: POST /mutate-v1-pod, GET /healthz)')
  .action(async (_opts: unknown, cmd: Command) => {
    const config = loadWebhookConfig({ flags: flagsByName(webhookOptions, cmd.optsWithGlobals()), env: process.env });
    const logger = createLogger(config.logLevel, undefined, 'peer-pods-webhook');
    const server = await WebhookServer.fromConfig(config, logger);
    const stop = (sig: NodeJS.Signals): void => {
      logger.info(`${sig} received`);
      void server.close().finally(() => logger.flush(() => process.exit(0)));
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
// --log-level is the program's own option (commander takes it anywhere on the line); optsWithGlobals() passes it on.
for (const spec of Object.values(webhookOptions).filter((s) => s.flag !== 'log-level')) {
  webhookCommand.addOption(new Option(`--${spec.flag} <value>`, `${spec.description} (env ${spec.env.join(', ')}); default ${JSON.stringify(spec.default)}`));
}
daemonCommand(program);

program.parseAsync(normalizeGoFlags(process.argv, [...allOptionSpecs(), VERIFY_FLAG, REAP_DRY_RUN_FLAG])).catch((err: unknown) => {
  if (!printedByCommander(err)) console.error(`cloud-api-adaptor: ${messageOf(err)}`);
  process.exit(exitCodeFor(err));
});
