import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { instanceName, sanitize } from '../../../src/providers/naming.js';

describe('instance naming', () => {
  it('podvm-<pod>-<first 8 of id>', () => {
    expect(instanceName('nginx', 'a1b2c3d4e5f6')).toBe('podvm-nginx-a1b2c3d4');
  });
  it('sanitises to lower-case [a-z0-9-]', () => {
    expect(sanitize('My.Pod_Name')).toBe('my-pod-name');
    expect(instanceName('Web.Server', 'ABCDEF0123')).toBe('podvm-web-server-abcdef01');
  });
  it('cuts the pod part so the total is at most 63', () => {
    const name = instanceName('p'.repeat(300), 'f'.repeat(64));
    expect(name).toHaveLength(63);
    expect(name.endsWith('-ffffffff')).toBe(true);
  });
  it('property: always ≤ 63 characters of [a-z0-9-] with the right prefix and suffix', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), fc.stringMatching(/^[A-Za-z0-9_-]{1,128}$/), (pod, id) => {
        const n = instanceName(pod, id);
        expect(n.length).toBeLessThanOrEqual(63);
        expect(n).toMatch(/^podvm-[a-z0-9-]*-[a-z0-9-]{1,8}$/);
        expect(n.endsWith(`-${sanitize(id).slice(0, 8)}`)).toBe(true);
      }),
    );
  });
});
