/**
 * deploy/image/Dockerfile, checked as text (no container engine here): pinned bases, a multi-stage build whose
 * runtime stages get production dependencies only, sources that exist in the build context, exec-form
 * entrypoints, a non-root webhook target. Each rule is also shown to catch a broken file.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { REPO } from './kustomize.js';
import { copyOperands, execForm, isIgnored, lintDockerfile, parseDockerfile, type Dockerfile, type LintOptions } from './dockerfile-lint.js';

const DOCKERFILE = join(REPO, 'deploy/image/Dockerfile');
const IGNORE = join(REPO, 'deploy/image/Dockerfile.dockerignore');

let text: string;
let df: Dockerfile;
let options: LintOptions;

beforeAll(async () => {
  text = await readFile(DOCKERFILE, 'utf8');
  df = parseDockerfile(text);
  options = { context: REPO, ignore: (await readFile(IGNORE, 'utf8')).split('\n'), nonRootTargets: ['webhook'] };
});

const lint = (src: string, nonRootTargets: string[] = []): string[] => lintDockerfile(parseDockerfile(src), { ...options, nonRootTargets });

describe('deploy/image/Dockerfile', () => {
  it('passes every rule', () => {
    expect(lintDockerfile(df, options)).toEqual([]);
  });

  it('has the build, prod-deps, webhook and daemon stages, all on the Node LTS image that CI tests (.ci/node-lts-version)', async () => {
    expect(df.stages.map((s) => s.name)).toEqual(['build', 'prod-deps', 'webhook', 'cloud-api-adaptor']);
    const lts = (await readFile(join(REPO, '.ci/node-lts-version'), 'utf8')).trim();
    expect(lts).toMatch(/^\d+\.\d+\.\d+$/);
    const major = Number(lts.split('.')[0]);
    // Node 20 is past its end of life; the AWS SDK and the dev tools want >= 22; LTS lines are even.
    expect(major).toBeGreaterThanOrEqual(22);
    expect(major % 2).toBe(0);
    expect(new Set(df.stages.map((s) => s.from))).toEqual(new Set([`node:${major}-bookworm-slim`]));
  });

  it('the daemon target (the default) installs ip, tc, iptables and nsenter and runs entrypoint.sh as the DaemonSet says', async () => {
    const daemon = df.stages.at(-1)!;
    const run = daemon.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args).join(' ');
    for (const pkg of ['iproute2', 'iptables', 'util-linux', 'openssh-client']) expect(run).toMatch(new RegExp(`apt-get install .*\\b${pkg}\\b`));
    const entry = execForm(daemon.instructions.find((i) => i.keyword === 'ENTRYPOINT')!.args)!;
    expect(entry).toEqual(['/usr/local/bin/entrypoint.sh']);
    const copied = daemon.instructions.filter((i) => i.keyword === 'COPY').map(copyOperands);
    expect(copied).toContainEqual({ sources: ['deploy/image/entrypoint.sh'], dest: entry[0] });
    const ds = parseYaml(await readFile(join(REPO, 'deploy/base/daemonset.yaml'), 'utf8')) as {
      spec: { template: { spec: { containers: Array<{ command: string[] }> } } };
    };
    expect(ds.spec.template.spec.containers[0]!.command).toEqual(entry);
    // entrypoint.sh execs `cloud-api-adaptor`: the image puts it on PATH.
    expect(run).toMatch(/ln -s \/app\/dist\/cli\/cloud-api-adaptor\.js \/usr\/local\/bin\/cloud-api-adaptor/);
    // The daemon runs as root on purpose; the file says why.
    expect(daemon.instructions.some((i) => i.keyword === 'USER')).toBe(false);
    expect(text).toMatch(/# Runs as root, on purpose/);
  });

  it('the webhook target runs `cloud-api-adaptor webhook` as user 65532', () => {
    const webhook = df.stages.find((s) => s.name === 'webhook')!;
    expect(execForm(webhook.instructions.find((i) => i.keyword === 'ENTRYPOINT')!.args)).toEqual(['node', '/app/dist/cli/cloud-api-adaptor.js', 'webhook']);
    expect(webhook.instructions.find((i) => i.keyword === 'USER')!.args).toBe('65532:65532');
  });

  it('runtime stages carry package.json ("type": "module" makes Node load dist/ as ES modules)', async () => {
    expect((JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { type: string }).type).toBe('module');
    for (const stage of df.stages.slice(2)) {
      expect(stage.instructions.filter((i) => i.keyword === 'COPY' && !i.flags.from).map((i) => copyOperands(i).sources)).toContainEqual(['package.json']);
    }
  });

  it('the build context leaves out node_modules, dist, .git and the overlays\' credential files', () => {
    for (const p of ['node_modules', 'dist/cli/x.js', '.git', 'deploy/overlays/aws/aws-cred.env']) expect(isIgnored(p, options.ignore), p).toBe(true);
    for (const p of ['src/cli/cloud-api-adaptor.ts', 'package.json', 'deploy/image/entrypoint.sh', 'deploy/overlays/aws/aws-cred.env.example']) {
      expect(isIgnored(p, options.ignore), p).toBe(false);
    }
  });
});

describe('the Dockerfile rules catch', () => {
  const ok = 'FROM node:20-bookworm-slim AS build\nRUN npm ci\nFROM node:20-bookworm-slim\nENTRYPOINT ["node"]\n';

  it('a base without a tag, or tagged latest, or from an ARG without a default', () => {
    expect(lint(ok)).toEqual([]);
    expect(lint('FROM node AS a\nFROM node:latest\nENTRYPOINT ["x"]')).toEqual(['line 1: FROM node is not pinned to a tag', 'line 2: FROM node:latest uses the tag latest']);
    expect(lint('ARG BASE\nFROM $BASE AS a\nFROM a\nENTRYPOINT ["x"]')).toEqual(['line 2: FROM $BASE uses an ARG without a default']);
    expect(lint('ARG BASE=node:20-slim\nFROM ${BASE} AS a\nFROM a\nENTRYPOINT ["x"]')).toEqual([]);
  });

  it('a single-stage build', () => {
    expect(lint('FROM node:20-slim\nENTRYPOINT ["x"]')).toEqual(['expected a multi-stage build, found 1 stage(s)']);
  });

  it('node_modules copied from a stage that installed devDependencies', () => {
    expect(lint(`${ok}COPY --from=build /src/node_modules ./node_modules\n`)).toEqual([
      'line 5: copies node_modules from stage build, which installs devDependencies (npm ci)',
    ]);
    expect(lint('FROM node:20-slim AS deps\nRUN npm ci --omit=dev\nFROM node:20-slim\nCOPY --from=deps /app/node_modules ./node_modules\nENTRYPOINT ["x"]')).toEqual([]);
  });

  it('a runtime target that installs devDependencies itself', () => {
    expect(lint('FROM node:20-slim AS a\nFROM node:20-slim\nRUN npm install\nENTRYPOINT ["x"]')).toEqual(['target stage at line 2 installs devDependencies (npm install)']);
  });

  it('COPY sources missing from the context, excluded by the dockerignore file, or wildcards', () => {
    expect(lint(`${ok}COPY no-such-file /x\nCOPY node_modules /y\nCOPY src/*.ts /z\n`)).toEqual([
      'line 5: COPY source no-such-file does not exist in the build context',
      'line 6: COPY source node_modules is excluded by the dockerignore file',
      'line 7: wildcard source src/*.ts (name the files)',
    ]);
  });

  it('ADD of a URL, and an unpinned image in COPY --from', () => {
    expect(lint(`${ok}ADD https://example.com/tool.tgz /tmp/\nCOPY --from=busybox:latest /bin/sh /sh\n`)).toEqual([
      'line 5: ADD of a URL (https://example.com/tool.tgz); download in a RUN step with a checksum, or COPY',
      'line 6: COPY --from busybox:latest uses the tag latest',
    ]);
  });

  it('shell-form ENTRYPOINT, a target without ENTRYPOINT, a non-root target without USER or with root', () => {
    expect(lint('FROM node:20-slim AS a\nFROM node:20-slim\nENTRYPOINT node x.js')).toEqual([
      'line 3: ENTRYPOINT must use the exec form (a JSON list), so signals reach the program',
    ]);
    expect(lint('FROM node:20-slim AS a\nFROM node:20-slim AS b\nRUN true')).toEqual(['target b has no ENTRYPOINT']);
    expect(lint(`${ok}`, ['webhook'])).toEqual(['no stage named webhook']);
    expect(lint('FROM node:20-slim AS webhook\nENTRYPOINT ["x"]\nFROM node:20-slim\nENTRYPOINT ["y"]', ['webhook'])).toEqual(['target webhook has no USER (it would run as root)']);
    expect(lint('FROM node:20-slim AS webhook\nUSER root\nENTRYPOINT ["x"]\nFROM node:20-slim\nENTRYPOINT ["y"]', ['webhook'])).toEqual(['target webhook runs as root (USER root)']);
  });

  it('continuation lines and comments inside them are read as Docker reads them', () => {
    const parsed = parseDockerfile('# c\nFROM node:20-slim AS a\nRUN apt-get update \\\n# inside\n && apt-get install -y \\\n    iproute2\nCOPY --from=a --chown=1:1 /x /y\n');
    expect(parsed.stages[0]!.instructions.map((i) => [i.keyword, i.args, i.line])).toEqual([
      ['RUN', 'apt-get update   && apt-get install -y      iproute2', 3],
      ['COPY', '/x /y', 7],
    ]);
    expect(parsed.stages[0]!.instructions[1]!.flags).toEqual({ from: 'a', chown: '1:1' });
    expect(() => parseDockerfile('FROM node:20-slim\nRUN <<EOF\necho\nEOF\n')).toThrow(/heredocs/);
  });
});
