/**
 * One key for the sandbox id in every log line: `sandbox` (the shim's child logger binds it so).
 * Before, aws, azure, ibmcloud, libvirt, the capacity fallback and the PeerPod code logged `sandboxId`,
 * so a query for one sandbox's lines missed its cloud lines. This audit reads src/ as text.
 * Also: a log call gives `err` the error itself, not its text, so pino writes its type, code, cause and stack.
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

  it('no log line flattens an error into `err` (pino then writes its type, code, cause and stack)', () => {
    // A log call's `err` given as String(x), messageOf(x) or x.message (checked in the audit below).
    const FLAT_ERR = /\berr: (?:String\(|messageOf\(|[\w.]+\.message\b)/;
    expect(FLAT_ERR.test("log.warn({ err: messageOf(err), lock: this.path }, 'heartbeat failed')")).toBe(true);
    expect(FLAT_ERR.test("this.log.error({ err: String(err) }, 'failed')")).toBe(true);
    expect(FLAT_ERR.test("o.log.warn({ next, err: perr.message }, 'no capacity')")).toBe(true);
    expect(FLAT_ERR.test("this.log.error({ err, attempt }, 'failed')")).toBe(false);
    expect(FLAT_ERR.test("log.error({ err: reason, code: reason.code }, 'StartVM failed')")).toBe(false);
    // Lines whose `err` text existing tests read as a string (hypervisor-service, azure-provider).
    const known = ['providers/capacity-fallback.ts', 'shim/sandbox-manager.ts'];
    const offenders = handWrittenSources().flatMap(({ rel, text }) =>
      text.split('\n').flatMap((line, i) => (FLAT_ERR.test(line) ? [`${rel}:${i + 1}: ${line.trim()}`] : [])),
    );
    expect(offenders.filter((o) => !known.some((k) => o.startsWith(`${k}:`)))).toEqual([]);
    // Each known exception is still there once (when it goes, drop it from the list).
    for (const k of known) expect(offenders.filter((o) => o.startsWith(`${k}:`))).toHaveLength(1);
  });
});
