/**
 * src/lib holds generic libraries (libvirt's wire protocol, an ISO 9660 writer, an XML parser): they may
 * use Node, each other and src/util, never the parts of the adaptor (providers, shim, tunnel, …).
 */
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const LIB = resolve(dirname(fileURLToPath(import.meta.url)), '../../../src/lib');
const SRC = dirname(LIB);
const SPECIFIER = /(?:^|\s)(?:import|export)\s[^'"]*?from\s+'([^']+)'|import\('([^']+)'\)/g;

/** Where a relative import of `file` lands, relative to src/ (`util/errors.js`), or the bare specifier. */
function importTargets(file: string, source: string): string[] {
  return [...source.matchAll(SPECIFIER)].map((m) => {
    const spec = m[1] ?? m[2]!;
    return spec.startsWith('.') ? relative(SRC, resolve(dirname(file), spec)) : spec;
  });
}

const allowed = (target: string): boolean => target.startsWith('node:') || target.startsWith('lib/') || target.startsWith('util/');

async function tsFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(entries.map((e) => (e.isDirectory() ? tsFiles(join(dir, e.name)) : Promise.resolve(e.name.endsWith('.ts') ? [join(dir, e.name)] : []))));
  return nested.flat();
}

describe('src/lib', () => {
  it('the import check sees a reach into providers as one (so the rule below can fail)', () => {
    const file = join(LIB, 'libvirt-rpc', 'x.ts');
    const targets = importTargets(file, "import { a } from '../../providers/libvirt/client.js';\nimport { b } from '../../util/errors.js';\n");
    expect(targets).toEqual(['providers/libvirt/client.js', 'util/errors.js']);
    expect(targets.map(allowed)).toEqual([false, true]);
  });

  it('imports only Node, src/lib itself and src/util', async () => {
    const files = await tsFiles(LIB);
    expect(files.length).toBeGreaterThanOrEqual(6);
    const offending: string[] = [];
    for (const f of files) {
      for (const t of importTargets(f, await readFile(f, 'utf8'))) if (!allowed(t)) offending.push(`${relative(SRC, f)} → ${t}`);
    }
    expect(offending).toEqual([]);
  });
});
