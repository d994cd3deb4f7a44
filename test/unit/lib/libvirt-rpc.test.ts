/** The libvirt wire format on its own: XDR, UUID bytes and the URI → transport rules (no daemon, no provider). */
import { describe, expect, it } from 'vitest';
import { uuidFromBytes, uuidToBytes } from '../../../src/lib/libvirt-rpc/protocol.js';
import { parseLibvirtUri, remoteProxyScript, shellQuote } from '../../../src/lib/libvirt-rpc/uri.js';
import { XdrError, XdrReader, XdrWriter } from '../../../src/lib/libvirt-rpc/xdr.js';

describe('XDR', () => {
  it('encodes and decodes the types the protocol uses, padded to 4 bytes', () => {
    const b = new XdrWriter().int(-2).uint(0xffffffff).uhyper(2n ** 40n).string('abcde').optionalString(null).optionalString('x').opaque(Buffer.from([1, 2])).bytes();
    expect(b.length).toBe(4 + 4 + 8 + (4 + 8) + 4 + (4 + 4 + 4) + (4 + 4));
    const r = new XdrReader(b);
    expect([r.int(), r.uint(), r.uhyper(), r.string(), r.optionalString(), r.optionalString(), [...r.opaque()]]).toEqual([-2, 0xffffffff, 2n ** 40n, 'abcde', null, 'x', [1, 2]]);
    expect(r.remaining).toBe(0);
  });

  it('refuses truncated data, oversized arrays and bad booleans', () => {
    expect(() => new XdrReader(Buffer.from([0, 0, 0, 9, 1])).string()).toThrow(XdrError);
    expect(() => new XdrReader(new XdrWriter().uint(10).bytes()).array((r) => r.int(), 5)).toThrow(/exceeds 5/);
    expect(() => new XdrReader(new XdrWriter().uint(2).bytes()).bool()).toThrow(XdrError);
  });

  it('UUIDs as 16 bytes', () => {
    expect(uuidFromBytes(uuidToBytes('0badc0de-0000-4000-8000-000000000001'))).toBe('0badc0de-0000-4000-8000-000000000001');
    expect(() => uuidToBytes('nope')).toThrow();
  });
});

describe('libvirt URIs', () => {
  it('local, unix, ext and tcp transports', () => {
    expect(parseLibvirtUri('qemu:///system')).toEqual({ name: 'qemu:///system', driver: 'qemu', transport: { kind: 'unix', socketPath: undefined } });
    expect(parseLibvirtUri('qemu+unix:///system?socket=/tmp/s').transport).toEqual({ kind: 'unix', socketPath: '/tmp/s' });
    expect(parseLibvirtUri('test+unix:///default').name).toBe('test:///default');
    expect(parseLibvirtUri('qemu+ext:///system?command=/opt/proxy').transport).toEqual({ kind: 'command', argv: ['/opt/proxy'], description: '/opt/proxy' });
    expect(parseLibvirtUri('qemu+tcp://h:1234/system').transport).toEqual({ kind: 'tcp', host: 'h', port: 1234 });
  });

  it('qemu+ssh: the ssh command libvirt\'s remote driver would run, never prompting', () => {
    const { name, transport } = parseLibvirtUri('qemu+ssh://root@192.168.122.1:2222/system?no_verify=1&keyfile=/root/.ssh/id_rsa&known_hosts=/k');
    expect(name).toBe('qemu:///system');
    expect(transport.kind).toBe('command');
    const argv = (transport as { argv: string[] }).argv;
    expect(argv.slice(0, argv.indexOf('--'))).toEqual(['ssh', '-p', '2222', '-l', 'root', '-i', '/root/.ssh/id_rsa', '-o', 'UserKnownHostsFile=/k', '-T', '-o', 'BatchMode=yes', '-e', 'none', '-o', 'StrictHostKeyChecking=no']);
    expect(argv.slice(argv.indexOf('--') + 1, -1)).toEqual(['192.168.122.1', 'sh', '-c']);
    expect(argv.at(-1)).toBe(shellQuote(remoteProxyScript('qemu:///system', { proxy: 'auto', netcat: 'nc', socket: undefined, driver: 'qemu' })));
    expect(argv.at(-1)).toContain('virt-ssh-helper');
    expect(parseLibvirtUri('qemu+ssh://h/system').transport).toMatchObject({ description: 'ssh h' });
  });

  it('the remote proxy script quotes what it is given', () => {
    const s = remoteProxyScript("qemu:///system", { proxy: 'netcat', netcat: 'nc', socket: "/run/it's", driver: 'qemu' });
    expect(s).toBe(`exec 'nc' -U '/run/it'\\''s'`);
    expect(remoteProxyScript('qemu:///system', { proxy: 'native', netcat: 'nc', socket: undefined, driver: 'qemu' })).toBe("exec virt-ssh-helper 'qemu:///system'");
  });

  it('refuses what it cannot connect to, saying why', () => {
    expect(() => parseLibvirtUri('not a uri')).toThrow(/not a libvirt URI/);
    expect(() => parseLibvirtUri('qemu+tls://h/system')).toThrow(/TLS transport is not supported/);
    expect(() => parseLibvirtUri('qemu://h/system')).toThrow(/TLS/);
    expect(() => parseLibvirtUri('qemu+foo:///system')).toThrow(/unknown transport "foo"/);
    expect(() => parseLibvirtUri('qemu+ssh:///system')).toThrow(/needs a host/);
    expect(() => parseLibvirtUri('qemu+ext:///system')).toThrow(/needs \?command=/);
  });
});
