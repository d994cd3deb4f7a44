/**
 * The webhook's HTTPS server end to end on 127.0.0.1 with throwaway certificates: reviews, health, errors,
 * limits, certificate reload (the way the kubelet swaps a mounted Secret) and graceful stop.
 */
import { mkdir, rename, symlink, writeFile } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/observability/logger.js';
import { WebhookServer, type WebhookServerOptions } from '../../../src/webhook/server.js';
import { makeTempDir, removeDir, sleep, waitFor } from '../../helpers/async.js';
import { testPki, type Pem } from '../../helpers/test-certs.js';
import { fixture } from './fixtures.js';
import { decodePatch } from './json-patch.js';

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** sha256 fingerprint of the certificate the server presented. */
  fingerprint: string;
}

interface RequestOptions {
  method?: string;
  path?: string;
  body?: string | Buffer;
  /** Send the body in pieces without a Content-Length (chunked). */
  chunked?: boolean;
  ca?: string;
  /** Default: the running server's. */
  port?: number;
}

let dir: string;
let pki: { ca: string; server: Pem };
let server: WebhookServer | undefined;
let logs: string[];
let generation = 0;

/** Writes the pair as the kubelet updates a mounted Secret: a new `..<n>` folder, then an atomic `..data` switch. */
async function publishCertificate(pem: Pem): Promise<void> {
  generation += 1;
  const folder = `..${generation}`;
  await mkdir(join(dir, folder));
  await writeFile(join(dir, folder, 'tls.crt'), pem.cert);
  await writeFile(join(dir, folder, 'tls.key'), pem.key);
  await symlink(folder, join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  if (generation === 1) {
    await symlink('..data/tls.crt', join(dir, 'tls.crt'));
    await symlink('..data/tls.key', join(dir, 'tls.key'));
  }
}

async function start(options: Partial<WebhookServerOptions> = {}): Promise<WebhookServer> {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(chunk.toString());
      done();
    },
  });
  server = await WebhookServer.start({
    certFile: join(dir, 'tls.crt'),
    keyFile: join(dir, 'tls.key'),
    host: '127.0.0.1',
    port: 0,
    mutate: { targetRuntimeClass: 'kata-remote', podVmExtendedResource: 'kata.peerpods.io/vm' },
    logger: createLogger('debug', sink),
    certCheckIntervalMs: 60_000,
    ...options,
  });
  return server;
}

function send(o: RequestOptions = {}): Promise<Reply> {
  const port = o.port ?? server!.address().port;
  return new Promise<Reply>((resolve, reject) => {
    let answered = false;
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        servername: 'localhost',
        ca: o.ca ?? pki.ca,
        agent: false,
        method: o.method ?? 'POST',
        path: o.path ?? '/mutate-v1-pod',
        headers: o.body === undefined ? {} : o.chunked ? { 'content-type': 'application/json' } : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(o.body)) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          answered = true;
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString(), fingerprint: (res.socket as import('node:tls').TLSSocket).getPeerCertificate().fingerprint256 });
        });
      },
    );
    // The server may answer (413) before the whole body is sent; a write error after that is expected.
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    if (o.body !== undefined && o.chunked) {
      const body = Buffer.from(o.body);
      const step = 64 * 1024;
      const pump = (offset: number): void => {
        if (offset >= body.length || req.destroyed) {
          req.end();
          return;
        }
        if (req.write(body.subarray(offset, offset + step))) setImmediate(() => pump(offset + step));
        else req.once('drain', () => pump(offset + step));
      };
      pump(0);
    } else {
      req.end(o.body);
    }
  });
}

beforeEach(async () => {
  dir = await makeTempDir('caa-webhook-');
  pki = await testPki('localhost');
  logs = [];
  generation = 0;
  await publishCertificate(pki.server);
});

afterEach(async () => {
  await server?.close();
  server = undefined;
  await removeDir(dir);
});

describe('webhook server', () => {
  it('answers /healthz and a review of a kata-remote pod over TLS', async () => {
    await start();
    const health = await send({ method: 'GET', path: '/healthz' });
    expect([health.status, health.body]).toEqual([200, 'ok\n']);
    const reply = await send({ body: await fixture('review-kata-pod.json') });
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('application/json');
    const review = JSON.parse(reply.body) as { response: { uid: string; allowed: boolean; patchType: string; patch: string } };
    expect(review.response).toMatchObject({ uid: '0a5c8f2e-1b3d-4e6f-8a9b-0c1d2e3f4a5b', allowed: true, patchType: 'JSONPatch' });
    expect(decodePatch(review.response.patch)).toContainEqual({ op: 'add', path: '/spec/containers/0/resources', value: { requests: { 'kata.peerpods.io/vm': '1' }, limits: { 'kata.peerpods.io/vm': '1' } } });
    expect(logs.join('')).toMatch(/"outcome":"mutated".*"pod mutated for a peer pod VM"/);
  });

  it('denies a pod with a bad quantity in a 200 answer, and allows other runtime classes untouched', async () => {
    await start();
    const denied = JSON.parse((await send({ body: await fixture('review-bad-quantity.json') })).body) as { response: { allowed: boolean; status: { message: string } } };
    expect(denied.response.allowed).toBe(false);
    expect(denied.response.status.message).toMatch(/container "app": resources\.limits\.cpu = "2x"/);
    const other = JSON.parse((await send({ body: await fixture('review-other-runtimeclass.json') })).body) as { response: object };
    expect(other.response).toEqual({ uid: 'c4d3e2f1-0a9b-4c8d-9e7f-6a5b4c3d2e1f', allowed: true });
  });

  it('answers a malformed review 400 with the reason, an unknown path 404, a wrong method 405', async () => {
    await start();
    const bad = await send({ body: '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"object":{}}}' });
    expect([bad.status, bad.body]).toEqual([400, 'malformed AdmissionReview: request.uid is missing (it must be echoed in the response)\n']);
    expect((await send({ body: 'not json' })).body).toMatch(/^malformed AdmissionReview: the body is not JSON/);
    expect((await send({ path: '/mutate', body: '{}' })).status).toBe(404);
    const get = await send({ method: 'GET' });
    expect([get.status, get.headers.allow]).toEqual([405, 'POST']);
  });

  it('refuses a body over 3 MiB with 413, declared or streamed, and keeps serving', async () => {
    await start();
    const big = Buffer.alloc(3 * 1024 * 1024 + 1, 0x20);
    const declared = await send({ body: big });
    expect([declared.status, declared.body]).toEqual([413, 'request body larger than 3145728 bytes\n']);
    const streamed = await send({ body: big, chunked: true });
    expect(streamed.status).toBe(413);
    // Exactly at the limit is fine (and then malformed, since it is spaces).
    expect((await send({ body: Buffer.alloc(3 * 1024 * 1024, 0x20) })).status).toBe(400);
    expect((await send({ method: 'GET', path: '/healthz' })).status).toBe(200);
  });

  it('answers 408 to a request that does not arrive in time', async () => {
    await start({ requestTimeoutMs: 300 });
    const { port } = server!.address();
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: pki.ca }, () => {
        socket.write('POST /mutate-v1-pod HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n{');
      });
      let data = '';
      socket.on('data', (d: Buffer) => (data += d.toString()));
      socket.on('close', () => resolve(data));
      socket.on('error', reject);
      setTimeout(() => socket.destroy(new Error(`no answer in 5 s: ${data}`)), 5000).unref();
    });
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('reloads the certificate when the mounted files are swapped (polling)', async () => {
    await start({ certCheckIntervalMs: 50 });
    const before = await send({ method: 'GET', path: '/healthz' });
    const renewed = await testPki('localhost');
    await publishCertificate(renewed.server);
    await waitFor(() => logs.join('').includes('serving certificate reloaded'), 'the reload log line', 5000);
    const after = await send({ method: 'GET', path: '/healthz', ca: renewed.ca });
    expect(after.status).toBe(200);
    expect(after.fingerprint).not.toBe(before.fingerprint);
    // The old CA no longer verifies the server.
    await expect(send({ method: 'GET', path: '/healthz', ca: pki.ca })).rejects.toThrow(/certificate/i);
  });

  it('keeps the previous certificate when the new files do not belong together, and says so once', async () => {
    await start();
    const other = await testPki('localhost');
    await publishCertificate({ cert: other.server.cert, key: pki.server.key });
    expect(await server!.checkCertificates()).toBe(false);
    expect(await server!.checkCertificates()).toBe(false);
    const warnings = logs.filter((l) => l.includes('serving certificate not reloaded'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/CERTIFICATE_UNUSABLE.*is not the key of/);
    expect((await send({ method: 'GET', path: '/healthz' })).status).toBe(200); // still the old pair
    await publishCertificate(other.server);
    expect(await server!.checkCertificates()).toBe(true);
    expect((await send({ method: 'GET', path: '/healthz', ca: other.ca })).status).toBe(200);
  });

  it('close() lets a request in flight finish, then refuses connections', async () => {
    await start({ shutdownGraceMs: 5000 });
    const { port } = server!.address();
    const body = await fixture('review-kata-pod.json');
    const half = Math.floor(body.length / 2);
    let closed = false;
    const reply = new Promise<number>((resolve, reject) => {
      const req = httpsRequest(
        { host: '127.0.0.1', port, servername: 'localhost', ca: pki.ca, agent: false, method: 'POST', path: '/mutate-v1-pod', headers: { 'content-length': String(body.length) } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        },
      );
      req.on('error', reject);
      req.write(body.slice(0, half));
      setTimeout(() => {
        const closing = server!.close().then(() => (closed = true));
        void closing;
        setTimeout(() => {
          expect(closed).toBe(false); // waiting for the request in flight
          req.end(body.slice(half));
        }, 100);
      }, 100);
    });
    expect(await reply).toBe(200);
    const started = Date.now();
    await waitFor(() => closed, 'close() to resolve', 3000);
    expect(Date.now() - started).toBeLessThan(2000);
    await expect(send({ method: 'GET', path: '/healthz', port })).rejects.toThrow(/ECONNREFUSED/);
    server = undefined;
  });

  it('close() cuts a connection that does not finish within the grace period', async () => {
    await start({ shutdownGraceMs: 200, requestTimeoutMs: 60_000 });
    const { port } = server!.address();
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: pki.ca });
    await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));
    socket.write('POST /mutate-v1-pod HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n{');
    socket.on('error', () => undefined);
    await sleep(50);
    const started = Date.now();
    await server!.close();
    expect(Date.now() - started).toBeLessThan(2000);
    server = undefined;
    socket.destroy();
  });

  it('refuses to start without a usable certificate, naming the file', async () => {
    await expect(start({ certFile: join(dir, 'missing.crt') })).rejects.toThrow(
      expect.objectContaining({ code: 'CERTIFICATE_UNUSABLE', message: expect.stringContaining(`cannot read the certificate ${join(dir, 'missing.crt')}`) }),
    );
    await writeFile(join(dir, 'garbage.crt'), 'not a certificate');
    await expect(start({ certFile: join(dir, 'garbage.crt') })).rejects.toThrow(/garbage\.crt is not a PEM certificate/);
    server = undefined;
  });
});
