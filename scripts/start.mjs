/**
 * `npm start` (`exec node scripts/start.mjs [args]`): builds dist/ only when it is missing or
 * older than its sources, then runs the daemon in this very process.
 *
 * - Stale means: no dist/.build-stamp, no dist/cli/cloud-api-adaptor.js, or a file or folder under
 *   src/ (a folder's time changes when a file is added, renamed or removed), tsconfig.json or
 *   package.json newer than the stamp. The stamp gets the time the build *started*, so an edit made
 *   during a build is seen by the next start.
 * - The daemon runs in this process (the CLI module is imported, not spawned), and package.json's
 *   `exec` replaces npm's shell with it: SIGTERM/SIGINT sent to `npm start` reach the daemon
 *   itself, which shuts down as it does when run directly, and its exit code is npm's.
 *
 * Plain JavaScript (no TypeScript loader) so that it runs before anything is built.
 */
import { spawn } from 'node:child_process';
import console from 'node:console';
import { existsSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { URL, fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Where the build stamp and the CLI's entry point are under a checkout at `base`. */
function distPaths(base) {
  return { stamp: join(base, 'dist', '.build-stamp'), entry: join(base, 'dist', 'cli', 'cloud-api-adaptor.js') };
}

/** The newest modification time (ms) of `path` and, for a folder, of everything under it. */
function newestMtime(path) {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return 0;
  let newest = st.mtimeMs;
  if (st.isDirectory()) for (const name of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, name)));
  return newest;
}

/** Why dist/ must be built before the daemon can start, or undefined when it is up to date. */
export function staleReason(base = root) {
  const dist = distPaths(base);
  const stamp = statSync(dist.stamp, { throwIfNoEntry: false });
  if (!stamp || !existsSync(dist.entry)) return 'no build yet';
  for (const input of ['src', 'tsconfig.json', 'package.json']) {
    if (newestMtime(join(base, input)) > stamp.mtimeMs) return `${input} changed since the last build`;
  }
  return undefined;
}

/** Runs tsc; SIGINT/SIGTERM meanwhile go to tsc, and the launcher exits with tsc's failure. */
function build() {
  return new Promise((resolve) => {
    const tsc = spawn(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });
    const forward = (sig) => tsc.kill(sig);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    tsc.on('exit', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve(code ?? (signal === 'SIGINT' ? 130 : 143));
    });
    tsc.on('error', (err) => {
      console.error(`npm start: cannot run tsc: ${err.message}`);
      resolve(1);
    });
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { stamp: STAMP, entry: ENTRY } = distPaths(root);
  const reason = staleReason();
  if (reason) {
    console.error(`npm start: building dist/ with tsc (${reason})`);
    const started = new Date();
    const code = await build();
    if (code !== 0) {
      console.error(`npm start: the build failed (tsc exited ${code}); not starting the daemon`);
      process.exit(code);
    }
    writeFileSync(STAMP, `built ${started.toISOString()} from src/ by scripts/start.mjs\n`);
    utimesSync(STAMP, started, started);
  } else {
    console.error('npm start: dist/ is up to date with src/; not rebuilding');
  }
  // The CLI reads its arguments from process.argv, as if it had been run as `node dist/cli/cloud-api-adaptor.js …`.
  process.argv[1] = ENTRY;
  await import(pathToFileURL(ENTRY).href);
}
