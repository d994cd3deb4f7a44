/**
 * A tiny XML builder and reader for libvirt's documents. The builder escapes every attribute value
 * and text node, so a user value (a tag, a path, a pod name) can never change the document's shape;
 * names of elements and attributes are checked against XML's name rule. The reader parses the
 * well-formed XML libvirt returns (elements, attributes, text, comments, CDATA, the five entities
 * and character references) into the same tree shape.
 */
import { singleCodeError } from '../util/coded-error.js';

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlNode[];
}
export type XmlNode = XmlElement | string;

export class XmlError extends singleCodeError('XmlError', 'XML') {}

const NAME = /^[A-Za-z_][A-Za-z0-9_.:-]*$/;

type AttrValue = string | number | boolean | undefined | null;
type Child = XmlNode | undefined | null | false | Child[];

/** `el('disk', { type: 'volume' }, el('source', { pool }), 'text')`; undefined attributes and children are left out. */
export function el(name: string, attrs: Record<string, AttrValue> = {}, ...children: Child[]): XmlElement {
  if (!NAME.test(name)) throw new XmlError(`bad XML element name ${JSON.stringify(name)}`);
  const a: Record<string, string> = {};
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    if (!NAME.test(k)) throw new XmlError(`bad XML attribute name ${JSON.stringify(k)}`);
    a[k] = String(v);
  }
  const flat: XmlNode[] = [];
  const add = (c: Child): void => {
    if (c === undefined || c === null || c === false) return;
    if (Array.isArray(c)) c.forEach(add);
    else flat.push(typeof c === 'string' ? c : c);
  };
  children.forEach(add);
  return { name, attrs: a, children: flat };
}

/** An element holding one text node, e.g. `text('name', 'podvm-x')`; text that is a number is fine. */
export function text(name: string, value: string | number, attrs: Record<string, AttrValue> = {}): XmlElement {
  return el(name, attrs, String(value));
}

// Characters XML 1.0 cannot carry at all; refusing them beats writing a document libvirt rejects.
const forbidden = (s: string): boolean => {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0xfffe || c === 0xffff) return true;
  }
  return false;
};

export function escapeText(s: string): string {
  if (forbidden(s)) throw new XmlError('text contains a control character XML cannot carry');
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function escapeAttr(s: string): string {
  return escapeText(s).replace(/"/g, '&quot;').replace(/'/g, '&apos;').replace(/\n/g, '&#10;').replace(/\r/g, '&#13;').replace(/\t/g, '&#9;');
}

/** Serialises with two-space indentation; elements with only text stay on one line. */
export function serialize(node: XmlElement, indent = ''): string {
  const attrs = Object.entries(node.attrs)
    .map(([k, v]) => ` ${k}="${escapeAttr(v)}"`)
    .join('');
  if (node.children.length === 0) return `${indent}<${node.name}${attrs}/>`;
  if (node.children.every((c) => typeof c === 'string')) {
    return `${indent}<${node.name}${attrs}>${(node.children as string[]).map(escapeText).join('')}</${node.name}>`;
  }
  const inner = node.children.map((c) => (typeof c === 'string' ? `${indent}  ${escapeText(c)}` : serialize(c, `${indent}  `))).join('\n');
  return `${indent}<${node.name}${attrs}>\n${inner}\n${indent}</${node.name}>`;
}

// ---- reader ---------------------------------------------------------------------------------

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decodeEntities(s: string, at: number): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (_, e: string) => {
    if (e.startsWith('#x')) return String.fromCodePoint(parseInt(e.slice(2), 16));
    if (e.startsWith('#')) return String.fromCodePoint(parseInt(e.slice(1), 10));
    const v = ENTITIES[e];
    if (v === undefined) throw new XmlError(`unknown entity &${e}; near offset ${at}`);
    return v;
  });
}

/** Parses one document into its root element. Whitespace-only text between elements is dropped. */
export function parseXml(src: string): XmlElement {
  let i = 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  const fail = (what: string): never => {
    throw new XmlError(`XML: ${what} at offset ${i}`);
  };
  const addText = (t: string): void => {
    const parent = stack.at(-1);
    if (!parent) {
      if (t.trim()) fail('text outside the root element');
      return;
    }
    parent.children.push(t);
  };
  /** Where `close` next starts; a markup construct that never closes is an error naming `what`. */
  const closing = (close: string, what: string): number => {
    const end = src.indexOf(close, i);
    return end < 0 ? fail(`unterminated ${what}`) : end;
  };
  while (i < src.length) {
    const lt = src.indexOf('<', i);
    if (lt < 0) {
      addText(decodeEntities(src.slice(i), i));
      break;
    }
    if (lt > i) addText(decodeEntities(src.slice(i, lt), i));
    i = lt;
    if (src.startsWith('<?', i)) {
      i = closing('?>', 'processing instruction') + 2;
    } else if (src.startsWith('<!--', i)) {
      i = closing('-->', 'comment') + 3;
    } else if (src.startsWith('<![CDATA[', i)) {
      const end = closing(']]>', 'CDATA');
      addText(src.slice(i + 9, end));
      i = end + 3;
    } else if (src.startsWith('<!', i)) {
      i = closing('>', 'declaration') + 1;
    } else if (src.startsWith('</', i)) {
      const end = closing('>', 'end tag');
      const name = src.slice(i + 2, end).trim();
      const open = stack.pop();
      if (!open || open.name !== name) fail(`end tag </${name}> does not match <${open?.name ?? ''}>`);
      // Drop whitespace-only text of mixed-content elements.
      if (open!.children.some((c) => typeof c !== 'string')) open!.children = open!.children.filter((c) => typeof c !== 'string' || c.trim() !== '');
      i = end + 1;
      if (stack.length === 0) root = open;
    } else {
      const m = /^<([A-Za-z_][A-Za-z0-9_.:-]*)/.exec(src.slice(i, i + 256));
      if (!m) fail('bad start tag');
      const node: XmlElement = { name: m![1]!, attrs: {}, children: [] };
      i += m![0].length;
      const attrRe = /\s*([A-Za-z_][A-Za-z0-9_.:-]*)\s*=\s*("([^"]*)"|'([^']*)')/y;
      for (;;) {
        attrRe.lastIndex = i;
        const a = attrRe.exec(src);
        if (!a) break;
        node.attrs[a[1]!] = decodeEntities(a[3] ?? a[4] ?? '', i);
        i = attrRe.lastIndex;
      }
      while (/\s/.test(src[i] ?? '')) i++;
      const parent = stack.at(-1);
      if (parent) parent.children.push(node);
      else if (root) fail('a second root element');
      if (src.startsWith('/>', i)) {
        i += 2;
        if (!parent) root = node;
      } else if (src[i] === '>') {
        i += 1;
        stack.push(node);
      } else {
        fail(`bad attribute in <${node.name}>`);
      }
    }
  }
  if (stack.length) fail(`unclosed <${stack.at(-1)!.name}>`);
  if (!root) fail('no root element');
  return root!;
}

// ---- navigation -------------------------------------------------------------------------------

export const elements = (n: XmlElement, name?: string): XmlElement[] =>
  n.children.filter((c): c is XmlElement => typeof c !== 'string' && (name === undefined || c.name === name));

export const child = (n: XmlElement | undefined, name: string): XmlElement | undefined => (n ? elements(n, name)[0] : undefined);

/** Follows a path of element names, e.g. `find(domain, 'devices', 'disk')` (first match at each step). */
export function find(n: XmlElement | undefined, ...path: string[]): XmlElement | undefined {
  let cur = n;
  for (const p of path) cur = child(cur, p);
  return cur;
}

export function textOf(n: XmlElement | undefined): string {
  return n ? n.children.filter((c): c is string => typeof c === 'string').join('') : '';
}
