import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connect, createServer, type Server } from 'node:net';
import { existsSync } from 'node:fs';
import { link, lstat, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  MAX_UNIX_PATH_BYTES,
  SocketInUseError,
  SocketPathError,
  checkUnixSocketPath,
  listenUnix,
  type UnixListener,
} from '../../../src/ttrpc/unix-socket.js';
import { TtrpcServer } from '../../../src/ttrpc/server.js';
import { TtrpcClient } from '../../../src/ttrpc/client.js';
import { makeTempDir, rejectionOf, removeDir, sleep } from '../../helpers/async.js';

let dir: string;
const listeners: UnixListener[] = [];
const plainServers: Server[] = [];

beforeEach(async () => {
  dir = await makeTempDir('ttrpc-us-');
});

afterEach(async () => {
  for (const l of listeners.splice(0)) await l.close().catch(() => undefined);
  for (const s of plainServers.splice(0)) {
    if (s.listening) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
  await removeDir(dir);
});

async function listen(path: string, server?: Server): Promise<UnixListener> {
  const l = await listenUnix(path, server);
  listeners.push(l);
  return l;
}

/** Connects, waits for the server side to see the connection, and reports which server took it. */
function connectsTo(path: string): Promise<'connected' | string> {
  return new Promise((resolve) => {
    const s = connect({ path });
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

function countConnections(server: Server): { count: number } {
  const c = { count: 0 };
  server.on('connection', (sock) => {
    c.count++;
    sock.destroy();
  });
  return c;
}

describe('listenUnix', () => {
  it('creates missing parent directories and listens', async () => {
    const path = join(dir, 'a', 'b', 'c', 'agent.sock');
    const l = await listen(path);
    expect(l.path).toBe(path);
    expect((await lstat(path)).isSocket()).toBe(true);
    expect(await connectsTo(path)).toBe('connected');
    // The temporary name used for the atomic swap is gone.
    expect(await readdir(join(dir, 'a', 'b', 'c'))).toEqual(['agent.sock']);
  });

  it('replaces a stale socket file nobody listens on', async () => {
    const path = join(dir, 'stale.sock');
    // Make a socket file with no listener: bind elsewhere, hard-link it to `path`, stop listening.
    const old = createServer();
    await new Promise<void>((resolve) => old.listen(join(dir, 'old.sock'), resolve));
    await link(join(dir, 'old.sock'), path);
    await new Promise<void>((resolve) => old.close(() => resolve()));
    const staleIno = (await lstat(path)).ino;
    expect((await lstat(path)).isSocket()).toBe(true);
    expect(await connectsTo(path)).toBe('ECONNREFUSED');

    const server = createServer();
    const seen = countConnections(server);
    await listen(path, server);
    expect((await lstat(path)).ino).not.toBe(staleIno);
    expect(await connectsTo(path)).toBe('connected');
    await sleep(20);
    expect(seen.count).toBe(1);
  });

  it('refuses to take a socket another process still serves on, which keeps serving', async () => {
    const path = join(dir, 'live.sock');
    const firstServer = createServer();
    const first = countConnections(firstServer);
    await listen(path, firstServer);
    const ino = (await lstat(path)).ino;

    const err = await rejectionOf(listenUnix(path, createServer()));
    expect(err).toBeInstanceOf(SocketInUseError);
    expect((err as SocketInUseError).code).toBe('SOCKET_IN_USE');
    expect((err as Error).message).toContain(`another process serves on ${path}`);
    expect((await lstat(path)).ino).toBe(ino);
    expect(await connectsTo(path)).toBe('connected');
    await sleep(20);
    expect(first.count).toBe(2); // the probe and ours: both reached the first server
    expect(await readdir(dir)).toEqual(['live.sock']);
  });

  it('refuses to replace a regular file', async () => {
    const path = join(dir, 'precious.txt');
    await writeFile(path, 'do not delete');
    const err = await rejectionOf(listenUnix(path));
    expect(err).toBeInstanceOf(SocketPathError);
    expect((err as Error).message).toBe(`${path} exists and is not a socket; refusing to replace it`);
    expect(await readFile(path, 'utf8')).toBe('do not delete');
    expect(await readdir(dir)).toEqual(['precious.txt']);
  });

  it('refuses to replace a directory', async () => {
    const path = join(dir, 'somedir');
    await mkdir(path);
    expect(await rejectionOf(listenUnix(path))).toBeInstanceOf(SocketPathError);
    expect((await lstat(path)).isDirectory()).toBe(true);
  });

  it('rejects a path over 107 bytes with a clear message, before touching the file system', async () => {
    const parent = join(dir, 'not-created');
    const path = join(parent, 'x'.repeat(108 - parent.length - 1));
    expect(Buffer.byteLength(path)).toBe(108);
    const err = await rejectionOf(listenUnix(path));
    expect(err).toBeInstanceOf(SocketPathError);
    expect((err as SocketPathError).code).toBe('INVALID_CONFIG');
    expect((err as Error).message).toBe(
      `unix socket path ${path} is 108 bytes; the limit is 107 (shorten the directory)`,
    );
    expect(existsSync(parent)).toBe(false);
  });

  it('counts bytes, not characters, against the limit', () => {
    expect(MAX_UNIX_PATH_BYTES).toBe(107);
    // '/' + 36 three-byte characters: 37 characters but 109 bytes.
    const path = '/' + '€'.repeat(36);
    expect(path.length).toBe(37);
    expect(() => checkUnixSocketPath(path)).toThrow(/is 109 bytes; the limit is 107/);
    expect(() => checkUnixSocketPath('/' + 'a'.repeat(106))).not.toThrow();
  });

  it('accepts a path of exactly 107 bytes', async () => {
    const path = join(dir, 'y'.repeat(107 - dir.length - 1));
    expect(Buffer.byteLength(path)).toBe(107);
    const l = await listen(path);
    expect(await connectsTo(l.path)).toBe('connected');
  });

  it('serves ttrpc on the socket it creates', async () => {
    const path = join(dir, 'srv', 'ttrpc.sock');
    const ttrpc = new TtrpcServer();
    ttrpc.register('t.S', { Echo: (p) => p });
    const l = await listen(path);
    ttrpc.serve(l.server);
    const client = await TtrpcClient.connectUnix(path);
    try {
      expect((await client.call('t.S', 'Echo', Buffer.from('via listenUnix'))).toString()).toBe('via listenUnix');
    } finally {
      client.close();
      await ttrpc.shutdown(0);
    }
  });
});

describe('UnixListener.close', () => {
  it('removes its own socket file', async () => {
    const path = join(dir, 'own.sock');
    const l = await listen(path);
    expect(existsSync(path)).toBe(true);
    await l.close();
    expect(existsSync(path)).toBe(false);
    expect(await readdir(dir)).toEqual([]);
  });

  it('leaves a successor\'s socket in place, and the successor keeps accepting connections', async () => {
    const path = join(dir, 'shared.sock');
    const firstServer = createServer();
    const first = countConnections(firstServer);
    const a = await listen(path, firstServer);
    expect(await connectsTo(path)).toBe('connected');

    // The first stops accepting (its socket file stays, stale); a successor takes over the same path.
    await new Promise<void>((resolve) => firstServer.close(() => resolve()));
    expect(existsSync(path)).toBe(true);
    const secondServer = createServer();
    const second = countConnections(secondServer);
    const b = await listen(path, secondServer);
    const successorIno = (await lstat(path)).ino;

    await a.close();
    expect(firstServer.listening).toBe(false);
    expect(existsSync(path)).toBe(true);
    expect((await lstat(path)).ino).toBe(successorIno);
    expect((await lstat(path)).isSocket()).toBe(true);
    expect(await connectsTo(path)).toBe('connected');
    await sleep(20);
    expect(first.count).toBe(1);
    expect(second.count).toBe(1);

    await b.close();
    expect(existsSync(path)).toBe(false);
  });

  it('does not fail when its socket file was already removed', async () => {
    const path = join(dir, 'gone.sock');
    const l = await listen(path);
    await (await import('node:fs/promises')).unlink(path);
    await expect(l.close()).resolves.toBeUndefined();
  });
});
