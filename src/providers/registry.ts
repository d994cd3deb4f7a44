/**
 * Explicit provider registration (as grpc-js's resolvers): each provider folder exports a plugin,
 * and `index.ts` registers them all in one place. Nothing registers itself on import.
 */
import type { Provider, ProviderHost } from './provider.js';

export interface ProviderPlugin {
  readonly name: string;
  /** One line for `--help`. */
  readonly description: string;
  /**
   * Reads the provider's own keys from the environment (upstream ConfigMap names), validates them,
   * and builds the provider. Throws ConfigError naming the key on bad configuration.
   */
  create(host: ProviderHost, env: NodeJS.ProcessEnv): Promise<Provider>;
  /** The provider's effective configuration with secrets redacted, for the start-up log line. */
  describeConfig?(env: NodeJS.ProcessEnv): Record<string, unknown>;
}

export class UnknownProviderError extends Error {
  override readonly name = 'UnknownProviderError';
  readonly code = 'INVALID_CONFIG';
}

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
