/**
 * Part 1 of the tunnel benchmark: `grpc.AgentService/BenchEcho` round trips from one TtrpcClient (the
 * shim) over three paths to the same fake agent (its own process):
 *
 *   direct  client → agent socket
 *   ours    client → agent.ttrpc (AgentProxy, own process) → mTLS/TCP → Forwarder (own process) → agent
 *   socat   client → socat UNIX-LISTEN→OPENSSL → mTLS/TCP → socat OPENSSL-LISTEN→UNIX-CONNECT → agent
 *
 * Both tunnels use the same certificates (from TlsMaterial) and both servers require and verify the
 * client certificate. Paths alternate in short rounds within each case, as in the ttrpc benchmark.
 * The Node children run as plain node on transpiled JavaScript, as production does (build.ts).
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { join, relative } from 'node:path';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { Code, TtrpcClient, TtrpcError } from '../../src/ttrpc/index.js';
import { apfTlsFields, clientOptions, forwarderServerOptions, type TlsMaterial, type TlsProfile } from '../../src/tunnel/tls/index.js';
import { repoRoot, transpileClosure } from '../../test/helpers/transpile.js';
import { spawnChild, type Child } from './children.js';
import { groupCpuMs } from '../process-cpu.js';
import { alternatingRounds, closedLoop, fmt, passFail } from '../stats.js';

const SERVICE = 'grpc.AgentService';
const METHOD = 'BenchEcho';
const INSTANCE_NAME = 'podvm-bench-0a1b2c3d';

const WARMUP_MS = 300;
/** Each case alternates the paths in short rounds (forward, then reverse order), so background load hits all alike. */
const ROUNDS = 4;
const ROUND_MS = 500;
const CALLERS = [1, 64] as const;
/** Per tunnel, 1 caller × 64 B for this long, twice (ABBA), to read what its two relays spend per call. */
const CPU_ROUND_MS = 1_000;
const SIZES = [
  ['64 B', 64],
  ['1 MiB', 1 << 20],
] as const;

/** Targets (reported, never asserted). */
const MAX_ADDED_P50_US = 150;
const MIN_THROUGHPUT_VS_SOCAT = 0.7;

export type PathName = 'direct' | 'ours' | 'socat';

interface Path {
  name: PathName;
  client: TtrpcClient;
}

export interface RoundTripResult {
  path: PathName;
  callers: number;
  size: string;
  callsPerSec: number;
  p50Us: number;
  p99Us: number;
}

async function runCase(paths: readonly Path[], callers: number, size: string, bytes: number): Promise<RoundTripResult[]> {
  const results = await alternatingRounds(paths, { service: SERVICE, method: METHOD }, callers, randomBytes(bytes), {
    warmupMs: WARMUP_MS,
    rounds: ROUNDS,
    roundMs: ROUND_MS,
  });
  return results.map((r) => ({ path: r.name, callers, size, callsPerSec: r.callsPerSec, p50Us: r.p50Us, p99Us: r.p99Us }));
}

/** A port that was free a moment ago (for socat, which cannot report the one it bound). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(0, '127.0.0.1', resolve);
  });
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/**
 * Connects with the server's CA but WITHOUT a client certificate and tries one call: the server must
 * refuse (TLS 1.3 reports the refusal after the handshake, so the call is what fails).
 */
async function refusesWithoutClientCert(port: number, servername: string, ca: string | undefined): Promise<boolean> {
  let client: TtrpcClient;
  try {
    client = await TtrpcClient.connectTls({ host: '127.0.0.1', port, servername, ca, signal: AbortSignal.timeout(3_000) });
  } catch {
    return true;
  }
  try {
    await client.call(SERVICE, METHOD, Buffer.from('no client certificate'), { timeoutMs: 3_000 });
    return false;
  } catch (err) {
    if (err instanceof TtrpcError && err.code === Code.DEADLINE_EXCEEDED) throw new Error(`port ${port}: no answer without a client certificate (neither refused nor served)`, { cause: err });
    return true;
  } finally {
    client.close();
  }
}

/** Protocol and cipher a connection with `opts` negotiates with the server at `port`. */
function negotiated(port: number, opts: ConnectionOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ ...opts, host: '127.0.0.1', port });
    s.once('secureConnect', () => {
      const text = `${s.getProtocol() ?? '?'} ${s.getCipher().standardName}`;
      s.destroy();
      resolve(text);
    });
    s.once('error', reject);
  });
}

/**
 * CPU µs per call that the relay processes of `ours` and `socat` spend (the client and the agent are
 * the same for both and left out), in ABBA order over 1 caller × 64 B.
 */
async function relayCpuPerCall(paths: readonly Path[], groups: Record<'ours' | 'socat', number[]>): Promise<Record<'ours' | 'socat', number>> {
  const spent = { ours: { ms: 0, calls: 0 }, socat: { ms: 0, calls: 0 } };
  const payload = randomBytes(64);
  for (const name of ['ours', 'socat', 'socat', 'ours'] as const) {
    const path = paths.find((p) => p.name === name)!;
    const before = groupCpuMs(groups[name]);
    const lat: number[] = [];
    await closedLoop(path.client, { service: SERVICE, method: METHOD }, payload, 1, CPU_ROUND_MS, lat);
    spent[name].ms += groupCpuMs(groups[name]) - before;
    spent[name].calls += lat.length;
  }
  return { ours: (spent.ours.ms * 1000) / spent.ours.calls, socat: (spent.socat.ms * 1000) / spent.socat.calls };
}

export interface RoundTripReport {
  results: RoundTripResult[];
  /** Markdown lines (also printed). */
  lines: string[];
}

export async function roundTrips(dir: string, material: TlsMaterial, profile: TlsProfile): Promise<RoundTripReport> {
  const children: Child[] = [];
  const clients: TtrpcClient[] = [];
  const out: string[] = [];
  const say = (line = ''): void => {
    console.log(line);
    out.push(line);
  };
  try {
    // The children run as production runs: plain node on JavaScript (see build.ts), or under tsx on request.
    const here = fileURLToPath(new URL('.', import.meta.url));
    const mains = ['agent-main', 'proxy-main', 'forwarder-main'];
    let runtime: string;
    let node: (name: string, main: string, args: string[], ready: RegExp) => ReturnType<typeof spawnChild>;
    if (process.env.TUNNEL_BENCH_TSX === '1') {
      const tsx = import.meta.resolve('tsx');
      runtime = 'under tsx (TUNNEL_BENCH_TSX=1)';
      node = (name, main, args, ready) => spawnChild(name, process.execPath, ['--import', tsx, join(here, `${main}.ts`), ...args], ready);
    } else {
      const jsDir = join(dir, 'js');
      const files = await transpileClosure(mains.map((m) => join(here, `${m}.ts`)), jsDir);
      const at = join(jsDir, relative(repoRoot, here));
      runtime = `as plain node on JavaScript transpiled at start (${files} files)`;
      node = (name, main, args, ready) => spawnChild(name, process.execPath, [join(at, `${main}.js`), ...args], ready);
    }

    // The same certificates for both tunnels, produced by the code the daemon and the forwarder use.
    const fields = await apfTlsFields(material, profile, INSTANCE_NAME);
    const serverTls = forwarderServerOptions(fields);
    const clientTls = clientOptions(material, profile, { instanceName: INSTANCE_NAME });
    const pem = {
      serverCert: join(dir, 'server.crt'),
      serverKey: join(dir, 'server.key'),
      clientCa: join(dir, 'client-ca.crt'),
      clientCert: join(dir, 'client.crt'),
      clientKey: join(dir, 'client.key'),
      ca: join(dir, 'ca.crt'),
    };
    await Promise.all([
      writeFile(pem.serverCert, fields['tls-server-cert']!, { mode: 0o600 }),
      writeFile(pem.serverKey, fields['tls-server-key']!, { mode: 0o600 }),
      writeFile(pem.clientCa, fields['tls-client-ca']!, { mode: 0o600 }),
      writeFile(pem.clientCert, material.clientCert, { mode: 0o600 }),
      writeFile(pem.clientKey, material.clientKey, { mode: 0o600 }),
      writeFile(pem.ca, material.caCert!, { mode: 0o600 }),
    ]);

    const agentSock = join(dir, 'agent.sock');
    children.push((await node('fake agent', 'agent-main', ['--socket', agentSock], /^READY$/)).child);

    // The VM side of both tunnels.
    const fwdConfig = join(dir, 'forwarder.json');
    await writeFile(fwdConfig, JSON.stringify({ agentSocket: agentSock, tls: serverTls }), { mode: 0o600 });
    const socatPort = await freePort();
    const socatServerArgs = [
      '-d',
      '-d',
      `OPENSSL-LISTEN:${socatPort},bind=127.0.0.1,fork,reuseaddr,nodelay,cert=${pem.serverCert},key=${pem.serverKey},cafile=${pem.clientCa},verify=1`,
      `UNIX-CONNECT:${agentSock}`,
    ];
    const [fwd, socatServer] = await Promise.all([
      node('forwarder', 'forwarder-main', ['--config', fwdConfig], /^READY (\d+)$/),
      spawnChild('socat server', 'socat', socatServerArgs, /listening on/),
    ]);
    children.push(fwd.child, socatServer.child);
    const fwdPort = Number(fwd.match[1]);

    // The worker side of both tunnels.
    const oursSock = join(dir, 'agent.ttrpc');
    const proxyConfig = join(dir, 'proxy.json');
    await writeFile(proxyConfig, JSON.stringify({ socketPath: oursSock, host: '127.0.0.1', port: fwdPort, tls: clientTls }), { mode: 0o600 });
    const socatSock = join(dir, 'socat.sock');
    const socatClientArgs = [
      '-d',
      '-d',
      `UNIX-LISTEN:${socatSock},fork`,
      `OPENSSL:127.0.0.1:${socatPort},nodelay,cert=${pem.clientCert},key=${pem.clientKey},cafile=${pem.ca},verify=1,commonname=${INSTANCE_NAME}`,
    ];
    const [proxy, socatClient] = await Promise.all([
      node('agent proxy', 'proxy-main', ['--config', proxyConfig], /^READY$/),
      spawnChild('socat client', 'socat', socatClientArgs, /listening on/),
    ]);
    children.push(proxy.child, socatClient.child);

    // Both VM-side servers must refuse a client without a certificate, or the comparison is unfair.
    const [fwdRefuses, socatRefuses] = await Promise.all([
      refusesWithoutClientCert(fwdPort, INSTANCE_NAME, material.caCert),
      refusesWithoutClientCert(socatPort, INSTANCE_NAME, material.caCert),
    ]);
    if (!fwdRefuses || !socatRefuses) throw new Error(`a server accepted a client without a certificate (forwarder: ${!fwdRefuses}, socat: ${!socatRefuses})`);

    const paths: Path[] = [];
    for (const [name, sock] of [
      ['direct', agentSock],
      ['ours', oursSock],
      ['socat', socatSock],
    ] as const) {
      const client = await TtrpcClient.connectUnix(sock);
      clients.push(client);
      paths.push({ name, client });
    }
    // One call through socat so its client-side child has made the TLS connection and logged it.
    await paths[2]!.client.call(SERVICE, METHOD, Buffer.alloc(1));
    const oursTls = await negotiated(fwdPort, clientTls);
    const socatTls = /SSL proto version used: (\S+)[\s\S]*?SSL connection using (\S+)/.exec(socatClient.child.output());

    const results: RoundTripResult[] = [];
    for (const callers of CALLERS) {
      for (const [size, bytes] of SIZES) results.push(...(await runCase(paths, callers, size, bytes)));
    }

    const relayCpu = await relayCpuPerCall(paths, {
      ours: [proxy.child.pid, fwd.child.pid],
      socat: [socatClient.child.pid, socatServer.child.pid],
    });

    const find = (path: PathName, callers: number, size: string): RoundTripResult | undefined =>
      results.find((r) => r.path === path && r.callers === callers && r.size === size);

    say(
      `Unary ${SERVICE}/${METHOD} (echo) from one TtrpcClient over one Unix connection per path; per case ` +
        `${WARMUP_MS} ms warm-up per path, then ${ROUNDS} × ${ROUND_MS} ms per path, alternating. ` +
        `The fake agent, the proxy and the forwarder ran ${runtime}. ` +
        `Both servers refused a client without a certificate. TLS negotiated: ours ${oursTls}, ` +
        `socat ${socatTls ? `${socatTls[1]} ${socatTls[2]}` : '(not logged)'}.`,
    );
    say();
    say('| path | callers | payload | calls/s | p50 µs | p99 µs | calls/s vs direct | ours/socat calls/s |');
    say('|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of results) {
      const direct = find('direct', r.callers, r.size);
      const socat = find('socat', r.callers, r.size);
      const vsDirect = r.path !== 'direct' && direct ? `${fmt(r.callsPerSec / direct.callsPerSec, 2)}×` : '';
      const vsSocat = r.path === 'ours' && socat ? `${fmt(r.callsPerSec / socat.callsPerSec, 2)}×` : '';
      say(`| ${r.path} | ${r.callers} | ${r.size} | ${fmt(r.callsPerSec)} | ${fmt(r.p50Us)} | ${fmt(r.p99Us)} | ${vsDirect} | ${vsSocat} |`);
    }

    const d1 = find('direct', 1, '64 B');
    const o1 = find('ours', 1, '64 B');
    const s1 = find('socat', 1, '64 B');
    say();
    if (d1 && o1 && s1) {
      const addedOurs = o1.p50Us - d1.p50Us;
      const addedSocat = s1.p50Us - d1.p50Us;
      say(
        `Added p50 over direct at 1 caller × 64 B: ours **${fmt(addedOurs)} µs**, socat **${fmt(addedSocat)} µs** ` +
          `(ours/socat ${fmt(addedOurs / addedSocat, 2)}×).`,
      );
      say();
      say(
        `CPU (user + system) of both relays of a tunnel per call, 1 caller × 64 B, ${2 * CPU_ROUND_MS} ms each: ` +
          `ours (proxy + forwarder) **${fmt(relayCpu.ours, 1)} µs**, socat (both sides, forks included) **${fmt(relayCpu.socat, 1)} µs** ` +
          `(ours/socat ${fmt(relayCpu.ours / relayCpu.socat, 2)}×).`,
      );
      say();
      say('Targets:');
      say(`- added p50 of ours ≤ ${MAX_ADDED_P50_US} µs at 1 caller × 64 B: ${fmt(addedOurs)} µs → ${passFail(addedOurs <= MAX_ADDED_P50_US)}`);
    } else {
      say('Targets:');
    }
    for (const callers of CALLERS) {
      const o = find('ours', callers, '1 MiB');
      const s = find('socat', callers, '1 MiB');
      if (!o || !s) continue;
      const ratio = o.callsPerSec / s.callsPerSec;
      say(`- ours ≥ ${MIN_THROUGHPUT_VS_SOCAT}× socat calls/s at ${callers} caller${callers > 1 ? 's' : ''} × 1 MiB: ${fmt(ratio, 2)}× → ${passFail(ratio >= MIN_THROUGHPUT_VS_SOCAT)}`);
    }
    return { results, lines: out };
  } finally {
    for (const c of clients) c.close();
    await Promise.all(children.map((c) => c.stop()));
  }
}
