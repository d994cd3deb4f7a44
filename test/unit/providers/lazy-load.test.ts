/**
 * A cloud's SDK is loaded only when that provider is used: the modules `--help`, `version` and a
 * daemon on another provider load (the registry and every plugin's metadata) import no SDK, while
 * each start-up does. Checked on the import graph as Node sees it: TypeScript's own transpile (type
 * imports elided, as in the build), static `import … from` / `export … from` only; `import()` is lazy.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../../src');
const SDK = /^(@aws-sdk\/|@smithy\/|@azure\/|ibm-cloud-sdk-core)/;
const STATIC = /^\s*(?:import|export)\s(?:[^'";]*?\sfrom\s)?\s*'([^']+)'/gm;

async function staticImports(file: string): Promise<string[]> {
  const out = ts.transpileModule(await readFile(file, 'utf8'), {
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ES2022, verbatimModuleSyntax: true },
    fileName: file,
  });
  return [...out.outputText.matchAll(STATIC)].map((m) => m[1]!);
}

/** Every package the static closure of `entry` (a path under src/) imports. */
async function packagesLoadedBy(entry: string): Promise<Set<string>> {
  const queue = [resolve(SRC, entry)];
  const seen = new Set(queue);
  const packages = new Set<string>();
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
    for (const spec of await staticImports(file)) {
      if (!spec.startsWith('.')) {
        packages.add(spec);
        continue;
      }
      const target = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
      if (seen.has(target) || !existsSync(target)) continue;
      seen.add(target);
      queue.push(target);
    }
  }
  return packages;
}

const sdks = (p: Set<string>): string[] => [...p].filter((s) => SDK.test(s)).sort();

describe('provider SDKs load lazily', () => {
  it('the registry of every provider (what the CLI imports at start) loads no cloud SDK', async () => {
    expect(sdks(await packagesLoadedBy('providers/builtin/index.ts'))).toEqual([]);
  });

  it.each([
    ['aws', /^@aws-sdk\/client-ec2$/],
    ['azure', /^@azure\/arm-compute$/],
    ['ibmcloud', /^ibm-cloud-sdk-core$/],
  ])('%s: its start-up (setup.ts) and verify.ts do load it', async (name, sdk) => {
    for (const file of ['setup.ts', 'verify.ts']) {
      expect(sdks(await packagesLoadedBy(`providers/${name}/${file}`)).some((s) => sdk.test(s)), `${name}/${file}`).toBe(true);
    }
  });
});
