/** The NoCloud seed the libvirt provider attaches (cidata.ts), as cloud-init and the block-device tools read it. */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readIso } from '../../../../src/lib/iso9660.js';
import { buildCidataIso, cidataFiles } from '../../../../src/providers/libvirt/cidata.js';

const run = promisify(execFile);
const date = new Date(Date.UTC(2026, 0, 2, 3, 4, 5));

const findTool = (name: string): string | undefined => ['/usr/bin', '/usr/sbin', '/bin', '/sbin'].map((d) => join(d, name)).find((p) => existsSync(p));

describe('cidata seed', () => {
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
