/**
 * A tiny XML writer for EC2 Query replies. Replies are plain value trees: an object becomes child
 * elements named by its keys, an array becomes `<item>` children (EC2's list convention), and
 * undefined/null members are left out. All text is escaped; element names are ours and trusted.
 */
export type XmlValue = string | number | boolean | Date | null | undefined | XmlNode | readonly XmlValue[];
export interface XmlNode {
  readonly [name: string]: XmlValue;
}

export const EC2_XMLNS = 'http://ec2.amazonaws.com/doc/2016-11-15/';

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;', '\r': '&#13;' };

/**
 * Escapes text for element content or attribute values. A carriage return is written as a character
 * reference because parsers normalise a literal one away; characters XML 1.0 cannot carry at all
 * (other C0 controls) become U+FFFD.
 */
export function escapeXml(text: string): string {
  return (
    text
      .replace(/[&<>"'\r]/g, (c) => ENTITIES[c] ?? c)
      // eslint-disable-next-line no-control-regex -- matching control characters is the point here
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '\ufffd')
  );
}

function renderText(value: string | number | boolean | Date): string {
  if (value instanceof Date) return value.toISOString();
  return escapeXml(String(value));
}

/** Renders `<name>value</name>`; returns '' for an absent value so optional members vanish. */
export function element(name: string, value: XmlValue): string {
  if (value === undefined || value === null) return '';
  if (Array.isArray(value)) return `<${name}>${value.map((v: XmlValue) => element('item', v)).join('')}</${name}>`;
  if (typeof value === 'object' && !(value instanceof Date)) {
    return `<${name}>${children(value as XmlNode)}</${name}>`;
  }
  return `<${name}>${renderText(value as string | number | boolean | Date)}</${name}>`;
}

function children(node: XmlNode): string {
  let out = '';
  for (const [k, v] of Object.entries(node)) out += element(k, v);
  return out;
}

/** `<XResponse xmlns=…><requestId>…</requestId>…</XResponse>`, the success envelope of every action. */
export function responseDocument(action: string, requestId: string, body: XmlNode): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${EC2_XMLNS}">${element('requestId', requestId)}${children(body)}</${action}Response>`;
}

/** The EC2 error envelope (note `RequestID`, upper case, unlike the success envelope). */
export function errorDocument(code: string, message: string, requestId: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>${element('Code', code)}${element('Message', message)}</Error></Errors>${element('RequestID', requestId)}</Response>`;
}
