import { createServer, type Server } from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { Code, TtrpcClient, TtrpcError, TtrpcServer } from '../../../src/ttrpc/index.js';
import { testPki } from '../../helpers/test-certs.js';

let tlsServer: Server | undefined;
const clients: TtrpcClient[] = [];
afterAll(async () => {
  for (const c of clients) c.close();
  await new Promise<void>((r) => (tlsServer ? tlsServer.close(() => r()) : r()));
});

describe('ttrpc over TLS/TCP (the agent proxy transport)', () => {
  it('a mutual-TLS round trip, calls multiplexed; a client without a certificate is refused', async () => {
    const pki = await testPki('podvm-test');
    const ttrpc = new TtrpcServer();
    ttrpc.register('grpc.Health', { Check: (p) => Buffer.concat([Buffer.from('ok:'), p]) });
    tlsServer = createServer({ cert: pki.server.cert, key: pki.server.key, ca: pki.ca, requestCert: true, rejectUnauthorized: true });
    ttrpc.serve(tlsServer, 'secureConnection');
    await new Promise<void>((r) => tlsServer!.listen(0, '127.0.0.1', r));
    const port = (tlsServer.address() as { port: number }).port;

    const client = await TtrpcClient.connectTls({ host: '127.0.0.1', port, servername: 'podvm-test', ca: pki.ca, cert: pki.client.cert, key: pki.client.key });
    clients.push(client);
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => client.call('grpc.Health', 'Check', Buffer.from(String(i)))));
    expect(replies.map((r) => r.toString())).toEqual(Array.from({ length: 20 }, (_, i) => `ok:${i}`));

    // No client certificate: the handshake or the first call fails; the server is not reached.
    const outcome = await TtrpcClient.connectTls({ host: '127.0.0.1', port, servername: 'podvm-test', ca: pki.ca }).then(
      async (c) => {
        clients.push(c);
        return c.call('grpc.Health', 'Check', Buffer.from('x')).then(() => 'answered', (e: unknown) => e);
      },
      (e: unknown) => e,
    );
    expect(outcome).toBeInstanceOf(TtrpcError);
    expect((outcome as TtrpcError).code).toBe(Code.UNAVAILABLE);

    // A server name the certificate does not carry is refused by the client.
    const wrongName = await TtrpcClient.connectTls({ host: '127.0.0.1', port, servername: 'podvm-other', ca: pki.ca, cert: pki.client.cert, key: pki.client.key }).catch((e: unknown) => e);
    expect(wrongName).toBeInstanceOf(TtrpcError);
    expect((wrongName as TtrpcError).message).toMatch(/podvm-other/);
  });
});
