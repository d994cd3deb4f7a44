/**
 * One key for the sandbox id in every log line: `sandbox` (the shim's child logger binds it so).
 * Before, aws, azure, ibmcloud, libvirt, the capacity fallback and the PeerPod code logged `sandboxId`,
 * so a query for one sandbox's lines missed its cloud lines. This audit reads src/ as text.
 */
import { describe, expect, it } from 'vitest';
import { handWrittenSources } from '../../helpers/source-files.js';

/** A log call or child logger whose first object names the sandbox `sandboxId`. */
const SANDBOX_ID_KEY = /\b(?:log|logger|child)\w*(?:\.\w+)?\(\{(?:[^}]*,)?\s*sandboxId\s*[:,}]/;

describe('log keys', () => {
  it('the audit recognises a sandboxId log key (and not the bound `sandbox` one)', () => {
    expect(SANDBOX_ID_KEY.test("this.log.info({ sandboxId: req.sandboxId, instanceId: id }, 'created')")).toBe(true);
    expect(SANDBOX_ID_KEY.test("const log = this.log.child({ sandboxId: req.sandboxId });")).toBe(true);
    expect(SANDBOX_ID_KEY.test("o.log.warn({ instanceType: type, sandboxId }, 'no capacity')")).toBe(true);
    expect(SANDBOX_ID_KEY.test("this.log.info({ sandbox: req.sandboxId, instanceId: id }, 'created')")).toBe(false);
  });

  it('no log line in src/ names the sandbox id `sandboxId`', () => {
    const offenders = handWrittenSources().flatMap(({ rel, text }) =>
      text.split('\n').flatMap((line, i) => (SANDBOX_ID_KEY.test(line) ? [`${rel}:${i + 1}: ${line.trim()}`] : [])),
    );
    expect(offenders).toEqual([]);
  });
});
