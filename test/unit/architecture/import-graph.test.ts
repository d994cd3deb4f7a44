/** The layer checker on small planted trees: it must see each kind of violation and name the file and import. */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { collectImports, importCycles, layerViolations, type LayerRules } from './import-graph.js';

const RULES: LayerRules = {
  layers: [
    { name: 'low', units: ['base'] },
    { name: 'middle', units: ['core'] },
    { name: 'high', units: ['edge', 'other'] },
  ],
  splitCycles: ['edge'],
};

let root: string | undefined;
afterEach(async () => {
  if (root) await rm(root, { recursive: true, force: true });
  root = undefined;
});

/** Writes `files` (path → source) under a fresh temp folder and returns its path. */
async function plant(files: Record<string, string>): Promise<string> {
  root = await mkdtemp(join(tmpdir(), 'caa-layers-'));
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), text);
  }
  return root;
}

describe('collectImports', () => {
  it('reads static, type-only, re-export, dynamic, import-type and require imports with their lines, and skips packages', async () => {
    const dir = await plant({
      'edge/a.ts': [
        "import { x } from '../core/x.js';",
        "import type { T } from '../base/t.js';",
        "export { y } from './y.js';",
        "const m = await import('../other/m.js');",
        "type U = typeof import('../base/u.js');",
        "import { pino } from 'pino';",
        "import { stat } from 'node:fs/promises';",
        "import r = require('../base/r.js');",
      ].join('\n'),
    });
    const edges = collectImports(dir).map((e) => `${e.file}:${e.line} ${e.target}`);
    expect(edges).toEqual(['edge/a.ts:1 core/x.ts', 'edge/a.ts:2 base/t.ts', 'edge/a.ts:3 edge/y.ts', 'edge/a.ts:4 other/m.ts', 'edge/a.ts:5 base/u.ts', 'edge/a.ts:8 base/r.ts']);
  });
});

describe('layerViolations', () => {
  it('passes a tree whose imports all point down', async () => {
    const dir = await plant({ 'base/t.ts': 'export type T = 1;', 'core/c.ts': "import type { T } from '../base/t.js';", 'edge/e.ts': "import '../core/c.js';\nimport '../base/t.js';" });
    expect(layerViolations(collectImports(dir), RULES)).toEqual([]);
  });

  it('fails a lower layer importing a higher one, also for a type-only import, naming the file, line and import', async () => {
    const dir = await plant({ 'core/c.ts': "export const c = 1;\nimport type { E } from '../edge/e.js';", 'edge/e.ts': 'export type E = 1;' });
    expect(layerViolations(collectImports(dir), RULES)).toEqual([
      `core/c.ts:2 imports '../edge/e.js': core (layer 2 "middle") must not import the higher edge (layer 3 "high")`,
    ]);
  });

  it('fails an import between two units of one layer, a unit in no layer, and an import out of the tree', async () => {
    const dir = await plant({ 'edge/e.ts': "import '../other/o.js';\nimport '../stray/s.js';\nimport '../../outside.js';", 'other/o.ts': '', 'stray/s.ts': '' });
    expect(layerViolations(collectImports(dir), RULES)).toEqual([
      "edge/e.ts:1 imports '../other/o.js': edge and other are in the same layer and must not import each other",
      "edge/e.ts:3 imports '../../outside.js': it leaves the source tree",
      'stray: in no layer (add it to the layer table)',
    ]);
  });
});

describe('importCycles', () => {
  it('finds a cycle between folders and names every import on it', async () => {
    const dir = await plant({ 'core/c.ts': "import '../edge/e.js';", 'edge/e.ts': "import '../core/c.js';" });
    expect(importCycles(collectImports(dir))).toEqual([
      "import cycle core → edge → core: core/c.ts:1 imports '../edge/e.js'; edge/e.ts:1 imports '../core/c.js'",
    ]);
  });

  it("finds a cycle between a split unit's own files and one of its subfolders, and none in a tree without one", async () => {
    const dir = await plant({ 'edge/a.ts': "import './vxlan/v.js';", 'edge/vxlan/v.ts': "import '../a.js';\nimport '../netns/n.js';", 'edge/netns/n.ts': '' });
    expect(importCycles(collectImports(dir), RULES)).toEqual([
      "import cycle edge/* → edge/vxlan → edge/*: edge/a.ts:1 imports './vxlan/v.js'; edge/vxlan/v.ts:1 imports '../a.js'",
    ]);
    expect(importCycles(collectImports(dir), { splitCycles: [] })).toEqual([]);
  });
});
