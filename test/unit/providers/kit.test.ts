/**
 * Every provider folder has the same files with the same roles (docs/providers.md, "The provider kit"):
 * index.ts is metadata that imports only its config.ts and the plugin builder, and setup.ts exports one
 * start function, the one the plugin's `create` runs.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { builtinProviders } from '../../../src/providers/builtin/index.js';

const PROVIDERS = resolve(dirname(fileURLToPath(import.meta.url)), '../../../src/providers');
const names = builtinProviders().names();
/** Providers without a cloud have no SDK client to wrap and nothing to verify against. */
const NO_CLOUD = new Set(['local']);

describe('the provider kit', () => {
  it.each(names)('%s has index, config, setup and provider (and client and verify when it has a cloud)', (name) => {
    const want = ['index.ts', 'config.ts', 'setup.ts', 'provider.ts', ...(NO_CLOUD.has(name) ? [] : ['client.ts', 'verify.ts'])];
    expect(want.filter((f) => !existsSync(join(PROVIDERS, name, f)))).toEqual([]);
  });

  it.each(names)('%s/index.ts imports only its config.ts and plugin.ts statically, and setup.ts lazily', async (name) => {
    const source = await readFile(join(PROVIDERS, name, 'index.ts'), 'utf8');
    const statics = [...source.matchAll(/^import\s[^;]*?from\s+'([^']+)';/gm)].map((m) => m[1]);
    expect(statics.sort()).toEqual(['../plugin.js', './config.js']);
    expect(source).toContain("await import('./setup.js')");
  });

  it.each(names)('%s/setup.ts exports exactly one start function', async (name) => {
    const setup = (await import(join(PROVIDERS, name, 'setup.ts'))) as Record<string, unknown>;
    const starts = Object.keys(setup).filter((k) => /^start[A-Z]/.test(k) && typeof setup[k] === 'function');
    expect(starts).toHaveLength(1);
  });
});
