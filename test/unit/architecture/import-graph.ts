/**
 * The layer rule's checker (docs/architecture.md, "Layers"): reads every import of a source tree with the
 * TypeScript parser — static imports, `export … from`, `import()` and `import('…')` types, type-only ones
 * included (the rule is about the design, not about the emitted code) — and reports
 * - an import from a lower layer into a higher one, or between two units of the same layer;
 * - a unit that no layer names;
 * - every import cycle between units (at the unit level, and between the subfolders of the folders
 *   given as `splitCycles`).
 * A unit is a folder right under the root (`shim`, `tunnel`, …) or a file there (`version.ts`).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

export interface ImportEdge {
  /** The importing file, relative to the root, with `/` separators. */
  file: string;
  line: number;
  /** The module specifier as written. */
  specifier: string;
  /** The imported source file, relative to the root (`x.js` read as `x.ts`; starts with `..` when it leaves the tree). */
  target: string;
}

export interface Layer {
  name: string;
  units: readonly string[];
}

export interface LayerRules {
  /** Lowest first: a unit may import its own files and units of lower layers only. */
  layers: readonly Layer[];
  /** Units whose subfolders are also checked for cycles among themselves and the unit's own files. */
  splitCycles?: readonly string[];
}

/** Every `.ts` file under `root` (declaration files left out), relative, sorted. */
export function sourceFiles(root: string): string[] {
  return readdirSync(root, { recursive: true, encoding: 'utf8' })
    .filter((p) => p.endsWith('.ts') && !p.endsWith('.d.ts'))
    .map((p) => p.split(sep).join('/'))
    .sort();
}

/** The relative imports of every source file under `root`; package imports (`pino`, `node:fs`) are not edges. */
export function collectImports(root: string): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const file of sourceFiles(root)) {
    const text = readFileSync(join(root, file), 'utf8');
    const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
    const add = (literal: ts.Node | undefined): void => {
      if (!literal || !ts.isStringLiteralLike(literal) || !literal.text.startsWith('.')) return;
      const target = relative(root, resolve(root, dirname(file), literal.text)).split(sep).join('/').replace(/\.js$/, '.ts');
      edges.push({ file, line: source.getLineAndCharacterOfPosition(literal.getStart(source)).line + 1, specifier: literal.text, target });
    };
    const visit = (node: ts.Node): void => {
      if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) add(node.moduleSpecifier);
      else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) add(node.moduleReference.expression);
      else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) add(node.arguments[0]);
      else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) add(node.argument.literal);
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return edges;
}

/** The unit a root-relative path belongs to: its first folder, or the file itself at the top. */
export function unitOf(path: string): string {
  return path.split('/')[0]!;
}

/** Within a split unit: `tunnel/vxlan` for a subfolder's files, `tunnel/*` for the unit's own files. */
function subUnitOf(path: string): string {
  const parts = path.split('/');
  return parts.length > 2 ? `${parts[0]}/${parts[1]}` : `${parts[0]}/*`;
}

const describeEdge = (e: ImportEdge): string => `${e.file}:${e.line} imports '${e.specifier}'`;

/** Every breach of the layer order, one line each, naming the file, the line and the import. */
export function layerViolations(edges: readonly ImportEdge[], rules: LayerRules): string[] {
  const rank = new Map<string, number>();
  rules.layers.forEach((layer, i) => layer.units.forEach((u) => rank.set(u, i)));
  const layerName = (u: string): string => `${u} (layer ${rank.get(u)! + 1} "${rules.layers[rank.get(u)!]!.name}")`;
  const out: string[] = [];
  const unplaced = new Set<string>();
  for (const e of edges) {
    const from = unitOf(e.file);
    const to = unitOf(e.target);
    if (!rank.has(from)) unplaced.add(from);
    if (to === '..') {
      out.push(`${describeEdge(e)}: it leaves the source tree`);
      continue;
    }
    if (!rank.has(to)) unplaced.add(to);
    if (from === to || !rank.has(from) || !rank.has(to)) continue;
    if (rank.get(to)! > rank.get(from)!) out.push(`${describeEdge(e)}: ${layerName(from)} must not import the higher ${layerName(to)}`);
    else if (rank.get(to) === rank.get(from)) out.push(`${describeEdge(e)}: ${from} and ${to} are in the same layer and must not import each other`);
  }
  for (const u of unplaced) out.push(`${u}: in no layer (add it to the layer table)`);
  return out;
}

/** Import cycles between units (and between the parts of the split units), each with one import per step. */
export function importCycles(edges: readonly ImportEdge[], rules: Pick<LayerRules, 'splitCycles'> = {}): string[] {
  const out = cyclesOf(edges, unitOf);
  for (const unit of rules.splitCycles ?? []) {
    const inside = edges.filter((e) => unitOf(e.file) === unit && unitOf(e.target) === unit);
    out.push(...cyclesOf(inside, subUnitOf));
  }
  return out;
}

/** The strongly connected groups of the graph `group` makes of `edges`, as readable cycles. */
function cyclesOf(edges: readonly ImportEdge[], group: (path: string) => string): string[] {
  const next = new Map<string, Map<string, ImportEdge>>();
  for (const e of edges) {
    const [a, b] = [group(e.file), group(e.target)];
    if (a === b) continue;
    if (!next.has(a)) next.set(a, new Map());
    if (!next.get(a)!.has(b)) next.get(a)!.set(b, e);
  }
  const out: string[] = [];
  const done = new Set<string>();
  for (const start of [...next.keys()].sort()) {
    if (done.has(start)) continue;
    const path = shortestPath(next, start, start);
    if (!path) continue;
    const nodes = [start, ...path.map((e) => group(e.target))];
    nodes.forEach((n) => done.add(n));
    out.push(`import cycle ${nodes.join(' → ')}: ${path.map(describeEdge).join('; ')}`);
  }
  return out;
}

/** Breadth-first: the fewest imports leading from `from` back to `to`, or undefined. */
function shortestPath(next: Map<string, Map<string, ImportEdge>>, from: string, to: string): ImportEdge[] | undefined {
  const via = new Map<string, ImportEdge[]>([[from, []]]);
  const queue = [from];
  while (queue.length > 0) {
    const node = queue.shift()!;
    for (const [n, edge] of next.get(node) ?? []) {
      const path = [...via.get(node)!, edge];
      if (n === to) return path;
      if (!via.has(n)) {
        via.set(n, path);
        queue.push(n);
      }
    }
  }
  return undefined;
}
