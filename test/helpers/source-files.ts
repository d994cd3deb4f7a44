/**
 * The hand-written TypeScript of src/, for the tests that audit it as source (timers, log keys):
 * every .ts file under src/ except declaration files and the generated code in src/proto/gen.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC_DIR = fileURLToPath(new URL('../../src/', import.meta.url));
const GENERATED = join('proto', 'gen');

export interface SourceFile {
  /** Absolute path. */
  path: string;
  /** Path relative to src/, e.g. `util/timers.ts`. */
  rel: string;
  text: string;
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return relative(SRC_DIR, p) === GENERATED ? [] : walk(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** Sorted by path, so that an audit's findings come out in a stable order. */
export function handWrittenSources(): SourceFile[] {
  return walk(SRC_DIR)
    .sort()
    .map((path) => ({ path, rel: relative(SRC_DIR, path), text: readFileSync(path, 'utf8') }));
}
