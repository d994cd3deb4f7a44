import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { XmlError, el, elements, find, parseXml, serialize, text, textOf } from '../../../src/lib/xml.js';

describe('XML builder', () => {
  it('escapes attribute values and text, so no value can change the document', () => {
    const hostile = `"/><evil a='1'/> & <!-- ]]> \n\t`;
    const doc = el('domain', { type: 'qemu', note: hostile }, text('name', hostile), el('empty'), undefined, false, null, [text('a', 1), [text('b', 2)]]);
    const xml = serialize(doc);
    expect(xml).not.toContain('<evil');
    expect(xml).toContain('note="&quot;/&gt;&lt;evil a=&apos;1&apos;/&gt; &amp; &lt;!-- ]]&gt; &#10;&#9;"');
    const back = parseXml(xml);
    expect(back.attrs.note).toBe(hostile);
    expect(textOf(find(back, 'name'))).toBe(hostile);
    expect(elements(back).map((e) => e.name)).toEqual(['name', 'empty', 'a', 'b']);
  });

  it('leaves out undefined attributes and refuses bad names and characters XML cannot carry', () => {
    expect(serialize(el('x', { a: undefined, b: null, c: 0, d: false }))).toBe('<x c="0" d="false"/>');
    expect(() => el('bad name')).toThrow(XmlError);
    expect(() => el('x', { 'a b': '1' })).toThrow(XmlError);
    expect(() => el('x', { '1a': '1' })).toThrow(XmlError);
    expect(() => serialize(text('x', 'nul\u0000byte'))).toThrow(/control character/);
    expect(() => serialize(el('x', { a: '\u0007' }))).toThrow(XmlError);
  });

  it('round-trips any attribute value and text through serialize and parse', () => {
    const carriable = (s: string): boolean => [...s].every((ch) => {
      const c = ch.codePointAt(0)!;
      return (c >= 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) && c !== 0xfffe && c !== 0xffff;
    });
    const xmlChar = fc.string({ unit: 'grapheme' }).filter(carriable);
    fc.assert(
      fc.property(xmlChar, xmlChar, (a, t) => {
        const back = parseXml(serialize(el('r', { a }, text('t', t))));
        expect(back.attrs.a).toBe(a);
        // Text is kept as is, except that text made only of white space between elements is not.
        expect(textOf(find(back, 't'))).toBe(t);
      }),
      { numRuns: 300 },
    );
  });
});

describe('XML reader', () => {
  it('reads what libvirt returns: declaration, comments, CDATA, entities, self-closing and nested elements', () => {
    const doc = parseXml(`<?xml version="1.0"?>
<!-- a comment -->
<domain type='kvm' id="3">
  <name>a &amp; b &#x41;&#66;</name>
  <metadata>
    <caa:instance xmlns:caa="urn:x"><caa:tag key="k" value="v&quot;"/></caa:instance>
  </metadata>
  <devices>
    <disk type='volume'><source pool='p' volume='v'/></disk>
    <disk type='file'/>
  </devices>
  <description><![CDATA[<not a tag>]]></description>
</domain>`);
    expect(doc.name).toBe('domain');
    expect(doc.attrs).toEqual({ type: 'kvm', id: '3' });
    expect(textOf(find(doc, 'name'))).toBe('a & b AB');
    expect(find(doc, 'metadata', 'caa:instance', 'caa:tag')?.attrs).toEqual({ key: 'k', value: 'v"' });
    expect(elements(find(doc, 'devices')!, 'disk')).toHaveLength(2);
    expect(find(doc, 'devices', 'disk', 'source')?.attrs).toEqual({ pool: 'p', volume: 'v' });
    expect(textOf(find(doc, 'description'))).toBe('<not a tag>');
    // White space between elements is not content.
    expect(find(doc, 'devices')!.children.every((c) => typeof c !== 'string')).toBe(true);
  });

  it('refuses malformed documents', () => {
    for (const bad of ['', '<a>', '<a></b>', '<a/><b/>', 'text<a/>', '<a x="1></a>', '<a>&bogus;</a>', '<a><!-- open</a>', '<a b="1" c/>']) {
      expect(() => parseXml(bad), bad).toThrow(XmlError);
    }
  });
});
