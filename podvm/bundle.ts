/**
 * A Node entry point and everything it imports, node_modules included, as one ES module: what the pod
 * VM runs (it has no node_modules), and what a test runs as another user who cannot read the checkout.
 */
import { join } from 'node:path';

const PROJECT = join(new URL('.', import.meta.url).pathname, '..');

/** The bundle's text. Paths in its comments are relative to the project: the same wherever it is checked out. */
export async function bundleEsm(entry: string): Promise<string> {
  const { build } = await import('esbuild');
  const r = await build({
    entryPoints: [entry],
    absWorkingDir: PROJECT,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    write: false,
    minify: false,
    legalComments: 'none',
    logLevel: 'silent',
    // CommonJS dependencies call require(); an ES module has none of its own.
    banner: { js: "import { createRequire as __caaRequire } from 'node:module'; const require = __caaRequire(import.meta.url);" },
  });
  return r.outputFiles[0]!.text;
}
