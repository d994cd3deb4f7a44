/**
 * What the provider records in a domain's `<metadata>`, under its own namespace: the tags (cluster,
 * node, sandbox, pod) set at definition, and the static address it assigned. libvirt keeps it with
 * the domain, so listInstances finds leaked VMs by tags and the address is freed with the domain.
 *
 *   <metadata>
 *     <caa:instance xmlns:caa="urn:peerpods:cloud-api-adaptor:libvirt:v1">
 *       <caa:tag key="peerpod-sandbox" value="…"/> …
 *       <caa:address ip="10.252.0.5" prefix="24"/>
 *     </caa:instance>
 *   </metadata>
 */
import { el, elements, find, type XmlElement } from '../../lib/xml.js';

export const METADATA_NS = 'urn:peerpods:cloud-api-adaptor:libvirt:v1';
const PREFIX = 'caa';

export interface InstanceMetadata {
  tags: Record<string, string>;
  /** The static address assigned by the provider, if any. */
  address?: { ip: string; prefix: number };
}

export function metadataElement(m: InstanceMetadata): XmlElement {
  return el(
    `${PREFIX}:instance`,
    { [`xmlns:${PREFIX}`]: METADATA_NS },
    Object.entries(m.tags).map(([key, value]) => el(`${PREFIX}:tag`, { key, value })),
    m.address ? el(`${PREFIX}:address`, { ip: m.address.ip, prefix: m.address.prefix }) : undefined,
  );
}

/** Our record in a parsed domain document, or undefined for a domain we did not make. */
export function readMetadata(domain: XmlElement): InstanceMetadata | undefined {
  const meta = find(domain, 'metadata');
  if (!meta) return undefined;
  for (const e of elements(meta)) {
    const [prefix, local] = e.name.includes(':') ? e.name.split(':', 2) : ['', e.name];
    const ns = prefix ? e.attrs[`xmlns:${prefix}`] : e.attrs.xmlns;
    if (ns !== METADATA_NS || local !== 'instance') continue;
    const tags: Record<string, string> = {};
    let address: InstanceMetadata['address'];
    for (const c of elements(e)) {
      const name = c.name.slice(c.name.indexOf(':') + 1);
      if (name === 'tag' && c.attrs.key !== undefined) tags[c.attrs.key] = c.attrs.value ?? '';
      if (name === 'address' && c.attrs.ip) address = { ip: c.attrs.ip, prefix: Number(c.attrs.prefix ?? 32) };
    }
    return { tags, ...(address ? { address } : {}) };
  }
  return undefined;
}
