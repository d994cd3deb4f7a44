import { describe, expect, it } from 'vitest';
import { ModuleError, loadOrder, moduleKey, parseModinfo } from '../../../podvm/kernel-modules.js';

/** A stand-in .ko: what matters to the reader is the NUL-separated `.modinfo` strings. */
const ko = (...info: string[]): Buffer => Buffer.from(`\x7fELF\0junk\0${info.join('\0')}\0more\0`, 'latin1');

describe('kernel module load order for the pod VM initramfs', () => {
  it('reads depends= and softdep=pre: from .modinfo; - and _ are one', () => {
    expect(parseModinfo(ko('name=ext4', 'depends=jbd2,mbcache,crc16', 'softdep=pre: crypto-crc32c'))).toEqual({ depends: ['jbd2', 'mbcache', 'crc16'], softPre: ['crypto-crc32c'] });
    expect(parseModinfo(ko('depends=', 'softdep=pre: a b post: c'))).toEqual({ depends: [], softPre: ['a', 'b'] });
    expect(parseModinfo(ko('depends=nf-conntrack'))).toEqual({ depends: ['nf_conntrack'], softPre: [] });
    expect(moduleKey('virtio-net')).toBe('virtio_net');
  });

  it('puts every module after what it needs, once, in the order asked otherwise; soft aliases map to the generic module', async () => {
    const files: Record<string, Buffer> = {
      '/m/ext4.ko': ko('depends=jbd2,mbcache', 'softdep=pre: crypto-crc32c'),
      '/m/jbd2.ko': ko('depends='),
      '/m/mbcache.ko': ko('depends='),
      '/m/crc32c_generic.ko': ko('depends='),
      '/m/vxlan.ko': ko('depends=udp_tunnel,ip6_udp_tunnel'),
      '/m/udp_tunnel.ko': ko('depends='),
      '/m/ip6_udp_tunnel.ko': ko('depends='),
    };
    const index = new Map(Object.keys(files).map((p) => [p.slice(3, -3), p]));
    const order = await loadOrder(['vxlan', 'ext4', 'jbd2'], index, async (p) => files[p]!);
    expect(order.map((m) => m.name)).toEqual(['udp_tunnel', 'ip6_udp_tunnel', 'vxlan', 'crc32c_generic', 'jbd2', 'mbcache', 'ext4']);
  });

  it('a missing module names who needs it; a missing soft dependency is skipped; a cycle is an error', async () => {
    const files: Record<string, Buffer> = { '/m/a.ko': ko('depends=b', 'softdep=pre: nowhere'), '/m/c.ko': ko('depends=d'), '/m/d.ko': ko('depends=c') };
    const index = new Map(Object.keys(files).map((p) => [p.slice(3, -3), p]));
    const read = async (p: string): Promise<Buffer> => files[p]!;
    await expect(loadOrder(['a'], index, read)).rejects.toThrow(new ModuleError('kernel module b (needed by a) is not in this kernel package'));
    await expect(loadOrder(['zz'], index, read)).rejects.toThrow(/kernel module zz is not in this kernel package/);
    await expect(loadOrder(['c'], index, read)).rejects.toThrow(/cycle through c/);
  });
});
