/**
 * Builds a ProviderPlugin from a provider folder's parts (docs/providers.md, "The provider kit"):
 * the keys and their loader from `config.ts`, and the start-up (`setup.ts`) and checks (`verify.ts`)
 * behind lazy imports, so that a cloud's SDK is loaded only when that provider is used, not by
 * `--help`, `version` or a daemon on another provider.
 */
import type { Logger } from 'pino';
import type { OptionTable, RawSources } from '../config/options.js';
import type { ProviderHost } from './provider.js';
import type { ProviderPlugin, ProviderStart, VerifyCheck } from './registry.js';

/** How long start-up and `--verify` may take when the caller gives no signal. */
const START_TIMEOUT_MS = 120_000;

export type StartFunction<C> = (host: ProviderHost, config: C, signal: AbortSignal) => Promise<ProviderStart>;
/** `log` is the host's logger with the provider's `component`. */
export type VerifyFunction<C> = (config: C, log: Logger, signal: AbortSignal) => Promise<VerifyCheck[]>;

export interface PluginParts<C> {
  name: string;
  description: string;
  options: OptionTable;
  /** Reads and validates the keys (throws ConfigError naming the key). */
  load(sources: RawSources): C;
  describeConfig?(sources: RawSources): Record<string, unknown>;
  /** Imports `setup.ts` and hands back its start function. */
  start(): Promise<StartFunction<C>>;
  /** Imports `verify.ts` and hands back its check list. */
  verify?(): Promise<VerifyFunction<C>>;
}

export function providerPlugin<C>(parts: PluginParts<C>): ProviderPlugin {
  const { name, description, options, load, describeConfig, verify } = parts;
  return {
    name,
    description,
    options,
    // The keys are read before the import: a bad key is reported without loading the SDK.
    create: async (host, sources, signal = AbortSignal.timeout(START_TIMEOUT_MS)) => {
      const config = load(sources);
      return (await parts.start())(host, config, signal);
    },
    ...(describeConfig ? { describeConfig } : {}),
    ...(verify
      ? {
          verify: async (host: ProviderHost, sources: RawSources, signal = AbortSignal.timeout(START_TIMEOUT_MS)) => {
            const config = load(sources);
            return (await verify())(config, host.logger.child({ component: name }), signal);
          },
        }
      : {}),
  };
}

/**
 * Runs the start-up steps that use a client the provider will own; when one fails the client is
 * closed before the error goes on (a half-started provider must not keep sockets or timers).
 * `close` must not throw: its error would replace the start-up step's.
 */
export async function closeOnFailure<T>(close: () => unknown, steps: () => Promise<T>): Promise<T> {
  try {
    return await steps();
  } catch (err) {
    await close();
    throw err;
  }
}
