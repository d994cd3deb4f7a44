import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProviderError, isProviderError } from '../../../../src/providers/errors.js';
import { RpcLibvirtApi, domainUuid } from '../../../../src/providers/libvirt/client.js';
import { classifyLibvirtError } from '../../../../src/providers/libvirt/errors.js';
import { withRetries } from '../../../../src/providers/libvirt/retry.js';
import { LibvirtAbortError, LibvirtConnectionError, LibvirtRpcError, RpcConnection } from '../../../../src/lib/libvirt-rpc/connection.js';
import { Proc, VirErr, readVol, uuidToBytes, writeDomain } from '../../../../src/lib/libvirt-rpc/protocol.js';
import { parseLibvirtUri, shellQuote } from '../../../../src/lib/libvirt-rpc/uri.js';
import { XdrWriter } from '../../../../src/lib/libvirt-rpc/xdr.js';
import { FakeLibvirtd } from './fake-libvirtd.js';

const signal = (): AbortSignal => AbortSignal.timeout(5_000);
const dom = { name: 'podvm-a', uuid: uuidToBytes('11111111-2222-4333-8444-555555555555'), id: 3 };
const str = (s: string): Buffer => new XdrWriter().string(s).bytes();
describe('RPC connection (against a scripted daemon)', () => {
  let fake: FakeLibvirtd;
  beforeEach(async () => {
    fake = await FakeLibvirtd.start();
  });
  afterEach(async () => {
    await fake.close();
  });

  it('authenticates, opens the driver the URI names, and calls', async () => {
    fake.on(Proc.CONNECT_GET_CAPABILITIES, () => str('<capabilities/>'));
    const api = new RpcLibvirtApi(fake.uri);
    expect(await api.capabilities(signal())).toBe('<capabilities/>');
    expect(fake.calls[0]).toEqual({ procedure: Proc.CONNECT_OPEN, name: 'qemu:///system' });
    await api.close();
    expect(fake.calls.at(-1)?.procedure).toBe(Proc.CONNECT_CLOSE);
  });

  it('library version: procedure 157 with no arguments, an unsigned hyper back (major * 1e6 + minor * 1e3 + release)', async () => {
    let argBytes = -1;
    fake.on(Proc.CONNECT_GET_LIB_VERSION, (args) => {
      argBytes = args.remaining;
      return new XdrWriter().uhyper(10_005_000).bytes();
    });
    fake.on(Proc.CONNECT_GET_VERSION, () => new XdrWriter().uhyper(9_001_002).bytes());
    const api = new RpcLibvirtApi(fake.uri);
    expect(Proc.CONNECT_GET_LIB_VERSION).toBe(157);
    expect(await api.libVersion(signal())).toBe(10_005_000);
    expect(argBytes).toBe(0);
    expect(await api.hypervisorVersion(signal())).toBe('9.1.2');
    await api.close();
  });

  it('reassembles replies that arrive one byte at a time, and matches concurrent replies by serial', async () => {
    fake.trickle = true;
    let n = 0;
    fake.on(Proc.DOMAIN_LOOKUP_BY_NAME, async (args) => {
      const name = args.string();
      // The first call is answered last.
      await new Promise((r) => setTimeout(r, n++ === 0 ? 60 : 5));
      return writeDomain(new XdrWriter(), { ...dom, name }).bytes();
    });
    const api = new RpcLibvirtApi(fake.uri);
    const found = await Promise.all(['a', 'b', 'c'].map((name) => api.lookupDomainByName(name, signal())));
    expect(found.map((d) => d?.name)).toEqual(['a', 'b', 'c']);
    expect(domainUuid(found[0]!)).toBe('11111111-2222-4333-8444-555555555555');
    await api.close();
  });

  it('libvirt errors: a lookup of nothing is undefined; other errors keep libvirt\'s code and become the contract\'s kinds', async () => {
    fake.on(Proc.DOMAIN_LOOKUP_BY_NAME, () => ({ error: { code: VirErr.NO_DOMAIN, message: "Domain not found: no domain with matching name 'x'" } }));
    fake.on(Proc.DOMAIN_LOOKUP_BY_UUID, () => ({ error: { code: VirErr.AUTH_FAILED, message: 'authentication failed' } }));
    fake.on(Proc.DOMAIN_CREATE, () => ({ error: { code: VirErr.INTERNAL_ERROR, message: "cannot set up guest memory 'pc.ram': Cannot allocate memory" } }));
    const api = new RpcLibvirtApi(fake.uri);
    expect(await api.lookupDomainByName('x', signal())).toBeUndefined();
    const denied = await api.lookupDomainByUuid('11111111-2222-4333-8444-555555555555', signal()).catch((e: unknown) => e);
    expect(isProviderError(denied, 'UNAUTHORIZED')).toBe(true);
    expect((denied as ProviderError).cause).toBeInstanceOf(LibvirtRpcError);
    const oom = await api.startDomain(dom, signal()).catch((e: unknown) => e);
    expect(isProviderError(oom, 'CAPACITY'), String(oom)).toBe(true);
    expect((oom as Error).message).toMatch(/^libvirt start domain podvm-a: cannot set up guest memory/);
    await api.close();
  });

  it('an aborted call rejects at once; its late reply is dropped and the connection stays usable', async () => {
    let release!: () => void;
    fake.on(Proc.DOMAIN_GET_STATE, () => new Promise((r) => (release = () => r(new XdrWriter().int(1).int(1).bytes()))));
    fake.on(Proc.CONNECT_GET_CAPABILITIES, () => str('<c/>'));
    const api = new RpcLibvirtApi(fake.uri);
    await api.capabilities(signal());
    const ac = new AbortController();
    const pending = api.domainState(dom, ac.signal).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 20));
    ac.abort(new Error('caller gave up'));
    const err = await pending;
    expect(isProviderError(err, 'CANCELLED')).toBe(true);
    expect((err as ProviderError).cause).toBeInstanceOf(LibvirtAbortError);
    release();
    expect(await api.capabilities(signal())).toBe('<c/>');
    await api.close();
  });

  it('a connection that breaks fails the calls in flight as UNAVAILABLE, and the next call connects again', async () => {
    fake.on(Proc.CONNECT_GET_CAPABILITIES, () => 'close');
    const api = new RpcLibvirtApi(fake.uri);
    const err = await api.capabilities(signal()).catch((e: unknown) => e);
    expect(isProviderError(err, 'UNAVAILABLE'), String(err)).toBe(true);
    expect((err as ProviderError).cause).toBeInstanceOf(LibvirtConnectionError);
    fake.on(Proc.CONNECT_GET_CAPABILITIES, () => str('<again/>'));
    expect(await api.capabilities(signal())).toBe('<again/>');
    expect(fake.calls.filter((c) => c.procedure === Proc.CONNECT_OPEN)).toHaveLength(2);
    await api.close();
  });

  it('uploads a volume as a stream in chunks, and finishes with the daemon\'s acknowledgement', async () => {
    fake.on(Proc.STORAGE_VOL_UPLOAD, (args) => {
      readVol(args);
      expect([args.uhyper(), args.uhyper()]).toEqual([0n, 200_000n]);
      return Buffer.alloc(0);
    });
    const api = new RpcLibvirtApi(fake.uri);
    const data = Buffer.alloc(200_000);
    for (let i = 0; i < data.length; i++) data[i] = i % 251;
    await api.uploadVolume({ pool: 'p', name: 'v.iso', key: '/p/v.iso' }, data, signal());
    expect(fake.uploads).toHaveLength(1);
    expect(fake.uploads[0]!.equals(data)).toBe(true);
    await api.close();
  });

  it('a stream the daemon fails ends the upload with the daemon\'s error', async () => {
    fake.on(Proc.STORAGE_VOL_UPLOAD, () => Buffer.alloc(0));
    fake.failUploadAfter = 1;
    const api = new RpcLibvirtApi(fake.uri);
    const err = await api.uploadVolume({ pool: 'p', name: 'v.iso', key: 'k' }, Buffer.alloc(300_000, 1), signal()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as Error).message).toMatch(/No space left on device/);
    expect(fake.uploads).toHaveLength(0);
    await api.close();
  });

  it('answers the daemon\'s keepalive pings', async () => {
    fake.on(Proc.CONNECT_GET_CAPABILITIES, () => str('<c/>'));
    const api = new RpcLibvirtApi(fake.uri);
    await api.capabilities(signal());
    fake.ping();
    await new Promise((r) => setTimeout(r, 50));
    expect(fake.pongs).toBe(1);
    await api.close();
  });

  it('a daemon that wants SASL is refused with a message saying so; a broken frame closes the connection', async () => {
    fake.authTypes = [1];
    const sasl = await new RpcLibvirtApi(fake.uri).capabilities(signal()).catch((e: unknown) => e);
    expect((sasl as Error).message).toMatch(/requires SASL authentication/);
    fake.authTypes = [0];
    const conn = await RpcConnection.open(parseLibvirtUri(fake.uri), signal());
    fake.on(Proc.CONNECT_GET_CAPABILITIES, () => 'hang');
    const pending = conn.call(Proc.CONNECT_GET_CAPABILITIES, Buffer.alloc(0), signal()).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 20));
    fake.raw(Buffer.from([0, 0, 0, 8, 0, 0, 0, 0]));
    expect(String(await pending)).toMatch(/protocol error .* message length 8/);
    expect(conn.closed).toBe(true);
  });

  it('a socket nobody listens on is UNAVAILABLE, naming it', async () => {
    const err = await new RpcLibvirtApi(`qemu+unix:///system?socket=${join(fake.dir, 'nope')}`).capabilities(signal()).catch((e: unknown) => e);
    expect(isProviderError(err, 'UNAVAILABLE')).toBe(true);
    expect((err as Error).message).toContain(join(fake.dir, 'nope'));
  });

  it('the ext transport carries the protocol over a program\'s stdin/stdout (as ssh does)', async () => {
    fake.on(Proc.CONNECT_GET_CAPABILITIES, () => str('<through-a-pipe/>'));
    const proxy = join(fake.dir, 'proxy.sh');
    const relay = `const s=require('net').connect(${JSON.stringify(fake.socketPath)});process.stdin.pipe(s);s.pipe(process.stdout);s.on('close',()=>process.exit(0));`;
    await writeFile(proxy, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} -e ${shellQuote(relay)}\n`);
    await chmod(proxy, 0o755);
    const api = new RpcLibvirtApi(`qemu+ext:///system?command=${proxy}`);
    expect(await api.capabilities(signal())).toBe('<through-a-pipe/>');
    await api.close();
    const broken = await new RpcLibvirtApi(`qemu+ext:///system?command=${join(fake.dir, 'missing')}`).capabilities(signal()).catch((e: unknown) => e);
    expect(isProviderError(broken, 'UNAVAILABLE'), String(broken)).toBe(true);
  });
});

describe('retries of transient failures', () => {
  it('repeats UNAVAILABLE calls up to three times, nothing else; a repeated start that finds the domain running succeeded', async () => {
    let calls = 0;
    const flaky = {
      description: 'flaky',
      capabilities: async () => {
        calls++;
        if (calls < 3) throw new ProviderError('UNAVAILABLE', 'connection reset');
        return '<c/>';
      },
      hypervisorVersion: async () => {
        calls++;
        throw new ProviderError('INVALID_CONFIG', 'no');
      },
      startDomain: async () => {
        calls++;
        if (calls === 1) throw new ProviderError('UNAVAILABLE', 'reply lost');
        throw classifyLibvirtError(new LibvirtRpcError(Proc.DOMAIN_CREATE, { code: VirErr.OPERATION_INVALID, domain: 10, message: 'domain is already running', level: 2, str1: null }), 'start');
      },
      close: async () => undefined,
    } as unknown as import('../../../../src/providers/libvirt/client.js').LibvirtApi;
    const api = withRetries(flaky, { initialDelayMs: 1, maxDelayMs: 2 });
    expect(await api.capabilities(signal())).toBe('<c/>');
    expect(calls).toBe(3);
    calls = 0;
    await expect(api.hypervisorVersion(signal())).rejects.toThrow('no');
    expect(calls).toBe(1);
    calls = 0;
    await expect(api.startDomain(dom, signal())).resolves.toBeUndefined();
    expect(calls).toBe(2);
    expect(api.description).toBe('flaky');
  });
});
