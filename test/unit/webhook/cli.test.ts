/** `cloud-api-adaptor webhook` as the Deployment runs it: env configuration, a log line when listening, SIGTERM. */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTempDir, removeDir, waitFor } from '../../helpers/async.js';
import { testPki } from '../../helpers/test-certs.js';
import { fixture } from './fixtures.js';

const CLI = new URL('../../../src/cli/cloud-api-adaptor.ts', import.meta.url).pathname;
const TSX = new URL('../../../node_modules/.bin/tsx', import.meta.url).pathname;

interface Run {
  child: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}

const running: Run[] = [];
let dir: string;
let ca: string;

function run(args: string[], env: Record<string, string>): Run {
  const child = spawn(TSX, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const r = { child, out: () => out, exited: new Promise<number | null>((res) => child.on('exit', (code) => res(code))) };
  running.push(r);
  return r;
}

beforeEach(async () => {
  dir = await makeTempDir('caa-webhook-cli-');
  const pki = await testPki('localhost');
  ca = pki.ca;
  await writeFile(join(dir, 'tls.crt'), pki.server.cert);
  await writeFile(join(dir, 'tls.key'), pki.server.key);
});
afterEach(async () => {
  for (const r of running.splice(0)) if (r.child.exitCode === null) r.child.kill('SIGKILL');
  await removeDir(dir);
});

describe('cloud-api-adaptor webhook', () => {
  it('serves with the environment configuration and stops on SIGTERM', async () => {
    const r = run(['webhook', '--log-level', 'debug'], {
      WEBHOOK_HOST: '127.0.0.1',
      WEBHOOK_PORT: '0',
      WEBHOOK_CERT_FILE: join(dir, 'tls.crt'),
      WEBHOOK_KEY_FILE: join(dir, 'tls.key'),
      LOG_LEVEL: 'info',
    });
    await waitFor(() => /webhook listening on 127\.0\.0\.1:\d+/.test(r.out()), 'the listening log line', 20_000);
    const line = r.out().split('\n').find((l) => l.includes('webhook listening'))!;
    const log = JSON.parse(line) as { port: number; program: string; component: string; level: string };
    expect(log).toMatchObject({ program: 'peer-pods-webhook', component: 'webhook' });
    const review = await fixture('review-other-runtimeclass.json');
    const reply = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port: log.port, method: 'POST', path: '/mutate-v1-pod', servername: 'localhost', ca, agent: false, headers: { 'content-length': Buffer.byteLength(review) } },
        (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        },
      );
      req.on('error', reject);
      req.end(review);
    });
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toMatchObject({ response: { allowed: true } });
    // --log-level (the program's flag) reached the webhook over LOG_LEVEL=info: the skip is logged at debug.
    await waitFor(() => r.out().includes('pod skipped'), 'the debug line', 5000);
    expect(r.out()).toMatch(/"level":"debug".*"pod skipped"/);
    r.child.kill('SIGTERM');
    expect(await r.exited).toBe(0);
    expect(r.out()).toMatch(/SIGTERM received/);
  });

  it('a bad key exits 2 naming it; an unreadable certificate exits 2 (bad configuration) naming the file', async () => {
    const bad = run(['webhook'], { WEBHOOK_PORT: 'https' });
    expect(await bad.exited).toBe(2);
    expect(bad.out()).toMatch(/WEBHOOK_PORT \/ --webhook-port = "https"/);
    const missing = run(['webhook'], { WEBHOOK_HOST: '127.0.0.1', WEBHOOK_PORT: '0', WEBHOOK_CERT_FILE: join(dir, 'nope.crt'), WEBHOOK_KEY_FILE: join(dir, 'tls.key') });
    expect(await missing.exited).toBe(2);
    expect(missing.out()).toContain(`cannot read the certificate ${join(dir, 'nope.crt')}`);
  });

  it('--help lists the flags with their environment names', async () => {
    const r = run(['webhook', '--help'], {});
    expect(await r.exited).toBe(0);
    for (const flag of ['--target-runtimeclass', '--pod-vm-extended-resource', '--webhook-port', '--webhook-cert-file', '--webhook-key-file']) expect(r.out()).toContain(flag);
    expect(r.out()).toContain('env WEBHOOK_CERT_FILE');
  });
});
