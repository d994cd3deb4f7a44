/**
 * Reads the statically decidable part of a Kata agent policy (Rego, `package agent_policy`): the
 * `default <Rule> := true|false` lines and which rules also have definitions with bodies. Everything
 * else — helper rules, data, imports, comments — is skipped; the kata-agent evaluates the whole
 * policy itself when it gets it. See docs/policy.md.
 */
import { createHash } from 'node:crypto';
import { isRequestRuleName } from './methods.js';
import { singleCodeError, type CodedErrorOptions } from '../../util/coded-error.js';

export const POLICY_PACKAGE = 'agent_policy';
/** The rule that, when true, makes the kata-agent let requests that fail the policy through (debugging). */
export const ALLOW_FAILURES_RULE = 'AllowRequestsFailingPolicy';

export class PolicyError extends singleCodeError('PolicyError', 'INVALID_POLICY') {
  constructor(
    message: string,
    /** 1-based line of the offending statement, when there is one. */
    readonly line?: number,
    options?: CodedErrorOptions,
  ) {
    super(message, options);
  }
}

export interface PolicyDefault {
  readonly value: boolean;
  /** The statement as written (whitespace collapsed), e.g. `default ExecProcessRequest := false`. */
  readonly statement: string;
  readonly line: number;
}

export interface RequestPolicy {
  readonly package: typeof POLICY_PACKAGE;
  /** Rule name → its default. Only boolean defaults (or `{"allowed": <bool>, …}` objects) are kept. */
  readonly defaults: ReadonlyMap<string, PolicyDefault>;
  /** Rules that have at least one definition besides `default` (a body, or a value with a condition). */
  readonly conditionalRules: ReadonlySet<string>;
  /** `default AllowRequestsFailingPolicy := true`: the agent enforces nothing. */
  readonly allowRequestsFailingPolicy: boolean;
  /** sha256 of the text, hex: names the policy in logs without printing it. */
  readonly digest: string;
}

interface Statement {
  text: string;
  line: number;
}

const OPENERS: Record<string, string> = { '{': '}', '[': ']', '(': ')' };
const CLOSERS = new Set(['}', ']', ')']);

/**
 * Splits Rego source into top-level statements: a statement ends at a newline outside brackets, so a
 * rule with a multi-line body is one statement. Comments are dropped, strings kept as written,
 * whitespace collapsed.
 */
function topLevelStatements(src: string): Statement[] {
  const out: Statement[] = [];
  const stack: { close: string; line: number }[] = [];
  let buf = '';
  let started = false; // whether buf holds anything but whitespace
  let line = 1;
  let startLine = 1;

  const flush = (): void => {
    const text = buf.replace(/\s+/g, ' ').trim();
    buf = '';
    started = false;
    if (!text) return;
    const prev = out[out.length - 1];
    // A head whose body (or `else`, or value) starts on the next line belongs with that head. An
    // import never continues (`import future.keywords.if` ends in `if`).
    if (prev && !/^(import|package)\s/.test(prev.text) && (/^(\{|else\b)/.test(text) || /(\bif|\belse|:=|=)$/.test(prev.text))) {
      prev.text = `${prev.text} ${text}`;
      return;
    }
    out.push({ text, line: startLine });
  };

  for (let i = 0; i < src.length; i++) {
    const ch = src[i]!;
    if (!started && ch !== '#' && !/\s/.test(ch)) {
      started = true;
      startLine = line;
    }
    if (ch === '#') {
      while (i + 1 < src.length && src[i + 1] !== '\n') i++;
      continue;
    }
    if (ch === '"') {
      let j = i + 1;
      for (; j < src.length; j++) {
        const c = src[j]!;
        if (c === '\\') j++;
        else if (c === '"') break;
        else if (c === '\n') j = src.length;
      }
      if (j >= src.length) throw new PolicyError(`unterminated string on line ${line}`, line);
      buf += src.slice(i, j + 1);
      i = j;
      continue;
    }
    if (ch === '`') {
      const j = src.indexOf('`', i + 1);
      if (j < 0) throw new PolicyError(`unterminated raw string on line ${line}`, line);
      const raw = src.slice(i, j + 1);
      line += raw.split('\n').length - 1;
      buf += raw;
      i = j;
      continue;
    }
    const close = OPENERS[ch];
    if (close) {
      stack.push({ close, line });
    } else if (CLOSERS.has(ch)) {
      const open = stack.pop();
      if (!open || open.close !== ch) {
        throw new PolicyError(`unbalanced '${ch}' on line ${line}`, line);
      }
    }
    if (ch === '\n') {
      line++;
      if (stack.length === 0) {
        flush();
        continue;
      }
    }
    buf += ch;
  }
  const open = stack.pop();
  if (open) throw new PolicyError(`bracket opened on line ${open.line} is never closed`, open.line);
  flush();
  return out;
}

/** `true`/`false`, or the `allowed` member of a `{"ops": …, "allowed": <bool>}` object (genpolicy's form). */
function decisionValue(value: string): boolean | undefined {
  const v = value.trim();
  if (v === 'true') return true;
  if (v === 'false') return false;
  if (!v.startsWith('{') || !v.endsWith('}')) return undefined;
  // Look for "allowed": <bool> among the object's own members (depth 1), outside strings.
  let depth = 0;
  for (let i = 0; i < v.length; i++) {
    const ch = v[i]!;
    if (ch === '"') {
      let j = i + 1;
      while (j < v.length && v[j] !== '"') j += v[j] === '\\' ? 2 : 1;
      if (depth === 1 && v.slice(i, j + 1) === '"allowed"') {
        const m = /^\s*:\s*(true|false)\b/.exec(v.slice(j + 1));
        if (m) return m[1] === 'true';
      }
      i = j;
    } else if (ch === '{' || ch === '[' || ch === '(') depth++;
    else if (ch === '}' || ch === ']' || ch === ')') depth--;
  }
  return undefined;
}

const IDENT = '[A-Za-z_][A-Za-z0-9_]*';
const PACKAGE_RE = /^package\s+(\S+)$/;
const DEFAULT_RE = new RegExp(`^default\\s+(${IDENT})\\s*(:=|=)\\s*(.*)$`);
// A rule head: a name, then a body, a condition, a value or a key/argument list.
const HEAD_RE = new RegExp(`^(${IDENT})\\s*(?:if\\b|\\{|:=|=(?!=)|\\[|\\(|contains\\b)`);
const KEYWORDS = new Set(['package', 'import', 'default', 'else', 'some', 'every', 'not', 'with', 'as']);

function shorten(statement: string): string {
  return statement.length > 200 ? `${statement.slice(0, 197)}...` : statement;
}

/**
 * Parses a Kata agent policy. Throws PolicyError (code INVALID_POLICY) when the text is not Rego in
 * `package agent_policy`, when a request rule's default is not a boolean, or when one rule has two
 * defaults that disagree.
 */
export function parsePolicy(regoText: string): RequestPolicy {
  if (typeof regoText !== 'string') throw new PolicyError('policy text must be a string');
  const statements = topLevelStatements(regoText);
  const first = statements[0];
  if (!first) throw new PolicyError(`policy is empty: expected "package ${POLICY_PACKAGE}"`);
  const pkg = PACKAGE_RE.exec(first.text);
  if (!pkg) {
    throw new PolicyError(`not a Rego policy: the first statement must be "package ${POLICY_PACKAGE}"`, first.line);
  }
  if (pkg[1] !== POLICY_PACKAGE) {
    throw new PolicyError(
      `policy is in package ${pkg[1]}; the kata-agent only reads package ${POLICY_PACKAGE}`,
      first.line,
    );
  }

  const defaults = new Map<string, PolicyDefault>();
  const conditionalRules = new Set<string>();
  for (const st of statements.slice(1)) {
    if (PACKAGE_RE.test(st.text)) {
      throw new PolicyError(`a second package statement on line ${st.line}`, st.line);
    }
    const d = DEFAULT_RE.exec(st.text);
    if (d) {
      const name = d[1]!;
      const value = decisionValue(d[3]!);
      if (value === undefined) {
        if (isRequestRuleName(name) || name === ALLOW_FAILURES_RULE) {
          throw new PolicyError(
            `line ${st.line}: default ${name} must be true or false, not ${shorten(d[3]!.trim())}`,
            st.line,
          );
        }
        continue; // A helper's default (a number, a set, …): not a decision.
      }
      const prev = defaults.get(name);
      if (prev) {
        if (prev.value !== value) {
          throw new PolicyError(
            `line ${st.line}: default ${name} is ${value} here but ${prev.value} on line ${prev.line}`,
            st.line,
          );
        }
        continue;
      }
      defaults.set(name, { value, statement: shorten(st.text), line: st.line });
      continue;
    }
    if (st.text.startsWith('default ')) continue;
    const head = HEAD_RE.exec(st.text);
    if (head && !KEYWORDS.has(head[1]!)) conditionalRules.add(head[1]!);
  }

  return {
    package: POLICY_PACKAGE,
    defaults,
    conditionalRules,
    allowRequestsFailingPolicy: defaults.get(ALLOW_FAILURES_RULE)?.value === true && !conditionalRules.has(ALLOW_FAILURES_RULE),
    digest: createHash('sha256').update(regoText).digest('hex'),
  };
}
