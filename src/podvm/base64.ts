/**
 * Standard base64 (RFC 4648 §4, with padding) as Go's `base64.StdEncoding` reads it. Node's own
 * decoder skips any character it does not know, so garbage would decode to garbage; this one refuses.
 */
const STD_BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The decoded bytes, or undefined when `text` is not padded standard base64. ASCII whitespace is ignored. */
export function decodeStdBase64(text: string): Buffer | undefined {
  const compact = text.replace(/[\t\n\v\f\r ]/g, '');
  if (compact.length % 4 !== 0 || !STD_BASE64.test(compact)) return undefined;
  return Buffer.from(compact, 'base64');
}

export function encodeStdBase64(data: string | Uint8Array): string {
  return Buffer.from(data).toString('base64');
}
