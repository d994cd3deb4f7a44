/**
 * Live ttrpc endpoints for tests: a real `TtrpcServer` on a Unix socket in a temporary directory, and
 * a fake server built on `net` (frames parsed by the independent helper in `raw-ttrpc.ts`) that lets a
 * test decide when and how — or whether — each request is answered.
 */
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { TtrpcServer, type ServerOptions } from '../../src/ttrpc/server.js';
import { TtrpcClient } from '../../src/ttrpc/client.js';
import { makeTempDir, removeDir, waitFor, withTimeout } from './async.js';
import {
  RawFrameParser,
  TYPE_RESPONSE,
  decodeRequestData,
  rawFrame,
  rawHeader,
  responseBody,
  type RawFrame,
  type ResponseInit,
} from './raw-ttrpc.js';
import type { Request as PbRequest } from '../../src/proto/gen/ttrpc/request_pb.js';

/** Listens on `path`; rejects with the error (EADDRINUSE, …) if the server cannot. */
async function listen(server: Server, path: string): Promise<void> {
  server.listen(path);
  await once(server, 'listening'); // once() rejects if 'error' comes first
}

export interface LiveServer {
  readonly ttrpc: TtrpcServer;
  readonly listener: Server;
  readonly path: string;
  readonly dir: string;
  /** Clients opened through `connect()`; closed by `stop()`. */
  connect(): Promise<TtrpcClient>;
  /** Closes every client opened through `connect()` and waits until the server has no connection left. */
  closeClients(): Promise<void>;
  stop(): Promise<void>;
}

export async function startServer(
  setup: (server: TtrpcServer) => void,
  options: ServerOptions = {},
): Promise<LiveServer> {
  const dir = await makeTempDir('ttrpc-srv-');
  const path = join(dir, 'ttrpc.sock');
  const ttrpc = new TtrpcServer(options);
  setup(ttrpc);
  const listener = createServer();
  ttrpc.serve(listener);
  const listenerClosed = new Promise<void>((resolve) => listener.once('close', () => resolve()));
  try {
    await listen(listener, path);
  } catch (err) {
    await removeDir(dir);
    throw err;
  }
  const clients = new Set<TtrpcClient>();
  let stopped = false;
  const live: LiveServer = {
    ttrpc,
    listener,
    path,
    dir,
    async connect() {
      const c = await TtrpcClient.connectUnix(path);
      clients.add(c);
      return c;
    },
    async closeClients() {
      for (const c of clients) c.close();
      await Promise.all([...clients].map((c) => c.closed));
      clients.clear();
      await waitFor(() => ttrpc.connectionCount === 0, 'the server to drop every connection');
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const c of clients) c.close();
      clients.clear();
      try {
        await ttrpc.shutdown(0);
        await withTimeout(listenerClosed, 5_000, 'the listener to close');
      } finally {
        await removeDir(dir);
      }
    },
  };
  return live;
}

export interface FakeRequest {
  readonly streamId: number;
  readonly flags: number;
  readonly frame: RawFrame;
  /** Decoded with the generated RequestSchema. */
  readonly request: PbRequest;
  readonly socket: Socket;
  /** Answers this request with a Response frame. */
  reply(init: ResponseInit): void;
}

export interface FakeServer {
  readonly path: string;
  readonly requests: FakeRequest[];
  readonly sockets: Set<Socket>;
  /** Bytes received from all clients so far. */
  readonly bytesReceived: () => number;
  /** Called for each request as it arrives (default: nothing, the test answers later). */
  onRequest: (req: FakeRequest) => void;
  /** Resolves once `n` requests have arrived in total. */
  waitForRequests(n: number, timeoutMs?: number): Promise<FakeRequest[]>;
  connectClient(maxMessageLength?: number): Promise<TtrpcClient>;
  stop(): Promise<void>;
}

export async function startFakeServer(): Promise<FakeServer> {
  const dir = await makeTempDir('ttrpc-fake-');
  const path = join(dir, 'fake.sock');
  const requests: FakeRequest[] = [];
  const sockets = new Set<Socket>();
  const clients = new Set<TtrpcClient>();
  let received = 0;
  const listener = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => sockets.delete(socket));
    const parser = new RawFrameParser((frame) => {
      const req: FakeRequest = {
        streamId: frame.streamId,
        flags: frame.flags,
        frame,
        request: decodeRequestData(frame.data),
        socket,
        reply(init) {
          socket.write(rawFrame(frame.streamId, TYPE_RESPONSE, responseBody(init)));
        },
      };
      requests.push(req);
      fake.onRequest(req);
    });
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      parser.push(chunk);
    });
  });
  await listen(listener, path);
  const fake: FakeServer = {
    path,
    requests,
    sockets,
    bytesReceived: () => received,
    onRequest: () => {},
    async waitForRequests(n, timeoutMs = 2_000) {
      await waitFor(() => requests.length >= n, `${n} requests at the fake server`, timeoutMs);
      return requests.slice(0, n);
    },
    async connectClient(maxMessageLength) {
      const c = await TtrpcClient.connectUnix(path, maxMessageLength === undefined ? {} : { maxMessageLength });
      clients.add(c);
      return c;
    },
    async stop() {
      for (const c of clients) c.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => listener.close(() => resolve()));
      await removeDir(dir);
    },
  };
  return fake;
}

/** Writes a frame header announcing `length` bytes followed by that many filler bytes, in chunks. */
export async function writeBigFrame(socket: Socket, streamId: number, type: number, length: number): Promise<void> {
  socket.write(rawHeader(length, streamId, type));
  const chunk = Buffer.alloc(256 * 1024, 0x41);
  let left = length;
  while (left > 0) {
    const n = Math.min(left, chunk.length);
    left -= n;
    if (!socket.write(chunk.subarray(0, n))) {
      await new Promise<void>((resolve) => socket.once('drain', () => resolve()));
    }
  }
}
