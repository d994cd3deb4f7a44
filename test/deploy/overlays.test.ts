/**
 * Every provider overlay (each folder of deploy/overlays, so a new one is checked without touching this file)
 * sets only keys the daemon reads for its provider, sets every required key, and its values parse.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { daemonOptions, loadDaemonConfig } from '../../src/config/daemon-config.js';
import { resolveOptions, type OptionSpec } from '../../src/config/options.js';
import { builtinProviders } from '../../src/providers/builtin/index.js';
import type { ProviderPlugin } from '../../src/providers/registry.js';
import { DEPLOY, REPO, deployCopy, findOne, overlayNames, type DeployCopy, type K8sObject } from './kustomize.js';

const run = promisify(execFile);

/** Read by the daemon outside its option tables (reference §5.6): the provider name and its own pod's UID. */
const EXTRA_KEYS = ['CLOUD_PROVIDER', 'POD_UID'];

const registry = builtinProviders();

/** The provider an overlay names, or a failure that says what to do. */
function pluginFor(overlay: string, provider: string): ProviderPlugin {
  if (!registry.names().includes(provider)) {
    throw new Error(
      `deploy/overlays/${overlay} sets CLOUD_PROVIDER=${provider}, but no provider "${provider}" is registered in src/providers/builtin/index.ts ` +
        `(registered: ${registry.names().join(', ')}); register it, or remove the overlay`,
    );
  }
  return registry.get(provider);
}

/** The first env name of every required option that has no non-empty value in `env`. */
function missingRequired(specs: readonly OptionSpec<unknown>[], env: Record<string, string>): string[] {
  return specs.filter((s) => s.required && !s.env.some((name) => (env[name] ?? '').trim() !== '')).map((s) => s.env[0] ?? `--${s.flag}`);
}

const envNames = (specs: Iterable<OptionSpec<unknown>>): string[] => [...specs].flatMap((s) => s.env);

interface Rendered {
  objects: K8sObject[];
  configMap: Record<string, string>;
  secret: Record<string, string>;
  explicitEnv: string[];
  image: string;
}

let copy: DeployCopy;
const rendered = new Map<string, Rendered>();

beforeAll(async () => {
  copy = await deployCopy();
  for (const overlay of overlayNames()) {
    const objects = await copy.build(`overlays/${overlay}`);
    const cm = findOne(objects, 'ConfigMap', 'peer-pods-cm');
    const secret = findOne(objects, 'Secret', 'peer-pods-secret');
    const ds = findOne(objects, 'DaemonSet', 'cloud-api-adaptor-daemonset') as K8sObject & {
      spec: { template: { spec: { containers: Array<{ image: string; env?: Array<{ name: string }> }> } } };
    };
    const container = ds.spec.template.spec.containers[0]!;
    rendered.set(overlay, {
      objects,
      configMap: (cm.data ?? {}) as Record<string, string>,
      secret: Object.fromEntries(Object.entries((secret.data ?? {}) as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')])),
      explicitEnv: (container.env ?? []).map((e) => e.name),
      image: container.image,
    });
  }
});
afterAll(async () => {
  await copy?.close();
});

describe.each(overlayNames())('deploy/overlays/%s', (overlay) => {
  const r = (): Rendered => rendered.get(overlay)!;

  it('puts peer-pods-cm and peer-pods-secret next to the DaemonSet, CLOUD_PROVIDER named after the folder', () => {
    const { objects, configMap } = r();
    expect(findOne(objects, 'ConfigMap', 'peer-pods-cm').metadata.namespace).toBe('confidential-containers-system');
    expect(findOne(objects, 'Secret', 'peer-pods-secret').metadata.namespace).toBe('confidential-containers-system');
    expect(configMap.CLOUD_PROVIDER).toBe(overlay);
  });

  it('names a registered provider', () => {
    expect(pluginFor(overlay, r().configMap.CLOUD_PROVIDER!).name).toBe(overlay);
  });

  it('sets only keys the daemon reads for that provider', () => {
    const plugin = pluginFor(overlay, r().configMap.CLOUD_PROVIDER!);
    const known = new Set([...envNames(Object.values(daemonOptions)), ...envNames(Object.values(plugin.options)), ...EXTRA_KEYS]);
    const keys = [...Object.keys(r().configMap), ...Object.keys(r().secret), ...r().explicitEnv];
    expect(keys.filter((k) => !known.has(k))).toEqual([]);
  });

  it('keeps secrets out of the ConfigMap', () => {
    const plugin = pluginFor(overlay, r().configMap.CLOUD_PROVIDER!);
    const secretNames = envNames([...Object.values(daemonOptions), ...Object.values(plugin.options)].filter((s) => s.secret));
    expect(Object.keys(r().configMap).filter((k) => secretNames.includes(k))).toEqual([]);
  });

  it('sets every required key, with a value', () => {
    const plugin = pluginFor(overlay, r().configMap.CLOUD_PROVIDER!);
    expect(missingRequired([...Object.values(daemonOptions), ...Object.values(plugin.options)], { ...r().configMap, ...r().secret })).toEqual([]);
  });

  it("values parse as the daemon parses them (the daemon's and the provider's option tables)", () => {
    const plugin = pluginFor(overlay, r().configMap.CLOUD_PROVIDER!);
    const env = { ...r().configMap, ...r().secret, NODE_NAME: 'worker-1', POD_UID: '00000000-0000-0000-0000-000000000001' };
    const problems: string[] = [];
    for (const load of [() => loadDaemonConfig({ flags: {}, env }), () => resolveOptions(plugin.options, { flags: {}, env })]) {
      try {
        load();
      } catch (err) {
        problems.push((err as Error).message);
      }
    }
    expect(problems).toEqual([]);
  });

  it('replaces the image with a tagged one', () => {
    expect(r().image).not.toBe('cloud-api-adaptor');
    expect(r().image).toMatch(/^[^:]+\/[^:]+:[\w.-]+$/);
    expect(r().image).not.toMatch(/:latest$/);
  });

  it('commits an example of each credential file and git-ignores the real one', async () => {
    const k = parseYaml(await readFile(join(DEPLOY, 'overlays', overlay, 'kustomization.yaml'), 'utf8')) as {
      secretGenerator?: Array<{ envs?: string[]; files?: string[] }>;
      generatorOptions?: { disableNameSuffixHash?: boolean };
    };
    expect(k.generatorOptions?.disableNameSuffixHash).toBe(true);
    const files = (k.secretGenerator ?? []).flatMap((g) => [...(g.envs ?? []), ...(g.files ?? [])].map((f) => f.replace(/^.*=/, '')));
    for (const f of files) {
      const rel = `deploy/overlays/${overlay}/${f}`;
      expect(existsSync(join(REPO, `${rel}.example`)), `${rel}.example exists`).toBe(true);
      await expect(run('git', ['check-ignore', '-q', rel], { cwd: REPO }), `${rel} is git-ignored`).resolves.toBeDefined();
    }
  });
});

describe('overlay checks', () => {
  it('a required key without a value is reported', () => {
    const spec = { flag: 'imageid', env: ['PODVM_AMI_ID'], default: '', schema: daemonOptions.pauseImage.schema, description: 'image', required: true };
    expect(missingRequired([spec], {})).toEqual(['PODVM_AMI_ID']);
    expect(missingRequired([spec], { PODVM_AMI_ID: ' ' })).toEqual(['PODVM_AMI_ID']);
    expect(missingRequired([spec], { PODVM_AMI_ID: 'ami-1' })).toEqual([]);
  });

  it('an overlay whose provider is not registered fails with a clear message', () => {
    expect(() => pluginFor('openstack', 'openstack')).toThrow(/CLOUD_PROVIDER=openstack, but no provider "openstack" is registered .*\(registered: .*local/);
  });
});
