/**
 * The sandbox state machine's table and the reading of saved intents: every move the table allows
 * and only those, an illegal one as a typed error with a stable reason, the table in
 * docs/architecture.md the same as the code's, and files of the previous version (only
 * `removeAfterDelete`) read as they meant.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ShimError } from '../../../src/shim/errors.js';
import {
  IllegalTransitionError,
  SANDBOX_MOVES,
  adoptSavedState,
  checkMove,
  intentOf,
  isAllowedMove,
  type LifecycleStep,
} from '../../../src/shim/sandbox-lifecycle.js';
import type { SandboxPhase, SandboxState } from '../../../src/shim/sandbox-store.js';

const PHASES: SandboxPhase[] = ['created', 'creating', 'running', 'stopping'];
const STEPS: LifecycleStep[] = [...PHASES, 'removed'];

describe('the transition table', () => {
  const allowed = new Set([
    'created→creating',
    'created→removed',
    'creating→running',
    'creating→stopping',
    'running→stopping',
    'stopping→created',
    'stopping→removed',
  ]);
  for (const from of PHASES) {
    for (const to of STEPS) {
      const move = `${from}→${to}`;
      it(`${move} is ${allowed.has(move) ? 'allowed' : 'refused'}`, () => {
        expect(isAllowedMove(from, to)).toBe(allowed.has(move));
        if (allowed.has(move)) {
          expect(() => checkMove('sb1', from, to)).not.toThrow();
        } else {
          const err = (() => {
            try {
              checkMove('sb1', from, to);
            } catch (e) {
              return e;
            }
            return undefined;
          })();
          expect(err).toBeInstanceOf(IllegalTransitionError);
          expect(err).toBeInstanceOf(ShimError);
          expect(err).toMatchObject({ code: 'INTERNAL', reason: 'SANDBOX_ILLEGAL_TRANSITION', sandboxId: 'sb1', from, to });
          expect((err as Error).message).toBe(`sandbox sb1: the move ${from} → ${to} is not allowed (a bug in the sandbox manager)`);
        }
      });
    }
  }

  it('every phase can be left, and every phase but created can be reached', () => {
    for (const from of PHASES) expect(SANDBOX_MOVES[from].length).toBeGreaterThan(0);
    const reached = new Set(Object.values(SANDBOX_MOVES).flat());
    expect(PHASES.filter((p) => !reached.has(p))).toEqual([]);
    expect(reached.has('removed')).toBe(true);
  });

  it('docs/architecture.md lists the same moves as the code', () => {
    const doc = readFileSync(new URL('../../../docs/architecture.md', import.meta.url), 'utf8');
    expect(doc).toContain('\n### Sandbox lifecycle\n');
    const section = doc.slice(doc.indexOf('\n### Sandbox lifecycle\n'));
    // Rows of the moves table: | `from` | `to` | …
    const documented = [...section.matchAll(/^\| `(\w+)` \| `(\w+)` \|/gm)].map((m) => `${m[1]}→${m[2]}`);
    const inCode = PHASES.flatMap((from) => SANDBOX_MOVES[from].map((to) => `${from}→${to}`));
    expect([...documented].sort()).toEqual([...inCode].sort());
  });
});

describe('the intent a saved state records', () => {
  const cases: [string, Pick<SandboxState, 'intent' | 'removeAfterDelete'>, 'run' | 'remove'][] = [
    ['previous version, removeAfterDelete true', { removeAfterDelete: true }, 'remove'],
    ['previous version, removeAfterDelete false', { removeAfterDelete: false }, 'run'],
    ['previous version, no flag', {}, 'run'],
    ['this version, intent remove (flag written with it)', { intent: 'remove', removeAfterDelete: true }, 'remove'],
    ['this version, intent run', { intent: 'run' }, 'run'],
    ['re-saved by a rolled-back daemon that set the flag', { intent: 'run', removeAfterDelete: true }, 'remove'],
    ['re-saved by a rolled-back daemon that cleared the flag', { intent: 'remove', removeAfterDelete: false }, 'run'],
    ['re-saved by a rolled-back daemon that dropped the flag', { intent: 'remove' }, 'run'],
  ];
  for (const [what, saved, want] of cases) {
    it(`${what} → ${want}`, () => {
      expect(intentOf(saved)).toBe(want);
    });
  }

  it('adoptSavedState sets intent and drops the previous version\'s flag, keeping everything else', () => {
    const saved = { id: 'x', phase: 'stopping', removeAfterDelete: true, futureField: 1 } as unknown as SandboxState;
    const adopted = adoptSavedState(saved);
    expect(adopted).toEqual({ id: 'x', phase: 'stopping', intent: 'remove', futureField: 1 });
    expect('removeAfterDelete' in adopted).toBe(false);
    expect(saved.removeAfterDelete).toBe(true); // the loaded object itself is not changed
  });
});
