/**
 * Real TLS handshakes on 127.0.0.1 for the TLS tests: a server that greets every authenticated client with
 * "ok", and a client that succeeds only once it has read that greeting (with TLS 1.3 a refused client
 * certificate shows only after the client's handshake completes). `closeAll` ends every socket and server.
 */
import { connect, createServer, type ConnectionOptions, type Server, type TLSSocket, type TlsOptions } from 'node:tls';

const servers = new Set<Server>();
const sockets = new Set<TLSSocket>();

export interface Listening {
  port: number;
  /** Errors the server saw on refused connections (tlsClientError). */
  clientErrors: Error[];
  /** Why the server did not authorize a client it let through (only with rejectUnauthorized: false). */
  unauthorized: string[];
}

export async function listen(opts: TlsOptions): Promise<Listening> {
  const clientErrors: Error[] = [];
  const unauthorized: string[] = [];
  const server = createServer(opts, (sock) => {
    if (!sock.authorized) unauthorized.push(String(sock.authorizationError));
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    sock.end('ok');
  });
  server.on('tlsClientError', (err, sock) => {
    clientErrors.push(err);
    sock.destroy();
  });
  servers.add(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, clientErrors, unauthorized };
}

export interface Handshake {
  protocol: string | null;
  cipher: string;
  peerSubject: string;
}

/** Connects and waits for the server's greeting; rejects with the TLS error (or 'closed without greeting'). */
export function handshake(port: number, opts: ConnectionOptions): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const sock = connect({ ...opts, host: '127.0.0.1', port });
    sockets.add(sock);
    let data = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      data += d;
      if (data === 'ok') {
        resolve({ protocol: sock.getProtocol(), cipher: sock.getCipher().name, peerSubject: JSON.stringify(sock.getPeerCertificate().subject ?? {}) });
        sock.destroy();
      }
    });
    sock.on('error', (err) => {
      reject(err);
      sock.destroy();
    });
    sock.on('close', () => {
      sockets.delete(sock);
      reject(new Error('closed without greeting'));
    });
  });
}

export async function closeAll(): Promise<void> {
  for (const s of sockets) s.destroy();
  sockets.clear();
  await Promise.all([...servers].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  servers.clear();
}
