#!/usr/bin/env node
/** `cloud-api-adaptor <provider> [flags]`, `cloud-api-adaptor version`. Parses, builds, starts; no logic. */
import { Command, Option } from 'commander';
import { daemonOptions, loadDaemonConfig } from '../config/daemon-config.js';
import { redact } from '../config/options.js';
import { createLogger } from '../observability/logger.js';
import { DEFAULT_PROVIDER, builtinProviders } from '../providers/index.js';
import { Daemon } from '../shim/daemon.js';
import { VERSION } from '../version.js';
import { normalizeGoFlags } from './go-flags.js';

const registry = builtinProviders();

function daemonCommand(program: Command): void {
  const cmd = program
    .argument('[provider]', `cloud provider: ${registry.names().join(', ')}`, DEFAULT_PROVIDER)
    .action(async (providerName: string, flags: Record<string, string | boolean>) => {
      const plugin = registry.get(providerName);
      const config = loadDaemonConfig({ flags: camelToFlags(flags), env: process.env });
      const logger = createLogger(config.logLevel);
      logger.child({ component: 'cli' }).info(
        { version: VERSION, provider: providerName, config: redact(daemonOptions, config), providerConfig: plugin.describeConfig?.(process.env) },
        `cloud-api-adaptor ${VERSION} starting with provider ${providerName}`,
      );
      const provider = await plugin.create(
        { logger, stateDir: config.stateDir, clusterName: config.clusterName, nodeName: config.nodeName, forwarderPort: config.forwarderPort },
        process.env,
      );
      const daemon = await Daemon.create({ config, provider, logger });
      let signals = 0;
      const onSignal = (sig: NodeJS.Signals): void => {
        if (++signals > 1) {
          logger.warn(`second ${sig}: exiting now`);
          process.exit(1);
        }
        logger.info(`${sig} received`);
        daemon.stop().then(
          () => logger.flush(() => process.exit(0)),
          (err: unknown) => {
            logger.error({ err: String(err) }, 'shutdown failed');
            logger.flush(() => process.exit(1));
          },
        );
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      await daemon.start();
    });
  for (const spec of Object.values(daemonOptions)) {
    const names = spec.env.length ? ` (env ${spec.env.join(', ')})` : '';
    const flag = spec.boolean ? `--${spec.flag}` : `--${spec.flag} <value>`;
    cmd.addOption(new Option(flag, `${spec.description}${names}; default ${JSON.stringify(spec.default)}`));
  }
}

/** commander names options in camelCase; the config layer reads them by flag name. */
function camelToFlags(opts: Record<string, string | boolean>): Record<string, string | boolean> {
  const out: Record<string, string | boolean> = {};
  for (const spec of Object.values(daemonOptions)) {
    const key = spec.flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    if (opts[key] !== undefined) out[spec.flag] = opts[key];
  }
  return out;
}

const program = new Command('cloud-api-adaptor')
  .description('Remote hypervisor for Kata Containers peer pods: creates confidential VMs through a cloud API')
  .version(VERSION, '--version')
  .showHelpAfterError();
program
  .command('version')
  .description('print the version and exit')
  .action(() => console.log(`cloud-api-adaptor ${VERSION}`));
daemonCommand(program);

program.parseAsync(normalizeGoFlags(process.argv, Object.values(daemonOptions))).catch((err: unknown) => {
  const e = err as { code?: string; message?: string };
  console.error(`cloud-api-adaptor: ${e.message ?? String(err)}`);
  process.exit(e.code?.startsWith('INVALID_') ? 2 : 1);
});
