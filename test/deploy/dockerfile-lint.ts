/**
 * A small Dockerfile reader and linter for deploy/image/Dockerfile: there is no container engine on these
 * machines, so the image is checked as text. It understands what that file uses (comments, `\` continuations,
 * `--flag=value` options, exec-form JSON, stages with `AS`, global ARGs); heredocs are refused.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export interface Instruction {
  keyword: string;
  /** Options before the arguments, e.g. `{ from: 'build' }` for `COPY --from=build`. */
  flags: Record<string, string>;
  /** The arguments after the options, continuation lines joined. */
  args: string;
  /** 1-based line of the keyword. */
  line: number;
}

export interface Stage {
  /** The name after `AS`, if any. */
  name: string | undefined;
  /** The image or stage after FROM (global ARGs substituted). */
  from: string;
  line: number;
  instructions: Instruction[];
}

export interface Dockerfile {
  /** Instructions before the first FROM (ARG only). */
  preamble: Instruction[];
  stages: Stage[];
}

export function parseDockerfile(text: string): Dockerfile {
  const logical: Array<{ text: string; line: number }> = [];
  let current: { text: string; line: number } | undefined;
  text.split('\n').forEach((raw, i) => {
    const trimmed = raw.trim();
    // Comment lines are dropped, also inside a continuation (as Docker does).
    if (trimmed.startsWith('#')) return;
    if (current === undefined) {
      if (trimmed === '') return;
      current = { text: '', line: i + 1 };
    }
    const continued = /\\\s*$/.test(raw);
    current.text += `${continued ? raw.replace(/\\\s*$/, '') : raw} `;
    if (!continued) {
      logical.push({ text: current.text.trim(), line: current.line });
      current = undefined;
    }
  });
  if (current) logical.push({ text: current.text.trim(), line: current.line });

  const df: Dockerfile = { preamble: [], stages: [] };
  const globalArgs = new Map<string, string>();
  for (const { text: l, line } of logical) {
    const m = /^(\S+)\s*(.*)$/.exec(l)!;
    const keyword = m[1]!.toUpperCase();
    let rest = m[2]!;
    if (/<<-?["']?[A-Za-z_]/.test(rest)) throw new Error(`line ${line}: heredocs are not supported by this checker`);
    const flags: Record<string, string> = {};
    for (let f = /^--([a-z-]+)(?:=(\S*))?\s*/.exec(rest); f; f = /^--([a-z-]+)(?:=(\S*))?\s*/.exec(rest)) {
      flags[f[1]!] = f[2] ?? 'true';
      rest = rest.slice(f[0].length);
    }
    const ins: Instruction = { keyword, flags, args: rest.trim(), line };
    if (keyword === 'FROM') {
      const fm = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!fm) throw new Error(`line ${line}: cannot read FROM ${ins.args}`);
      const from = fm[1]!.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (all, name: string) => globalArgs.get(name) ?? all);
      df.stages.push({ name: fm[2], from, line, instructions: [] });
    } else if (df.stages.length === 0) {
      if (keyword !== 'ARG') throw new Error(`line ${line}: ${keyword} before the first FROM`);
      const am = /^([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$/.exec(ins.args);
      if (am && am[2] !== undefined) globalArgs.set(am[1]!, am[2].replace(/^"(.*)"$/, '$1'));
      df.preamble.push(ins);
    } else {
      df.stages.at(-1)!.instructions.push(ins);
    }
  }
  return df;
}

/** `["a", "b"]` → ['a', 'b']; undefined for the shell form. */
export function execForm(args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined;
  try {
    const v: unknown = JSON.parse(args);
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined;
  } catch {
    return undefined;
  }
}

/** Sources and destination of a COPY/ADD (exec or plain form). */
export function copyOperands(ins: Instruction): { sources: string[]; dest: string } {
  const parts = execForm(ins.args) ?? ins.args.split(/\s+/);
  return { sources: parts.slice(0, -1), dest: parts.at(-1) ?? '' };
}

/** A `.dockerignore` pattern, as a RegExp over paths relative to the context (`*` stays in one segment). */
function ignoreMatcher(pattern: string): RegExp {
  const body = pattern
    .replace(/^\/+/, '')
    .replace(/\/+$/, '')
    .split('')
    .map((c) => (c === '*' ? '[^/]*' : c === '?' ? '[^/]' : /[.+^${}()|[\]\\]/.test(c) ? `\\${c}` : c))
    .join('')
    .replace(/\[\^\/\]\*\[\^\/\]\*/g, '.*'); // `**`
  return new RegExp(`^${body}$`);
}

/** True when `.dockerignore` lines exclude `path` or one of its parent folders. */
export function isIgnored(path: string, ignoreLines: readonly string[]): boolean {
  const patterns = ignoreLines.map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  const segments = path.replace(/^\.\//, '').replace(/\/+$/, '').split('/');
  let ignored = false;
  for (const p of patterns) {
    const negate = p.startsWith('!');
    const re = ignoreMatcher(negate ? p.slice(1) : p);
    for (let i = 1; i <= segments.length; i++) {
      if (re.test(segments.slice(0, i).join('/'))) ignored = !negate;
    }
  }
  return ignored;
}

const NPM_INSTALL = /\bnpm\s+(ci|install|i)\b[^&;|]*/g;
const OMITS_DEV = /--omit[= ]dev\b|--production\b|--only[= ]prod(uction)?\b/;

/** Every `npm ci` / `npm install` command line of a stage, with whether it leaves out devDependencies. */
function npmInstalls(stage: Stage): Array<{ command: string; prodOnly: boolean }> {
  return stage.instructions
    .filter((i) => i.keyword === 'RUN')
    .flatMap((i) => [...i.args.matchAll(NPM_INSTALL)].map((m) => ({ command: m[0].trim(), prodOnly: OMITS_DEV.test(m[0]) })));
}

/** An image reference must be pinned: a tag other than latest, or a digest. */
function pinProblems(where: string, ref: string): string[] {
  if (/\$/.test(ref)) return [`${where} ${ref} uses an ARG without a default`];
  if (/@sha256:[0-9a-f]{64}$/.test(ref)) return [];
  const tag = /:([^/:]+)$/.exec(ref)?.[1];
  if (tag === undefined) return [`${where} ${ref} is not pinned to a tag`];
  if (tag === 'latest') return [`${where} ${ref} uses the tag latest`];
  return [];
}

export interface LintOptions {
  /** The build context (the repository root): COPY sources must exist there. */
  context: string;
  /** Lines of the context's dockerignore file. */
  ignore: readonly string[];
  /** Stages that are build targets and must be non-root. */
  nonRootTargets: readonly string[];
}

/** Problems of a Dockerfile, each naming its line; [] when it passes. */
export function lintDockerfile(df: Dockerfile, options: LintOptions): string[] {
  const problems: string[] = [];
  const names = new Map<string, Stage>();
  if (df.stages.length < 2) problems.push(`expected a multi-stage build, found ${df.stages.length} stage(s)`);
  const finalTargets = new Set<Stage>([df.stages.at(-1)!, ...df.stages.filter((s) => s.name && options.nonRootTargets.includes(s.name))].filter(Boolean));

  for (const stage of df.stages) {
    const at = `line ${stage.line}`;
    if (!names.has(stage.from)) problems.push(...pinProblems(`${at}: FROM`, stage.from));
    if (stage.name) names.set(stage.name, stage);

    for (const ins of stage.instructions) {
      const where = `line ${ins.line}`;
      const from = ins.flags.from;
      if ((ins.keyword === 'COPY' || ins.keyword === 'ADD') && from !== undefined && !names.has(from) && !/^\d+$/.test(from)) {
        problems.push(...pinProblems(`${where}: COPY --from`, from));
      }
      if (ins.keyword === 'ADD') {
        const { sources } = copyOperands(ins);
        for (const s of sources) if (/^(https?|git|ssh):\/\/|^git@/.test(s)) problems.push(`${where}: ADD of a URL (${s}); download in a RUN step with a checksum, or COPY`);
      }
      if (ins.keyword === 'COPY' || ins.keyword === 'ADD') {
        const { sources } = copyOperands(ins);
        if (from === undefined) {
          for (const s of sources) {
            if (/^[a-z]+:\/\/|^git@/.test(s)) continue; // a URL: reported above for ADD
            if (/[*?[]/.test(s)) problems.push(`${where}: wildcard source ${s} (name the files)`);
            else if (!existsSync(join(options.context, s))) problems.push(`${where}: COPY source ${s} does not exist in the build context`);
            else if (isIgnored(s, options.ignore)) problems.push(`${where}: COPY source ${s} is excluded by the dockerignore file`);
          }
        } else if (sources.some((s) => /(^|\/)node_modules\/?$/.test(s))) {
          const src = names.get(from);
          const installs = src ? npmInstalls(src) : [];
          if (!src) problems.push(`${where}: copies node_modules from ${from}, which is not an earlier stage`);
          else if (installs.length === 0 || installs.some((n) => !n.prodOnly)) {
            problems.push(`${where}: copies node_modules from stage ${from}, which installs devDependencies (${installs.map((n) => n.command).join('; ') || 'no npm ci --omit=dev'})`);
          }
        }
      }
      if (ins.keyword === 'ENTRYPOINT' && !execForm(ins.args)) problems.push(`${where}: ENTRYPOINT must use the exec form (a JSON list), so signals reach the program`);
      if (ins.keyword === 'CMD' && !execForm(ins.args)) problems.push(`${where}: CMD must use the exec form (a JSON list)`);
    }
  }

  for (const stage of finalTargets) {
    const label = stage.name ?? `stage at line ${stage.line}`;
    if (!stage.instructions.some((i) => i.keyword === 'ENTRYPOINT')) problems.push(`target ${label} has no ENTRYPOINT`);
    const devInstall = npmInstalls(stage).find((n) => !n.prodOnly);
    if (devInstall) problems.push(`target ${label} installs devDependencies (${devInstall.command})`);
  }
  for (const target of options.nonRootTargets) {
    const stage = names.get(target);
    if (!stage) {
      problems.push(`no stage named ${target}`);
      continue;
    }
    const user = stage.instructions.filter((i) => i.keyword === 'USER').at(-1)?.args.split(':')[0];
    if (user === undefined) problems.push(`target ${target} has no USER (it would run as root)`);
    else if (user === '0' || user === 'root') problems.push(`target ${target} runs as root (USER ${user})`);
  }
  return problems;
}
