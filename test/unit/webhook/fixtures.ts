/** The AdmissionReview fixtures in test/fixtures/webhook. */
import { readFile } from 'node:fs/promises';

export function fixture(name: string): Promise<string> {
  return readFile(new URL(`../../fixtures/webhook/${name}`, import.meta.url), 'utf8');
}
