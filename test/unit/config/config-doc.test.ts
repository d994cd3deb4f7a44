import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderConfigDoc } from '../../../scripts/config-doc.js';
import { daemonOptions } from '../../../src/config/daemon-config.js';
import { builtinProviders } from '../../../src/providers/builtin/index.js';
import { deployCopy, findOne, overlayNames, type DeployCopy } from '../../deploy/kustomize.js';

const docText = (): Promise<string> => readFile(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');

describe('docs/configuration.md', () => {
  it('matches the options table (regenerate: npx tsx scripts/config-doc.ts > docs/configuration.md)', async () => {
    expect(await docText()).toBe(renderConfigDoc());
  });

  it('every option has an environment name (the README promises one for each)', () => {
    const tables = [['daemon', daemonOptions] as const, ...builtinProviders().list().map((p) => [p.name, p.options] as const)];
    const without = tables.flatMap(([owner, table]) => Object.values(table).filter((o) => o.env.length === 0).map((o) => `${owner}: --${o.flag}`));
    expect(without).toEqual([]);
  });
});

describe('the overlays\' keys are documented ("every key is described in docs/configuration.md")', () => {
  let copy: DeployCopy;
  beforeAll(async () => {
    copy = await deployCopy();
  });
  afterAll(async () => {
    await copy?.close();
  });

  it.each(overlayNames())('every key of overlays/%s peer-pods-cm and peer-pods-secret appears in docs/configuration.md', async (overlay) => {
    const objects = await copy.build(`overlays/${overlay}`);
    const keys = ['peer-pods-cm', 'peer-pods-secret'].flatMap((name) => {
      const o = findOne(objects, name === 'peer-pods-cm' ? 'ConfigMap' : 'Secret', name) as { data?: Record<string, string>; stringData?: Record<string, string> };
      return Object.keys({ ...o.data, ...o.stringData });
    });
    expect(keys).toContain('CLOUD_PROVIDER');
    const doc = await docText();
    expect(keys.filter((k) => !doc.includes(`\`${k}\``))).toEqual([]);
  });
});
