import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCidataIso, cidataFiles } from '../../../../src/providers/libvirt/cidata.js';
import { IsoError, SECTOR, buildIso, primaryName, readIso } from '../../../../src/providers/libvirt/iso9660.js';

const run = promisify(execFile);
const date = new Date(Date.UTC(2026, 0, 2, 3, 4, 5));
const files = [
  { name: 'user-data', data: Buffer.from('#cloud-config\nwrite_files: []\n# üñí©ødé\n') },
  { name: 'meta-data', data: Buffer.from('instance-id: x\n') },
  { name: 'vendor-data', data: Buffer.alloc(0) },
  { name: 'network-config', data: Buffer.alloc(5000, 0x61) },
];

const findTool = (name: string): string | undefined => ['/usr/bin', '/usr/sbin', '/bin', '/sbin'].map((d) => join(d, name)).find((p) => existsSync(p));

describe('ISO 9660 writer', () => {
  it('writes sector-aligned images whose Joliet tree gives the long names back exactly', () => {
    const img = buildIso(files, { volumeId: 'cidata', date });
    expect(img.length % SECTOR).toBe(0);
    expect(img.subarray(16 * SECTOR + 1, 16 * SECTOR + 6).toString('ascii')).toBe('CD001');
    const iso = readIso(img);
    expect(iso.joliet).toBe(true);
    expect(iso.volumeId).toBe('cidata');
    expect([...iso.files.keys()].sort()).toEqual(['meta-data', 'network-config', 'user-data', 'vendor-data']);
    for (const f of files) expect(iso.files.get(f.name)?.equals(f.data), f.name).toBe(true);
  });

  it('the primary tree carries the same files under upper-case level-2 names that Linux maps back to the same names', () => {
    expect(primaryName('user-data')).toBe('USER-DATA.;1');
    expect(primaryName('a.txt')).toBe('A.TXT;1');
    const iso = readIso(buildIso(files, { volumeId: 'cidata', date }), { joliet: false });
    expect(iso.joliet).toBe(false);
    expect([...iso.files.keys()].sort()).toEqual(['meta-data', 'network-config', 'user-data', 'vendor-data']);
    expect(iso.files.get('network-config')?.length).toBe(5000);
  });

  it('is reproducible for the same input and date', () => {
    expect(buildIso(files, { volumeId: 'cidata', date }).equals(buildIso(files, { volumeId: 'cidata', date }))).toBe(true);
  });

  it('refuses names and volume ids it cannot write, and a second file of the same name', () => {
    expect(() => buildIso([{ name: 'a/b', data: Buffer.alloc(1) }], { volumeId: 'cidata' })).toThrow(IsoError);
    expect(() => buildIso([{ name: 'x'.repeat(31), data: Buffer.alloc(1) }], { volumeId: 'cidata' })).toThrow(IsoError);
    expect(() => buildIso([{ name: 'a', data: Buffer.alloc(1) }, { name: 'A', data: Buffer.alloc(1) }], { volumeId: 'cidata' })).toThrow(/twice/);
    expect(() => buildIso([], { volumeId: 'a'.repeat(17) })).toThrow(IsoError);
    expect(() => readIso(Buffer.alloc(SECTOR * 20))).toThrow(/CD001/);
  });

  describe('as the tools that read block devices see it', () => {
    let dir = '';
    let path = '';
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'caa-iso-'));
      path = join(dir, 'seed.iso');
      await writeFile(path, buildCidataIso({ instanceId: 'i-1', hostname: 'podvm-a', userData: '#cloud-config\n', date }));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('blkid (util-linux, what udev uses for /dev/disk/by-label) finds an iso9660 filesystem labelled cidata', async () => {
      const blkid = findTool('blkid');
      if (!blkid) return expect.soft(blkid, 'blkid is not installed').toBeUndefined();
      const { stdout } = await run(blkid, ['-p', '-o', 'export', path]);
      expect(stdout).toMatch(/^TYPE=iso9660$/m);
      expect(stdout).toMatch(/^LABEL=cidata$/m);
      expect(stdout).toMatch(/^VERSION=Joliet/m);
    });

    it('file(1) and isoinfo, where installed, agree', async () => {
      const file = findTool('file');
      const isoinfo = findTool('isoinfo');
      if (file) expect((await run(file, ['-b', path])).stdout).toMatch(/ISO 9660 CD-ROM filesystem data 'cidata'/);
      if (isoinfo) {
        const { stdout } = await run(isoinfo, ['-J', '-f', '-i', path]);
        expect(stdout.split('\n').filter(Boolean).sort()).toEqual(['/meta-data', '/user-data', '/vendor-data']);
      }
      expect(file ?? isoinfo ?? 'neither installed').toBeDefined();
    });
  });
});

describe('NoCloud seed', () => {
  it('holds the user-data unchanged, the identity, an empty vendor-data, and no network-config without a static address', () => {
    const names = cidataFiles({ instanceId: 'uuid-1', hostname: 'podvm-x', userData: 'u' }).map((f) => f.name);
    expect(names).toEqual(['user-data', 'meta-data', 'vendor-data']);
    const iso = readIso(buildCidataIso({ instanceId: 'uuid-1', hostname: 'podvm-x', userData: '#cloud-config\na: 1\n' }));
    expect(iso.files.get('user-data')!.toString()).toBe('#cloud-config\na: 1\n');
    expect(parseYaml(iso.files.get('meta-data')!.toString())).toEqual({ 'instance-id': 'uuid-1', 'local-hostname': 'podvm-x' });
  });

  it('with a static address, a version-2 network-config matched by MAC with the default route', () => {
    const files = cidataFiles({ instanceId: 'u', hostname: 'h', userData: '', network: { mac: '52:54:00:aa:bb:cc', ip: '10.252.0.5', prefix: 24, gateway: '10.252.0.1' } });
    const nc = parseYaml(files.find((f) => f.name === 'network-config')!.data.toString());
    expect(nc).toEqual({
      version: 2,
      ethernets: { eth0: { match: { macaddress: '52:54:00:aa:bb:cc' }, 'set-name': 'eth0', addresses: ['10.252.0.5/24'], routes: [{ to: 'default', via: '10.252.0.1' }] } },
    });
    const noGw = parseYaml(cidataFiles({ instanceId: 'u', hostname: 'h', userData: '', network: { mac: 'm', ip: '10.0.0.2', prefix: 8 } })[3]!.data.toString()) as { ethernets: { eth0: object } };
    expect(noGw.ethernets.eth0).not.toHaveProperty('routes');
  });
});
