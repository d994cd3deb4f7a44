/**
 * A minimal ISO 9660 image writer (and reader) for the NoCloud `cidata` disk: one root directory
 * of small files, with a Joliet tree so that long names such as `network-config` come out exactly
 * as written. The primary tree carries the same names upper-cased with `.;1` (level-2 length; Linux
 * maps them back to lower case when it reads an image without Joliet).
 *
 * Layout (2048-byte sectors): 0–15 system area, 16 primary volume descriptor, 17 Joliet
 * supplementary descriptor (UCS-2 level 3, escape `%/E`), 18 terminator, 19–22 the four path tables
 * (L and M for each tree), 23 primary root directory, 24 Joliet root directory, then each file's
 * data from a sector boundary, and one zero sector at the end where empty files point.
 */
import { singleCodeError } from '../util/coded-error.js';

export const SECTOR = 2048;

export class IsoError extends singleCodeError('IsoError', 'ISO9660') {}

export interface IsoFile {
  name: string;
  data: Buffer;
}

export interface IsoOptions {
  /** Volume identifier (the filesystem label); `cidata` for NoCloud. At most 16 characters. */
  volumeId: string;
  /** Recorded as creation and modification time; default now. */
  date?: Date;
}

const both16 = (b: Buffer, off: number, v: number): void => {
  b.writeUInt16LE(v, off);
  b.writeUInt16BE(v, off + 2);
};
const both32 = (b: Buffer, off: number, v: number): void => {
  b.writeUInt32LE(v, off);
  b.writeUInt32BE(v, off + 4);
};

const ucs2be = (s: string): Buffer => {
  const le = Buffer.from(s, 'utf16le');
  for (let i = 0; i + 1 < le.length; i += 2) {
    const t = le[i]!;
    le[i] = le[i + 1]!;
    le[i + 1] = t;
  }
  return le;
};

/** Fills `len` bytes at `off` with `s` padded by spaces (ASCII, or UCS-2 big-endian). */
function putPadded(b: Buffer, off: number, len: number, s: string, joliet: boolean): void {
  if (joliet) {
    for (let i = 0; i + 1 < len; i += 2) b.writeUInt16BE(0x20, off + i);
    ucs2be(s).copy(b, off, 0, len - (len % 2));
  } else {
    b.fill(0x20, off, off + len);
    b.write(s, off, len, 'ascii');
  }
}

function dirDate(d: Date): Buffer {
  return Buffer.from([d.getUTCFullYear() - 1900, d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), 0]);
}

function volumeDate(d: Date | undefined): Buffer {
  const b = Buffer.alloc(17, 0x30);
  b[16] = 0;
  if (!d) return b;
  const p = (n: number, w: number): string => String(n).padStart(w, '0');
  b.write(`${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1, 2)}${p(d.getUTCDate(), 2)}${p(d.getUTCHours(), 2)}${p(d.getUTCMinutes(), 2)}${p(d.getUTCSeconds(), 2)}00`, 0, 'ascii');
  return b;
}

function dirRecord(id: Buffer, extent: number, size: number, isDir: boolean, date: Buffer): Buffer {
  const len = 33 + id.length + (id.length % 2 === 0 ? 1 : 0);
  const r = Buffer.alloc(len);
  r[0] = len;
  both32(r, 2, extent);
  both32(r, 10, size);
  date.copy(r, 18);
  r[25] = isDir ? 2 : 0;
  both16(r, 28, 1);
  r[32] = id.length;
  id.copy(r, 33);
  return r;
}

/** The primary tree's name for a file: upper case, `.;1` (Linux's default mapping gives back the lower-case name). */
export function primaryName(name: string): string {
  return `${name.toUpperCase()}${name.includes('.') ? '' : '.'};1`;
}

const NAME_OK = /^[A-Za-z0-9_.-]{1,30}$/;

export function buildIso(files: readonly IsoFile[], options: IsoOptions): Buffer {
  if (!/^[A-Za-z0-9_ -]{1,16}$/.test(options.volumeId)) throw new IsoError(`volume id ${JSON.stringify(options.volumeId)}: up to 16 letters, digits, _ or -`);
  const seen = new Set<string>();
  for (const f of files) {
    if (!NAME_OK.test(f.name)) throw new IsoError(`file name ${JSON.stringify(f.name)}: 1–30 letters, digits, _ . or -`);
    if (seen.has(f.name.toUpperCase())) throw new IsoError(`file name ${f.name} given twice`);
    seen.add(f.name.toUpperCase());
  }
  const date = options.date ?? new Date();
  const dd = dirDate(date);
  const PRIMARY_ROOT = 23;
  const JOLIET_ROOT = 24;
  let next = 25;
  const sized = files.map((f) => {
    if (f.data.length === 0) return { ...f, extent: -1 };
    const extent = next;
    next += Math.ceil(f.data.length / SECTOR);
    return { ...f, extent };
  });
  // One zero sector at the end, where empty files point (so no extent lies past the image).
  const total = next + 1;
  const placed = sized.map((f) => (f.extent < 0 ? { ...f, extent: next } : f));
  const img = Buffer.alloc(total * SECTOR);

  const rootDir = (selfExtent: number, joliet: boolean): Buffer => {
    const recs = [dirRecord(Buffer.from([0]), selfExtent, SECTOR, true, dd), dirRecord(Buffer.from([1]), selfExtent, SECTOR, true, dd)];
    const named = placed.map((f) => ({ id: joliet ? ucs2be(f.name) : Buffer.from(primaryName(f.name), 'ascii'), f }));
    named.sort((a, b) => Buffer.compare(a.id, b.id));
    for (const { id, f } of named) recs.push(dirRecord(id, f.extent, f.data.length, false, dd));
    const dir = Buffer.concat(recs);
    if (dir.length > SECTOR) throw new IsoError('too many files for a one-sector root directory');
    return dir;
  };

  const descriptor = (sector: number, type: 1 | 2, joliet: boolean, rootExtent: number, pathL: number, pathM: number): void => {
    const d = img.subarray(sector * SECTOR, (sector + 1) * SECTOR);
    d[0] = type;
    d.write('CD001', 1, 'ascii');
    d[6] = 1;
    putPadded(d, 8, 32, 'LINUX', joliet);
    putPadded(d, 40, 32, options.volumeId, joliet);
    both32(d, 80, total);
    if (joliet) d.write('%/E', 88, 'ascii');
    both16(d, 120, 1);
    both16(d, 124, 1);
    both16(d, 128, SECTOR);
    both32(d, 132, 10);
    d.writeUInt32LE(pathL, 140);
    d.writeUInt32BE(pathM, 148);
    dirRecord(Buffer.from([0]), rootExtent, SECTOR, true, dd).copy(d, 156);
    for (const [off, len] of [[190, 128], [318, 128], [446, 128], [574, 128], [702, 37], [739, 37], [776, 37]] as const) putPadded(d, off, len, '', joliet);
    volumeDate(date).copy(d, 813);
    volumeDate(date).copy(d, 830);
    volumeDate(undefined).copy(d, 847);
    volumeDate(undefined).copy(d, 864);
    d[881] = 1;
  };

  const pathTable = (sector: number, rootExtent: number, bigEndian: boolean): void => {
    const p = img.subarray(sector * SECTOR, sector * SECTOR + 10);
    p[0] = 1;
    if (bigEndian) {
      p.writeUInt32BE(rootExtent, 2);
      p.writeUInt16BE(1, 6);
    } else {
      p.writeUInt32LE(rootExtent, 2);
      p.writeUInt16LE(1, 6);
    }
  };

  descriptor(16, 1, false, PRIMARY_ROOT, 19, 20);
  descriptor(17, 2, true, JOLIET_ROOT, 21, 22);
  const term = img.subarray(18 * SECTOR);
  term[0] = 255;
  term.write('CD001', 1, 'ascii');
  term[6] = 1;
  pathTable(19, PRIMARY_ROOT, false);
  pathTable(20, PRIMARY_ROOT, true);
  pathTable(21, JOLIET_ROOT, false);
  pathTable(22, JOLIET_ROOT, true);
  rootDir(PRIMARY_ROOT, false).copy(img, PRIMARY_ROOT * SECTOR);
  rootDir(JOLIET_ROOT, true).copy(img, JOLIET_ROOT * SECTOR);
  for (const f of placed) f.data.copy(img, f.extent * SECTOR);
  return img;
}

// ---- reader -----------------------------------------------------------------------------------

export interface ParsedIso {
  volumeId: string;
  /** True when the files were read from a Joliet tree. */
  joliet: boolean;
  files: Map<string, Buffer>;
}

/**
 * Reads the root directory of an image the way Linux would: the Joliet tree when present, else the
 * primary tree with Linux's default name mapping (lower case, `;1` and a trailing `.` dropped).
 */
export function readIso(img: Buffer, options: { joliet?: boolean } = {}): ParsedIso {
  if (img.length < 19 * SECTOR) throw new IsoError('image too small for ISO 9660');
  let primary: Buffer | undefined;
  let joliet: Buffer | undefined;
  for (let s = 16; s < Math.min(img.length / SECTOR, 64); s++) {
    const d = img.subarray(s * SECTOR, (s + 1) * SECTOR);
    if (d.toString('ascii', 1, 6) !== 'CD001') throw new IsoError(`sector ${s}: no CD001 signature`);
    if (d[0] === 255) break;
    if (d[0] === 1) primary = d;
    if (d[0] === 2 && ['%/@', '%/C', '%/E'].includes(d.toString('ascii', 88, 91))) joliet = d;
  }
  if (!primary) throw new IsoError('no primary volume descriptor');
  if (options.joliet === false) joliet = undefined;
  const desc = joliet ?? primary;
  const isJ = joliet !== undefined;
  const decode = (b: Buffer): string => {
    if (!isJ) return b.toString('ascii');
    const sw = Buffer.from(b);
    for (let i = 0; i + 1 < sw.length; i += 2) {
      const t = sw[i]!;
      sw[i] = sw[i + 1]!;
      sw[i + 1] = t;
    }
    return sw.toString('utf16le');
  };
  const volumeId = decode(desc.subarray(40, 72)).replace(/[ \0]+$/, '');
  const rootExtent = desc.readUInt32LE(156 + 2);
  const rootSize = desc.readUInt32LE(156 + 10);
  const dir = img.subarray(rootExtent * SECTOR, rootExtent * SECTOR + rootSize);
  const files = new Map<string, Buffer>();
  for (let off = 0; off < dir.length; ) {
    const len = dir[off]!;
    if (len === 0) {
      off = (Math.floor(off / SECTOR) + 1) * SECTOR;
      continue;
    }
    const idLen = dir[off + 32]!;
    const id = dir.subarray(off + 33, off + 33 + idLen);
    const flags = dir[off + 25]!;
    if (!(idLen === 1 && (id[0] === 0 || id[0] === 1)) && (flags & 2) === 0) {
      let name = decode(id);
      if (!isJ) name = name.toLowerCase();
      name = name.replace(/;1$/, '').replace(/\.$/, '');
      const extent = dir.readUInt32LE(off + 2);
      const size = dir.readUInt32LE(off + 10);
      if (extent * SECTOR + size > img.length) throw new IsoError(`file ${name} extends past the image`);
      files.set(name, img.subarray(extent * SECTOR, extent * SECTOR + size));
    }
    off += len;
  }
  return { volumeId, joliet: isJ, files };
}
