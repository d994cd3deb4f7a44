/**
 * Source audit: a duration that is not a fixed constant must become a timer through src/util/timers.ts.
 * A bare `setTimeout(fn, x)`, `setInterval(fn, x)`, `AbortSignal.timeout(x)` or a child_process
 * `{ timeout: x }` with a computed `x` (a
 * deadline, a configured duration, a Retry-After) misfires or throws for fractional, negative, NaN or
 * over-2^31 values — the bug class behind the Go shim's deadlines failing UNAVAILABLE (issue 16).
 * Allowed delays: numeric literals, UPPER_CASE constants, arithmetic on those, and clampTimerDelay(…).
 */
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { handWrittenSources } from '../../helpers/source-files.js';

const EXEMPT = new Set(['util/timers.ts']);

const CONSTANT = /^[A-Z][A-Z0-9_]*$/;

/** A delay that is fixed when the code is written, so it cannot take a bad shape at run time. */
function isFixed(node: ts.Expression): boolean {
  if (ts.isNumericLiteral(node)) return Number.isInteger(Number(node.text)) && Number(node.text) <= 0x7fffffff;
  if (ts.isIdentifier(node)) return CONSTANT.test(node.text);
  if (ts.isPropertyAccessExpression(node)) return CONSTANT.test(node.name.text);
  if (ts.isParenthesizedExpression(node)) return isFixed(node.expression);
  if (ts.isBinaryExpression(node) && [ts.SyntaxKind.PlusToken, ts.SyntaxKind.MinusToken, ts.SyntaxKind.AsteriskToken].includes(node.operatorToken.kind)) {
    return isFixed(node.left) && isFixed(node.right);
  }
  if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'clampTimerDelay') return true;
  return false;
}

/** child_process functions whose `timeout` option is a timer (ERR_OUT_OF_RANGE for fractional values). */
const CHILD_PROCESS = new Set(['exec', 'execFile', 'spawn', 'fork', 'execSync', 'execFileSync', 'spawnSync']);

/** The delay argument of a Node timer call, or undefined when `call` is not one. */
function timerDelay(call: ts.CallExpression): ts.Expression | undefined | null {
  const callee = call.expression;
  if (ts.isIdentifier(callee) && CHILD_PROCESS.has(callee.text)) {
    for (const arg of call.arguments) {
      if (!ts.isObjectLiteralExpression(arg)) continue;
      const prop = arg.properties.find((p) => ts.isPropertyAssignment(p) && ts.isIdentifier(p.name) && p.name.text === 'timeout');
      if (prop) return (prop as ts.PropertyAssignment).initializer;
    }
    return undefined;
  }
  if (ts.isIdentifier(callee) && (callee.text === 'setTimeout' || callee.text === 'setInterval')) return call.arguments[1] ?? null;
  if (ts.isPropertyAccessExpression(callee) && ts.isIdentifier(callee.expression)) {
    const owner = callee.expression.text;
    const name = callee.name.text;
    if (owner === 'AbortSignal' && name === 'timeout') return call.arguments[0] ?? null;
    if ((owner === 'globalThis' || owner === 'timers') && (name === 'setTimeout' || name === 'setInterval')) return call.arguments[1] ?? null;
  }
  return undefined;
}

describe('timer audit of src/', () => {
  it('every computed delay goes through src/util/timers.ts (setLongTimeout, timeoutSignal, startTimeout, clampTimerDelay)', async () => {
    const offenders: string[] = [];
    let timersSeen = 0;
    for (const { path, rel, text } of handWrittenSources()) {
      if (EXEMPT.has(rel)) continue;
      const sf = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
      const visit = (node: ts.Node): void => {
        if (ts.isCallExpression(node)) {
          const delay = timerDelay(node);
          if (delay !== undefined) {
            timersSeen++;
            if (delay !== null && !isFixed(delay)) {
              const { line } = sf.getLineAndCharacterOfPosition(node.getStart());
              offenders.push(`src/${rel}:${line + 1}: ${node.getText().split('\n')[0]}`);
            }
          }
        }
        ts.forEachChild(node, visit);
      };
      visit(sf);
    }
    expect(timersSeen).toBeGreaterThan(10); // the audit does see the timers it is meant to check
    expect(offenders).toEqual([]);
  });
});
