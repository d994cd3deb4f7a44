/**
 * The NoCloud seed the pod VM reads at boot (reference §3.13: process-user-data and cloud-init look
 * for a disk labelled `cidata`): `user-data` (the cloud-config, unchanged), `meta-data`
 * (instance-id and hostname), an empty `vendor-data`, and with a static address a `network-config`
 * (version 2, matched by the NIC's MAC).
 */
import { stringify } from 'yaml';
import { buildIso } from '../../lib/iso9660.js';

export interface StaticNetwork {
  mac: string;
  ip: string;
  prefix: number;
  gateway?: string;
}

export interface CidataInput {
  instanceId: string;
  hostname: string;
  userData: string;
  network?: StaticNetwork;
  date?: Date;
}

export function cidataFiles(input: CidataInput): { name: string; data: Buffer }[] {
  const files = [
    { name: 'user-data', data: Buffer.from(input.userData, 'utf8') },
    { name: 'meta-data', data: Buffer.from(stringify({ 'instance-id': input.instanceId, 'local-hostname': input.hostname }), 'utf8') },
    { name: 'vendor-data', data: Buffer.alloc(0) },
  ];
  if (input.network) files.push({ name: 'network-config', data: Buffer.from(networkConfig(input.network), 'utf8') });
  return files;
}

export function networkConfig(n: StaticNetwork): string {
  return stringify({
    version: 2,
    ethernets: {
      eth0: {
        match: { macaddress: n.mac },
        'set-name': 'eth0',
        addresses: [`${n.ip}/${n.prefix}`],
        ...(n.gateway ? { routes: [{ to: 'default', via: n.gateway }] } : {}),
      },
    },
  });
}

/** The ISO image of the seed, volume id `cidata`. */
export function buildCidataIso(input: CidataInput): Buffer {
  return buildIso(cidataFiles(input), { volumeId: 'cidata', ...(input.date ? { date: input.date } : {}) });
}
