import { describe, expect, it } from 'vitest';
import { IsoError, SECTOR, buildIso, primaryName, readIso } from '../../../src/lib/iso9660.js';

const date = new Date(Date.UTC(2026, 0, 2, 3, 4, 5));
const files = [
  { name: 'user-data', data: Buffer.from('#cloud-config\nwrite_files: []\n# üñí©ødé\n') },
  { name: 'meta-data', data: Buffer.from('instance-id: x\n') },
  { name: 'vendor-data', data: Buffer.alloc(0) },
  { name: 'network-config', data: Buffer.alloc(5000, 0x61) },
];

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
});
