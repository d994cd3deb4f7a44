import { describe, expect, it } from 'vitest';
import type { SandboxState } from '../../../src/shim/sandbox-store.js';
import { UserDataComposer } from '../../../src/shim/user-data-composer.js';

const state = {
  id: 'sb1',
  podName: 'web',
  podNamespace: 'shop',
  instanceName: 'podvm-web-sb1',
  initdata: '',
} as SandboxState;

function composer(registryAuth: (pod: { name: string; namespace: string }, signal: AbortSignal) => Promise<string | undefined>) {
  return new UserDataComposer({ globalInitdata: '', scratchSpace: false, registryAuth });
}

describe('UserDataComposer and the StartVM signal', () => {
  it('hands the signal to the registry-auth read, for the pod of the sandbox', async () => {
    const seen: [{ name: string; namespace: string }, AbortSignal][] = [];
    const signal = new AbortController().signal;
    const text = await composer(async (pod, s) => {
      seen.push([pod, s]);
      return '{"auths":{}}';
    }).compose(state, signal);
    expect(seen).toEqual([[{ name: 'web', namespace: 'shop' }, signal]]);
    expect(text).toContain('"pod-name": "web"');
  });

  it('a read that gives up at the abort (answering "no credentials") does not become user-data: compose rejects with the reason', async () => {
    const ac = new AbortController();
    const reason = new Error('StopVM was called');
    const p = composer((_pod, s) => new Promise((resolve) => s.addEventListener('abort', () => resolve(undefined), { once: true }))).compose(state, ac.signal);
    ac.abort(reason);
    await expect(p).rejects.toBe(reason);
  });
});
