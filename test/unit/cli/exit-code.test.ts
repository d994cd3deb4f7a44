/**
 * How a CLI error becomes an exit status (src/cli/exit-code.ts) and which errors get the "needs root"
 * hint (src/cli/daemon-paths.ts). Documented in docs/operations.md ("Exit codes").
 */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/errors.js';
import { pathAccessError } from '../../../src/cli/daemon-paths.js';
import { StoppedBySignal, exitCodeFor } from '../../../src/cli/exit-code.js';

const paths = { socket: '/run/peerpod/hypervisor.sock', podsDir: '/run/peerpod/pods', stateDir: '/run/peerpod/state' };

function errno(code: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: denied, open '${path}'`), { code, path, syscall: 'open' });
}

describe('exit codes', () => {
  it('bad configuration 2, another owner 3, a signal before serving 0, anything else 1', () => {
    expect(exitCodeFor(new ConfigError('bad'))).toBe(2);
    expect(exitCodeFor(Object.assign(new Error('x'), { code: 'INVALID_CONFIG' }))).toBe(2);
    expect(exitCodeFor(Object.assign(new Error('x'), { code: 'PODS_DIR_OWNED' }))).toBe(3);
    expect(exitCodeFor(Object.assign(new Error('x'), { code: 'SOCKET_IN_USE' }))).toBe(3);
    // Before: a SIGTERM while waiting for PODS_DIR was a plain Error and exited 1, though the docs say 0.
    expect(exitCodeFor(new StoppedBySignal('SIGTERM received while waiting for PODS_DIR'))).toBe(0);
    expect(exitCodeFor(new Error('boom'))).toBe(1);
  });
});

describe('the "needs root" hint', () => {
  it('is given for the daemon\'s own folders and their parents', () => {
    const hint = pathAccessError(errno('EACCES', '/run/peerpod'), paths);
    expect(hint?.message).toContain('cannot create or write /run/peerpod, needed for');
    expect(exitCodeFor(hint)).toBe(2);
    expect(pathAccessError(errno('EROFS', '/run/peerpod/pods/abc/state.json'), paths)?.message).toContain('PODS_DIR (--pods-dir)');
  });

  it('is not given for other files (an unreadable provider key or kubeconfig keeps its own error)', () => {
    // Before: any EACCES/EPERM/EROFS with a path got the /run/peerpod hint and exit 2.
    expect(pathAccessError(errno('EACCES', '/etc/azure/credentials.json'), paths)).toBeUndefined();
    expect(pathAccessError(errno('EPERM', '/root/.kube/config'), paths)).toBeUndefined();
    expect(pathAccessError(errno('ENOENT', '/run/peerpod/pods'), paths)).toBeUndefined();
  });
});
