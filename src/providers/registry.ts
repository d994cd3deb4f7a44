/**
 * Explicit provider registration (as grpc-js's resolvers): each provider folder exports a plugin,
 * and `index.ts` registers them all in one place. Nothing registers itself on import.
 * docs/providers.md says which file of a provider folder does what.
 */
import type { OptionTable, RawSources } from '../config/options.js';
import type { Provider, ProviderHost } from './provider.js';
import { singleCodeError } from '../util/coded-error.js';

export interface ProviderPlugin {
  readonly name: string;
  /** One line for `--help`. */
  readonly description: string;
  /**
   * The provider's own keys (upstream ConfigMap names and flags). The CLI offers them as flags, the
   * configuration reference documents them, and the deploy overlays are checked against them.
   */
  readonly options: OptionTable;
  /**
   * Reads the provider's keys from flags and environment, validates them, and starts the provider
   * (its folder's `setup.ts`, imported lazily). Throws ConfigError naming the key on bad configuration.
   */
  create(host: ProviderHost, sources: RawSources, signal?: AbortSignal): Promise<ProviderStart>;
  /** The provider's effective configuration with secrets redacted, for the start-up log line. */
  describeConfig?(sources: RawSources): Record<string, unknown>;
  /**
   * Checks the configuration against the cloud (credentials, image, network, instance types),
   * one line per check. Optional: providers without a cloud have nothing to verify.
   */
  verify?(host: ProviderHost, sources: RawSources, signal?: AbortSignal): Promise<VerifyCheck[]>;
}

/** What a provider's start-up hands the daemon: the provider, and what is wired beside it. */
export interface ProviderStart {
  provider: Provider;
  /**
   * The worker interface the instances are reached through, when the provider knows better than
   * the default route (the local provider's bridge in netns mode). HOST_INTERFACE overrides it.
   */
  underlayInterface?: string;
}

/** The interface the pod network runs over: HOST_INTERFACE when set, else the provider's underlay, else '' (the default route's). */
export function tunnelInterface(hostInterface: string, start: Pick<ProviderStart, 'underlayInterface'>): string {
  return hostInterface || start.underlayInterface || '';
}

/** One line of `--verify`. */
export interface VerifyCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export class UnknownProviderError extends singleCodeError('UnknownProviderError', 'INVALID_CONFIG') {}

export class ProviderRegistry {
  private readonly plugins = new Map<string, ProviderPlugin>();

  register(plugin: ProviderPlugin): void {
    if (this.plugins.has(plugin.name)) throw new Error(`provider ${plugin.name} is registered twice`);
    this.plugins.set(plugin.name, plugin);
  }

  get(name: string): ProviderPlugin {
    const plugin = this.plugins.get(name);
    if (!plugin) {
      throw new UnknownProviderError(`unknown provider "${name}"; known providers: ${this.names().join(', ')}`);
    }
    return plugin;
  }

  names(): string[] {
    return [...this.plugins.keys()].sort();
  }

  list(): ProviderPlugin[] {
    return this.names().map((n) => this.plugins.get(n)!);
  }
}
