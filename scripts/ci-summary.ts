/**
 * The last lines of `.ci/run`: one line per test run, one line for the checks, then the total
 * `N passed, N failed[, N skipped]`. Exits 1 when anything failed.
 *
 * The counting rules are described in one place, the comment at the top of .ci/run; this module
 * implements them (countVitest, summarise). One detail that comment leaves out: the `describe`
 * blocks are not counted because vitest's numFailedTestSuites counts them (one failing test in two
 * nested blocks is 3 "suites"), so the counts come from each file's assertionResults.
 *
 *   tsx scripts/ci-summary.ts --check typecheck=0 --check lint=0 \
 *     --run 'node 20=.tmp/vitest-results.json:0' --run 'node 26=.tmp/vitest-lts.json:0'
 *
 * (`--check NAME=EXIT_CODE`, `--run LABEL=JSON_FILE:EXIT_CODE`, in the order they are printed.)
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { messageOf } from '../src/util/errors.js';

/** The part of vitest's JSON reporter output that is read here. */
export interface VitestJson {
  testResults: {
    name: string;
    status: string;
    message?: string;
    assertionResults: { status: string; fullName?: string }[];
  }[];
}

export interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

export interface RunCounts extends Counts {
  /** Files that failed without a failed test (each counted as one failure), with vitest's reason. */
  brokenFiles: { name: string; message: string }[];
}

const SKIPPED = new Set(['skipped', 'pending', 'todo', 'disabled']);

export function countVitest(json: VitestJson): RunCounts {
  const counts: RunCounts = { passed: 0, failed: 0, skipped: 0, brokenFiles: [] };
  for (const file of json.testResults) {
    let failedHere = 0;
    for (const test of file.assertionResults) {
      if (test.status === 'passed') counts.passed++;
      else if (test.status === 'failed') failedHere++;
      else if (SKIPPED.has(test.status)) counts.skipped++;
    }
    counts.failed += failedHere;
    if (file.status === 'failed' && failedHere === 0) {
      counts.failed++;
      counts.brokenFiles.push({ name: file.name, message: (file.message ?? '').split('\n')[0] ?? '' });
    }
  }
  return counts;
}

export interface RunInput {
  label: string;
  /** The parsed JSON, or the reason it could not be read. */
  results: VitestJson | { error: string };
  exitCode: number;
}

export interface CheckInput {
  name: string;
  exitCode: number;
}

export interface Summary extends Counts {
  lines: string[];
}

const countLine = (c: Counts): string => `${c.passed} passed, ${c.failed} failed` + (c.skipped ? `, ${c.skipped} skipped` : '');

export function summarise(runs: RunInput[], checks: CheckInput[]): Summary {
  const total: Counts = { passed: 0, failed: 0, skipped: 0 };
  const lines: string[] = [];
  for (const run of runs) {
    let counts: Counts;
    if ('error' in run.results) {
      counts = { passed: 0, failed: 1, skipped: 0 };
      lines.push(`${run.label}: no test results (${run.results.error}); counted as 1 failed`);
    } else {
      const c = countVitest(run.results);
      for (const f of c.brokenFiles) lines.push(`${run.label}: ${f.name} failed without a failed test (${f.message || 'see the output above'}); counted as 1 failed`);
      // vitest exited non-zero (a crash, an unhandled error between tests) yet nothing was counted as failed.
      if (run.exitCode !== 0 && c.failed === 0) {
        c.failed = 1;
        lines.push(`${run.label}: vitest exited ${run.exitCode} with no failed test; counted as 1 failed`);
      }
      counts = c;
    }
    lines.push(`${run.label}: ${countLine(counts)}`);
    total.passed += counts.passed;
    total.failed += counts.failed;
    total.skipped += counts.skipped;
  }
  if (checks.length > 0) {
    lines.push(`checks: ${checks.map((c) => `${c.name} ${c.exitCode === 0 ? 'ok' : 'FAILED'}`).join(', ')}`);
    for (const c of checks) {
      if (c.exitCode === 0) total.passed++;
      else total.failed++;
    }
  }
  lines.push(countLine(total));
  return { ...total, lines };
}

function readResults(path: string): VitestJson | { error: string } {
  try {
    const json = JSON.parse(readFileSync(path, 'utf8')) as VitestJson;
    if (!Array.isArray(json.testResults)) return { error: `${path} has no testResults` };
    return json;
  } catch (err) {
    return { error: messageOf(err) };
  }
}

/** Parses the command line (see the top of this file). */
export function parseArgs(argv: string[]): { runs: { label: string; path: string; exitCode: number }[]; checks: CheckInput[] } {
  const runs: { label: string; path: string; exitCode: number }[] = [];
  const checks: CheckInput[] = [];
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--check') {
      const m = /^(.+)=(-?\d+)$/.exec(value);
      if (!m) throw new Error(`--check ${value}: expected NAME=EXIT_CODE`);
      checks.push({ name: m[1]!, exitCode: Number(m[2]) });
    } else if (flag === '--run') {
      const m = /^([^=]+)=(.+):(-?\d+)$/.exec(value);
      if (!m) throw new Error(`--run ${value}: expected LABEL=JSON_FILE:EXIT_CODE`);
      runs.push({ label: m[1]!, path: m[2]!, exitCode: Number(m[3]) });
    } else {
      throw new Error(`unknown argument ${flag}`);
    }
  }
  return { runs, checks };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  let args: ReturnType<typeof parseArgs>;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`ci-summary: ${messageOf(err)}`);
    console.log('0 passed, 1 failed');
    process.exit(2);
  }
  const summary = summarise(
    args.runs.map((r) => ({ label: r.label, results: readResults(r.path), exitCode: r.exitCode })),
    args.checks,
  );
  for (const line of summary.lines) console.log(line);
  process.exit(summary.failed > 0 ? 1 : 0);
}
