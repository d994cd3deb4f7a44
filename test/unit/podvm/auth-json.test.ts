import { describe, expect, it } from 'vitest';
import { AUTH_JSON_LIMIT, buildAuthJson, type PullSecret } from '../../../src/podvm/auth-json.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const dockerconfigjson = (name: string, auths: Record<string, unknown>): PullSecret => ({
  name,
  data: { '.dockerconfigjson': b64(JSON.stringify({ auths })) },
});
const dockercfg = (name: string, regs: Record<string, unknown>): PullSecret => ({ name, data: { '.dockercfg': b64(JSON.stringify(regs)) } });

function json(secrets: PullSecret[]): unknown {
  const r = buildAuthJson(secrets);
  if (!('json' in r)) throw new Error(`skipped: ${r.skipped}`);
  return JSON.parse(r.json);
}

describe('auth.json', () => {
  it('reads .dockerconfigjson: keeps auth, computes it from username/password, drops the rest', () => {
    const r = buildAuthJson([
      dockerconfigjson('regcred', {
        'quay.io': { username: 'u', password: 'p', email: 'e@x', auth: 'given' },
        'registry.example:5000': { username: 'alice', password: 's3cret:with:colons' },
      }),
    ]);
    expect(r).toEqual({
      json: `{"auths":{"quay.io":{"auth":"given"},"registry.example:5000":{"auth":"${b64('alice:s3cret:with:colons')}"}}}`,
      registries: ['quay.io', 'registry.example:5000'],
      warnings: [],
    });
  });

  it('reads legacy .dockercfg', () => {
    expect(json([dockercfg('old', { 'https://index.docker.io/v1/': { username: 'bob', password: 'pw', email: 'b@x' } })])).toEqual({
      auths: { 'https://index.docker.io/v1/': { auth: b64('bob:pw') } },
    });
  });

  it('merges secrets in order: the first secret naming a registry wins', () => {
    const sa = dockerconfigjson('sa-secret', { 'quay.io': { auth: 'from-sa' } });
    const pod = dockercfg('pod-secret', { 'quay.io': { auth: 'from-pod' }, 'ghcr.io': { username: 'g', password: 'h' } });
    expect(json([sa, pod])).toEqual({ auths: { 'ghcr.io': { auth: b64('g:h') }, 'quay.io': { auth: 'from-sa' } } });
    expect(json([pod, sa])).toEqual({ auths: { 'ghcr.io': { auth: b64('g:h') }, 'quay.io': { auth: 'from-pod' } } });
  });

  it('skips unreadable secrets and entries without credentials, with warnings', () => {
    const r = buildAuthJson([
      { name: 'not-b64', data: { '.dockerconfigjson': '!!!' } },
      { name: 'not-json', data: { '.dockerconfigjson': b64('{') } },
      { name: 'no-auths', data: { '.dockerconfigjson': b64('{"x":{}}') } },
      { name: 'opaque', data: { password: b64('x') } },
      dockerconfigjson('empty-entry', { 'a.io': {}, 'b.io': { auth: 'ok' } }),
    ]);
    expect(r).toMatchObject({ registries: ['b.io'] });
    expect(r.warnings).toEqual([
      'secret not-b64: .dockerconfigjson is not base64',
      'secret not-json: .dockerconfigjson is not JSON',
      'secret no-auths: .dockerconfigjson has no "auths" object',
      'secret opaque: no .dockerconfigjson or .dockercfg',
      'secret empty-entry: registry a.io has no auth, username or password',
    ]);
  });

  it('reports no credentials', () => {
    expect(buildAuthJson([])).toEqual({ skipped: 'no registry credentials', code: 'NO_CREDENTIALS', warnings: [] });
  });

  it(`writes up to ${AUTH_JSON_LIMIT} bytes and skips anything larger`, () => {
    const overhead = '{"auths":{"r":{"auth":""}}}'.length;
    const atLimit = buildAuthJson([dockerconfigjson('big', { r: { auth: 'a'.repeat(AUTH_JSON_LIMIT - overhead) } })]);
    expect('json' in atLimit && Buffer.byteLength(atLimit.json)).toBe(AUTH_JSON_LIMIT);
    const over = buildAuthJson([dockerconfigjson('big', { r: { auth: 'a'.repeat(AUTH_JSON_LIMIT - overhead + 1) } })]);
    expect(over).toMatchObject({ code: 'TOO_LARGE' });
    expect('skipped' in over && over.skipped).toContain(`${AUTH_JSON_LIMIT + 1} bytes`);
    expect(AUTH_JSON_LIMIT).toBe(12288);
  });
});
