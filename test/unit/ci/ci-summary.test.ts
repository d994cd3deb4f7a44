/**
 * The counting of .ci/run's summary (scripts/ci-summary.ts), on real vitest JSON reporter output:
 * a failing test inside nested `describe` blocks, and a test file that cannot be imported.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { countVitest, parseArgs, summarise, type VitestJson } from '../../../scripts/ci-summary.js';

const root = new URL('../../..', import.meta.url).pathname;
const fixture = (name: string): string => `${root}test/fixtures/ci/${name}`;
const load = (name: string): VitestJson & Record<string, unknown> => JSON.parse(readFileSync(fixture(name), 'utf8')) as VitestJson & Record<string, unknown>;

describe('ci-summary: counting vitest results', () => {
  it('one failing test in two nested describe blocks is 1 failed, not the 3 "failed suites" vitest also reports', () => {
    const json = load('vitest-nested-failure.json');
    expect(json.numFailedTestSuites).toBe(3); // the file and both blocks: what the old summary added on top
    expect(countVitest(json)).toEqual({ passed: 1, failed: 1, skipped: 1, brokenFiles: [] });
  });

  it('a file that fails to import, with no test counted, is 1 failed and is named', () => {
    const json = load('vitest-import-failure.json');
    expect(json.numFailedTests).toBe(0);
    const c = countVitest(json);
    expect(c).toMatchObject({ passed: 0, failed: 1, skipped: 0 });
    expect(c.brokenFiles).toEqual([{ name: '/repo/test/unit/broken-import.test.ts', message: expect.stringContaining('no-such-module') }]);
  });

  it('a file whose hook failed after its tests passed counts as one failure too', () => {
    const c = countVitest({ testResults: [{ name: 'x.test.ts', status: 'failed', message: 'afterAll failed', assertionResults: [{ status: 'passed' }, { status: 'passed' }] }] });
    expect(c).toMatchObject({ passed: 2, failed: 1 });
  });
});

describe('ci-summary: the summary lines', () => {
  it('one line per run, the checks on their own line, each check counted as one, runs added up', () => {
    const s = summarise(
      [
        { label: 'node 20', results: load('vitest-nested-failure.json'), exitCode: 1 },
        { label: 'node 24', results: load('vitest-import-failure.json'), exitCode: 1 },
      ],
      [
        { name: 'typecheck', exitCode: 0 },
        { name: 'lint', exitCode: 1 },
      ],
    );
    expect(s.lines).toEqual([
      'node 20: 1 passed, 1 failed, 1 skipped',
      expect.stringMatching(/^node 24: \/repo\/test\/unit\/broken-import\.test\.ts failed without a failed test \(.*no-such-module.*\); counted as 1 failed$/),
      'node 24: 0 passed, 1 failed',
      'checks: typecheck ok, lint FAILED',
      '2 passed, 3 failed, 1 skipped',
    ]);
    expect(s).toMatchObject({ passed: 2, failed: 3, skipped: 1 });
  });

  it('unreadable results, or a non-zero exit with nothing failed, count as one failure', () => {
    const s = summarise(
      [
        { label: 'a', results: { error: 'ENOENT' }, exitCode: 1 },
        { label: 'b', results: { testResults: [{ name: 'ok.test.ts', status: 'passed', assertionResults: [{ status: 'passed' }] }] }, exitCode: 1 },
      ],
      [],
    );
    expect(s.lines.at(-1)).toBe('1 passed, 2 failed');
  });

  it('a green run: no check line without checks, and the total line alone at the end', () => {
    const s = summarise([{ label: 'node 20', results: { testResults: [{ name: 'ok.test.ts', status: 'passed', assertionResults: [{ status: 'passed' }] }] }, exitCode: 0 }], []);
    expect(s.lines).toEqual(['node 20: 1 passed, 0 failed', '1 passed, 0 failed']);
  });

  it('parses its command line and refuses a malformed one', () => {
    expect(parseArgs(['--check', 'lint=2', '--run', 'node 24=/x/y.json:0'])).toEqual({ checks: [{ name: 'lint', exitCode: 2 }], runs: [{ label: 'node 24', path: '/x/y.json', exitCode: 0 }] });
    expect(() => parseArgs(['--run', 'no-exit-code'])).toThrow(/LABEL=JSON_FILE:EXIT_CODE/);
    expect(() => parseArgs(['--bogus', 'x'])).toThrow(/unknown argument/);
  });

  it('as a program: prints the lines and exits 1 when anything failed', async () => {
    const err = await promisify(execFile)(process.execPath, ['--import', 'tsx', `${root}scripts/ci-summary.ts`, '--check', 'typecheck=0', '--check', 'lint=0', '--run', `node 20=${fixture('vitest-nested-failure.json')}:1`], { cwd: root }).then(
      () => expect.unreachable('a failed test must make it exit 1'),
      (e: unknown) => e as { code: number; stdout: string },
    );
    expect(err.code).toBe(1);
    expect(err.stdout.trim().split('\n')).toEqual(['node 20: 1 passed, 1 failed, 1 skipped', 'checks: typecheck ok, lint ok', '3 passed, 1 failed, 1 skipped']);
  });
});
