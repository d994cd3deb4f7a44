/**
 * The message of anything thrown, for logs and error texts: an Error's (or Error-like object's)
 * message, else its string form — a thrown string or number reads as itself instead of `undefined`.
 */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'object' && err !== null && typeof (err as { message?: unknown }).message === 'string') return (err as { message: string }).message;
  return String(err);
}
