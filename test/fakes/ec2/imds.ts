/**
 * A fake EC2 instance metadata service (IMDSv2): `PUT /latest/api/token` hands out session tokens,
 * metadata GETs must present one (unless `requireToken` is false, i.e. IMDSv1 is allowed).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeImdsOptions {
  region?: string;
  mac?: string;
  subnetId?: string;
  securityGroupIds?: string[];
  keyName?: string;
  /** Default true (IMDSv2 only). When false, GETs without a token are answered too. */
  requireToken?: boolean;
  /** Further `path → body` entries, e.g. `{ '/latest/meta-data/instance-id': 'i-…' }`. */
  extraPaths?: Record<string, string>;
}

const TOKEN_TTL_HEADER = 'x-aws-ec2-metadata-token-ttl-seconds';
const TOKEN_HEADER = 'x-aws-ec2-metadata-token';

export class FakeImds {
  readonly calls: { method: string; path: string }[] = [];
  private readonly tokens = new Map<string, number>();
  private readonly paths: Map<string, string>;
  private readonly requireToken: boolean;
  private server: Server | undefined;
  private url = '';

  private constructor(o: FakeImdsOptions) {
    const mac = o.mac ?? '02:00:00:00:00:01';
    const macBase = `/latest/meta-data/network/interfaces/macs/${mac}`;
    this.requireToken = o.requireToken ?? true;
    this.paths = new Map(
      Object.entries({
        '/latest/meta-data/placement/region': o.region ?? 'us-east-1',
        '/latest/meta-data/mac': mac,
        [`${macBase}/subnet-id`]: o.subnetId ?? 'subnet-0fake000000000001',
        [`${macBase}/security-group-ids`]: (o.securityGroupIds ?? ['sg-0fake000000000001']).join('\n'),
        '/latest/meta-data/public-keys/': o.keyName === undefined ? undefined : `0=${o.keyName}`,
        ...o.extraPaths,
      }).filter((e): e is [string, string] => e[1] !== undefined),
    );
  }

  static async start(options: FakeImdsOptions = {}): Promise<FakeImds> {
    const imds = new FakeImds(options);
    const server = createServer((req, res) => imds.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    imds.server = server;
    imds.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return imds;
  }

  get endpoint(): string {
    return this.url;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const done = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await done;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = new URL(req.url ?? '/', 'http://imds').pathname;
    this.calls.push({ method: req.method ?? '', path });
    req.resume();
    if (path === '/latest/api/token') {
      if (req.method !== 'PUT') return reply(res, 405, 'Method Not Allowed');
      const ttl = Number(header(req, TOKEN_TTL_HEADER));
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > 21600) return reply(res, 400, 'Bad Request');
      const token = randomBytes(32).toString('base64');
      this.tokens.set(token, Date.now() + ttl * 1000);
      return reply(res, 200, token, { [TOKEN_TTL_HEADER]: String(ttl) });
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, 'Method Not Allowed');
    const token = header(req, TOKEN_HEADER);
    // As in EC2, a token that is presented must be valid even where IMDSv1 is allowed.
    if (token !== undefined ? !this.validToken(token) : this.requireToken) return reply(res, 401, 'Unauthorized');
    const body = this.paths.get(path);
    if (body === undefined) return reply(res, 404, 'Not Found');
    reply(res, 200, body);
  }

  private validToken(token: string): boolean {
    const expiry = this.tokens.get(token);
    return expiry !== undefined && expiry > Date.now();
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function reply(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}
