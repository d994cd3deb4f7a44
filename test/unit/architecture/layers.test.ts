/**
 * The layer rule on the real source tree (docs/architecture.md, "Layers"; docs/adr/0002-ports.md): every
 * import in src/ points down the table below, never up and never sideways, and no import cycle joins two
 * folders (nor two parts of shim, tunnel, k8s or providers). A failure names the file, the line and the import.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { collectImports, importCycles, layerViolations, sourceFiles, unitOf, type LayerRules } from './import-graph.js';

const SRC = fileURLToPath(new URL('../../../src/', import.meta.url));

/** Lowest first. A unit may import its own files and the units of lower layers, nothing else. */
const LAYER_RULES: LayerRules = {
  layers: [
    { name: 'foundation', units: ['util', 'proto', 'version.ts'] },
    { name: 'protocols and libraries', units: ['ttrpc', 'lib'] },
    { name: 'settings and pod VM formats', units: ['config', 'podvm'] },
    { name: 'providers', units: ['providers'] },
    { name: 'shim: core and ports', units: ['shim'] },
    { name: 'adapters and services', units: ['tunnel', 'observability', 'k8s', 'webhook'] },
    { name: 'composition root', units: ['cli'] },
  ],
  splitCycles: ['shim', 'tunnel', 'k8s', 'providers'],
};

describe('the layer rule on src/', () => {
  const edges = collectImports(SRC);

  it('finds the imports it checks (a parser that reads nothing would pass everything)', () => {
    expect(edges.some((e) => e.file === 'cli/compose-daemon.ts' && e.target === 'shim/daemon.ts')).toBe(true);
    expect(edges.some((e) => e.file === 'tunnel/proxy-tunnel.ts' && e.target === 'shim/ports.ts')).toBe(true);
  });

  it('places every folder of src/ in a layer', () => {
    const placed = new Set(LAYER_RULES.layers.flatMap((l) => l.units));
    expect([...new Set(sourceFiles(SRC).map(unitOf))].filter((u) => !placed.has(u))).toEqual([]);
  });

  it('has no import from a lower layer into a higher one or between units of one layer', () => {
    expect(layerViolations(edges, LAYER_RULES)).toEqual([]);
  });

  it('has no import cycle between folders', () => {
    expect(importCycles(edges, LAYER_RULES)).toEqual([]);
  });

  it('keeps the shim on its ports: it imports nothing from tunnel, observability, k8s or cli', () => {
    const outward = edges.filter((e) => unitOf(e.file) === 'shim' && ['tunnel', 'observability', 'k8s', 'cli'].includes(unitOf(e.target)));
    expect(outward.map((e) => `${e.file}:${e.line} ${e.specifier}`)).toEqual([]);
  });
});
