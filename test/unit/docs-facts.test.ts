/**
 * Statements in docs/*.md that name a fact of the code or of package.json, checked against it.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_POD_NETNS_NAME, NETNS_RUN_DIR } from '../../src/tunnel/vxlan/vm.js';

const root = new URL('../../', import.meta.url);
const read = (path: string): string => readFileSync(new URL(path, root), 'utf8');

describe('docs facts', () => {
  it('every package a doc calls one of ours (in `dependencies` / `optionalDependencies` / …) is in that section of package.json', () => {
    const pkg = JSON.parse(read('package.json')) as Record<string, Record<string, string> | undefined>;
    const wrong: string[] = [];
    for (const file of readdirSync(new URL('docs/', root)).filter((f) => f.endsWith('.md'))) {
      for (const m of read(`docs/${file}`).matchAll(/`(@?[a-z0-9][\w./-]*)`[^`\n]{0,40}\(in `(\w*[dD]ependencies)`\)/g)) {
        const [, name, section] = m;
        if (!pkg[section!]?.[name!]) wrong.push(`docs/${file}: ${name} is not in package.json's ${section}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('docs/tunnel.md names the pod namespace path the forwarder sends in CreateContainer', () => {
    const doc = read('docs/tunnel.md');
    expect(doc).toContain(`\`CreateContainer\` joins\n\`${NETNS_RUN_DIR}/<name>\``);
    expect(doc).toContain(`so \`${DEFAULT_POD_NETNS_NAME}\``);
    expect(doc).not.toMatch(/joins\s+`\/run\/netns\/podns`/);
  });
});
