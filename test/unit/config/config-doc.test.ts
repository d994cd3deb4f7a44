import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { renderConfigDoc } from '../../../scripts/config-doc.js';

describe('docs/configuration.md', () => {
  it('matches the options table (regenerate: npx tsx scripts/config-doc.ts > docs/configuration.md)', async () => {
    expect(await readFile(new URL('../../../docs/configuration.md', import.meta.url), 'utf8')).toBe(renderConfigDoc());
  });
});
