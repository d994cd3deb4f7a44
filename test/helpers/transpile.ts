/**
 * Turns child-process entry points (of benchmarks and end-to-end tests) and the TypeScript they import into
 * plain JavaScript for `node`, the way production runs the daemon and the forwarder (compiled `dist/`, no loader).
 *
 * Why not tsx for the children: under the tsx loader a process relaying 1 MiB messages runs a V8
 * mark-compact every few dozen milliseconds and spends 2–3× the CPU per relayed call of the same
 * code run as plain JS, which would charge a harness artefact to the tunnel. Set TUNNEL_BENCH_TSX=1
 * to run the children under tsx anyway.
 *
 * Only the import closure of the entries is transpiled (`ts.transpileModule`, no type check: the
 * type check is `npm run typecheck`'s job), into `outDir` with the repository's layout, next to a
 * `package.json` saying ESM and a `node_modules` link to the repository's.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

const compilerOptions: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ES2022,
  verbatimModuleSyntax: true,
  sourceMap: false,
};

/** Transpiles `entries` (absolute .ts paths inside the repository) and every relative import they reach. */
export async function transpileClosure(entries: readonly string[], outDir: string): Promise<number> {
  const queue = [...entries];
  const seen = new Set<string>(queue);
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
    const source = await readFile(file, 'utf8');
    for (const { fileName: spec } of ts.preProcessFile(source, true, true).importedFiles) {
      if (!spec.startsWith('.')) continue;
      const target = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
      if (!target.endsWith('.ts') || seen.has(target)) continue;
      if (!existsSync(target)) throw new Error(`${relative(repoRoot, file)}: cannot find ${spec}`);
      seen.add(target);
      queue.push(target);
    }
    const out = ts.transpileModule(source, { compilerOptions, fileName: file, reportDiagnostics: true });
    const problems = out.diagnostics ?? [];
    if (problems.length > 0) {
      throw new Error(`${relative(repoRoot, file)}: ${problems.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')).join('; ')}`);
    }
    const dest = join(outDir, relative(repoRoot, file)).replace(/\.ts$/, '.js');
    await mkdir(dirname(dest), { recursive: true });
    await writeFile(dest, out.outputText);
  }
  await writeFile(join(outDir, 'package.json'), '{ "type": "module" }\n');
  await symlink(join(repoRoot, 'node_modules'), join(outDir, 'node_modules'), 'dir');
  return seen.size;
}
