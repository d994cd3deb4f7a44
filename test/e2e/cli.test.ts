/**
 * The daemon as an operator runs it: the CLI in a child process, the local provider, real signals.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { access, chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hypervisor } from '../../src/proto/gen/hypervisor/hypervisor_pb.js';
import { TtrpcClient } from '../../src/ttrpc/client.js';
import { serviceClient } from '../../src/ttrpc/typed.js';
import { awsEnv } from '../helpers/aws.js';
import { SANDBOX_ID, shimAnnotations } from '../helpers/daemon-harness.js';
import { FakeEc2 } from '../fakes/ec2/index.js';
import { bundleEsm } from '../../podvm/bundle.js';

const CLI = new URL('../../src/cli/cloud-api-adaptor.ts', import.meta.url).pathname;
const TSX = new URL('../../node_modules/.bin/tsx', import.meta.url).pathname;

interface Run {
  child: ChildProcess;
  out: string[];
  exited: Promise<number | null>;
}

const FORWARDER_CLI = new URL('../../src/cli/agent-protocol-forwarder.ts', import.meta.url).pathname;

function run(args: string[], env: Record<string, string> = {}, cli = CLI): Run {
  const child = spawn(TSX, [cli, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: string[] = [];
  child.stdout!.on('data', (d: Buffer) => out.push(d.toString()));
  child.stderr!.on('data', (d: Buffer) => out.push(d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, out, exited };
}

async function until(r: Run, text: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!r.out.join('').includes(text)) {
    if (Date.now() > end) throw new Error(`no "${text}" in output:\n${r.out.join('')}`);
    await new Promise((res) => setTimeout(res, 25));
  }
}

let dir: string;
const running: Run[] = [];

/** The fake cloud of one describe block with the provider's keys for it: started before its tests, closed after them. */
function fakeCloud<F extends { close(): Promise<void> }>(start: () => Promise<{ fake: F; env: Record<string, string> }>): { fake: F; env: Record<string, string> } {
  const cloud = {} as { fake: F; env: Record<string, string> };
  beforeAll(async () => {
    Object.assign(cloud, await start());
  });
  afterAll(async () => {
    await cloud.fake?.close();
  });
  return cloud;
}

/** Waits for the CLI run `r` to end (it is killed after the file if a test fails first), checks its exit code and returns what it printed. */
async function exitsWith(code: number, r: Run): Promise<string> {
  running.push(r);
  expect(await r.exited).toBe(code);
  return r.out.join('');
}
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'caa-cli-'));
});
afterAll(async () => {
  for (const r of running) r.child.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

describe('cloud-api-adaptor CLI', () => {
  it('version', async () => {
    const r = run(['version']);
    expect(await r.exited).toBe(0);
    expect(r.out.join('')).toMatch(/^cloud-api-adaptor \d+\.\d+\.\d+/);
  });

  it('--help lists every option with its environment names, provider options under their provider (-imageid: AZURE_IMAGE_ID too)', async () => {
    const { daemonOptions } = await import('../../src/config/daemon-config.js');
    const { builtinProviders } = await import('../../src/providers/builtin/index.js');
    const r = run(['--help']);
    expect(await r.exited).toBe(0);
    const help = r.out.join('').replace(/\s+/g, ' ');
    const missing: string[] = [];
    const tables = [['', daemonOptions] as const, ...builtinProviders().list().map((p) => [`[${p.name}] `, p.options] as const)];
    for (const [prefix, table] of tables) {
      for (const o of Object.values(table)) {
        const line = `${prefix}${o.description} (env ${o.env.join(', ')})`.replace(/\s+/g, ' ');
        if (!help.includes(line)) missing.push(line);
      }
    }
    expect(missing).toEqual([]);
    expect(help).toMatch(/--subnetid <value> \[aws\] .*\(env AWS_SUBNET_ID\).*; \[azure\] .*\(env AZURE_SUBNET_ID\)/);
    expect(help).toMatch(/--imageid <value> \[aws\] .*\(env PODVM_AMI_ID\).*; \[azure\] .*\(env AZURE_IMAGE_ID\)/);
  });

  it('an unknown provider exits 2 naming the known ones', async () => {
    const r = run(['nosuchcloud']);
    expect(await r.exited).toBe(2);
    expect(r.out.join('')).toMatch(/unknown provider "nosuchcloud"; known providers: aws, azure, ibmcloud, libvirt, local/);
  });

  it('bad configuration exits 2 naming the key', async () => {
    const r = run(['local'], { FORWARDER_PORT: 'http' });
    expect(await r.exited).toBe(2);
    expect(r.out.join('')).toMatch(/FORWARDER_PORT .*expected an integer from 1 to 65535/);
  });

  // Every kind of bad configuration exits 2 (docs/configuration.md); before issue 16 an unknown flag
  // and an unreadable CACERT_FILE exited 1, and PROXY_TIMEOUT=2000h started and broke every StartVM.
  it.each([
    ['an unknown flag', ['local', '--no-such-flag'], {}, /unknown option '--no-such-flag'/],
    ['a flag without its value', ['local', '--proxy-timeout'], {}, /argument missing/],
    ['PROXY_TIMEOUT=2000h', ['local'], { PROXY_TIMEOUT: '2000h' }, /PROXY_TIMEOUT .*"2000h".*expected a duration from 1s to 24h/],
    ['PROXY_TIMEOUT=0s', ['local'], { PROXY_TIMEOUT: '0s' }, /PROXY_TIMEOUT .*"0s".*expected a duration from 1s to 24h/],
    ['POD_SUBNET_CIDRS=notacidr', ['local'], { POD_SUBNET_CIDRS: 'notacidr' }, /POD_SUBNET_CIDRS .*"notacidr" is not a CIDR/],
    ['NODE_NAME=""', ['local'], { NODE_NAME: '' }, /NODE_NAME .*must not be empty/],
    ['an unknown flag of the webhook command', ['webhook', '--no-such-flag'], {}, /unknown option '--no-such-flag'/],
  ])('%s exits 2 naming what is wrong', async (_name, args, env, message) => {
    // Own paths, and killed after the suite: a regression that starts the daemon must not touch /run/peerpod.
    const paths = args[0] === 'local' ? ['--socket', join(dir, 'c.sock'), '--pods-dir', join(dir, 'c'), '--state-dir', join(dir, 'cs')] : [];
    const r = run([args[0]!, ...paths, ...args.slice(1)], env);
    expect(await exitsWith(2, r)).toMatch(message);
  });

  it('a manual-TLS CACERT_FILE that does not exist exits 2 naming it', async () => {
    const sub = join(dir, 'm');
    const r = run(['local', '--socket', join(sub, 'hv.sock'), '--pods-dir', join(sub, 'p'), '--state-dir', join(sub, 'state')], {
      CACERT_FILE: join(sub, 'no-such-ca.pem'),
      CERT_FILE: join(sub, 'no-such-cert.pem'),
      CERT_KEY: join(sub, 'no-such-key.pem'),
    });
    expect(await exitsWith(2, r)).toMatch(/CACERT_FILE .*no-such-ca\.pem: cannot read: no such file/);
  });

  it('the webhook with a serving certificate that does not exist exits 2 naming it', async () => {
    const r = run(['webhook', '--webhook-port', '0', '--webhook-cert-file', join(dir, 'no-such.crt'), '--webhook-key-file', join(dir, 'no-such.key')]);
    expect(await exitsWith(2, r)).toMatch(/no-such\.(crt|key)/);
  });

  it('--help and --version still exit 0', async () => {
    const help = run(['--help']);
    expect(await help.exited).toBe(0);
    expect(help.out.join('')).toMatch(/Usage: cloud-api-adaptor/);
    const version = run(['--version']);
    expect(await version.exited).toBe(0);
  });

  // Another user than root: setpriv (util-linux) drops to nobody. As that user the default paths under /run/peerpod cannot be created.
  // Nobody may not be able to read the checkout (a clone under a 0700 folder such as mktemp -d's): it runs
  // the CLI bundled into one module (as the pod VM runs the forwarder) from a folder anyone can read.
  let bundled: Promise<string> | undefined;
  const nobodyCli = (): Promise<string> =>
    (bundled ??= (async () => {
      const out = await mkdtemp(join(tmpdir(), 'caa-cli-bundle-'));
      await chmod(out, 0o755);
      const file = join(out, 'cloud-api-adaptor.mjs');
      await writeFile(file, await bundleEsm(CLI), { mode: 0o644 });
      return file;
    })());
  afterAll(async () => {
    if (bundled) await rm(dirname(await bundled), { recursive: true, force: true });
  });
  const asNobody = async (args: string[]): Promise<Run> => {
    const child = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, await nobodyCli(), ...args], {
      cwd: '/',
      env: { ...process.env, HOME: '/tmp', NODE_EXTRA_CA_CERTS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: string[] = [];
    child.stdout!.on('data', (d: Buffer) => out.push(d.toString()));
    child.stderr!.on('data', (d: Buffer) => out.push(d.toString()));
    return { child, out, exited: new Promise<number | null>((r) => child.on('exit', (code) => r(code))) };
  };
  const notRoot = process.getuid?.() !== 0 ? ' (skipped: needs root to run the CLI as another user with setpriv)' : '';

  it.skipIf(notRoot !== '')(`as a non-root user with the default paths: exits 2 naming the path and the flags that move every path${notRoot}`, async () => {
    const r = await asNobody(['local', '--probe-port', '0']);
    const out = await exitsWith(2, r);
    expect(out).toMatch(/cannot create or write \/run\/peerpod\S*, needed for /);
    expect(out).toContain('running as uid 65534');
    expect(out).toContain('which needs root: run the daemon as root, or move every path somewhere writable with --socket / REMOTE_HYPERVISOR_ENDPOINT, --pods-dir / PODS_DIR and --state-dir / CAA_STATE_DIR');
  });

  it.skipIf(notRoot !== '')(`as a non-root user with only the state dir left at its default: names CAA_STATE_DIR${notRoot}`, async () => {
    const own = join(dir, 'n');
    await mkdir(own);
    await chown(own, 65534, 65534);
    await chmod(dir, 0o711); // mkdtemp's 0700 would keep nobody out of its own folder
    const r = await asNobody(['local', '--probe-port', '0', '--socket', join(own, 'hv.sock'), '--pods-dir', join(own, 'p')]);
    expect(await exitsWith(2, r)).toMatch(/cannot create or write \/run\/peerpod\S*, needed for the state dir \(CAA_STATE_DIR \/ --state-dir\)/);
  });

  it('serves the shim, stops on SIGTERM keeping the sandbox state, re-adopts it on restart', async () => {
    const args = ['local', '-socket', join(dir, 'hv.sock'), '-pods-dir', join(dir, 'pods'), '--state-dir', join(dir, 'state'), '--log-level', 'debug', '-disable-tls'];
    const first = run(args, { CERT_KEY: '/very/secret.key' });
    running.push(first);
    await until(first, 'serving hypervisor.Hypervisor');
    const logText = first.out.join('');
    expect(logText).toContain('"certKey":"<redacted>"');
    expect(logText).not.toContain('/very/secret.key');

    const client = await TtrpcClient.connectUnix(join(dir, 'hv.sock'));
    const hv = serviceClient(client, Hypervisor);
    await hv.createVM({ id: SANDBOX_ID, annotations: shimAnnotations(), networkNamespacePath: '' });
    client.close();
    await until(first, `create a sandbox ${SANDBOX_ID} for pod nginx in namespace default (netns: )`);

    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(first.out.join('')).toContain('VMs are left running');
    await expect(access(join(dir, 'hv.sock'))).rejects.toThrow();
    await access(join(dir, 'pods', SANDBOX_ID, 'state.json'));

    const second = run(args);
    running.push(second);
    await until(second, `re-adopted sandbox ${SANDBOX_ID}`);
    await until(second, 'serving hypervisor.Hypervisor');
    const c2 = await TtrpcClient.connectUnix(join(dir, 'hv.sock'));
    await serviceClient(c2, Hypervisor).stopVM({ id: SANDBOX_ID });
    await until(second, `sandbox ${SANDBOX_ID} removed`);
    c2.close();
    second.child.kill('SIGINT');
    expect(await second.exited).toBe(0);
  }, 180_000); // two daemon start-ups through tsx: slow on a busy machine
});

describe('agent-protocol-forwarder CLI: bad flags exit 2', () => {
  it.each([
    ['an unknown flag', ['--no-such-flag'], /unknown option '--no-such-flag'/],
    ['--agent-wait 2000h', ['--agent-wait', '2000h'], /--agent-wait = "2000h": out of range: expected a duration from 1s to 1h/],
    ['--mtu-ceiling abc', ['--mtu-ceiling', 'abc'], /--mtu-ceiling = "abc": expected an integer from 68 to 65535/],
    ['provision-files --timeout soon', ['provision-files', '--timeout', 'soon', '--root', '/nonexistent-root'], /--timeout = "soon": invalid duration/],
  ])('%s', async (_name, args, message) => {
    const r = run(args, {}, FORWARDER_CLI);
    expect(await r.exited).toBe(2);
    expect(r.out.join('')).toMatch(message);
  });
});

describe('cloud-api-adaptor aws --verify (against the fake EC2)', () => {
  let fake: FakeEc2;
  beforeAll(async () => {
    fake = await FakeEc2.start();
  });
  afterAll(async () => {
    await fake.close();
  });

  it('prints one line per check and exits 0 when all pass', async () => {
    const r = run(['aws', '--verify'], awsEnv(fake));
    const out = await exitsWith(0, r);
    expect(out).toMatch(/^ok {3}credentials: EC2 answers/m);
    expect(out).toMatch(/^ok {3}image: ami-0fake0000000000001: root \/dev\/xvda/m);
    expect(out).toMatch(/^aws: all 9 checks passed$/m);
  });

  it('a Go-style provider flag overrides the environment, and a failing check exits 1', async () => {
    const r = run(['aws', '-verify', '-imageid', 'ami-0000000000000dead'], awsEnv(fake));
    const out = await exitsWith(1, r);
    expect(out).toMatch(/^FAIL image: PODVM_AMI_ID ami-0000000000000dead/m);
    expect(out).toMatch(/^aws: \d+ of 9 checks failed$/m);
  });

  it('--reap-dry-run prints the instances of this cluster and node that no sandbox owns, and deletes nothing', async () => {
    const { startAws } = await import('../helpers/aws.js');
    const { request } = await import('../providers/contract/provider-contract.js');
    const aws = await startAws();
    try {
      const mine = await aws.provider.createInstance(request({ clusterName: 'prod', nodeName: 'node-7' }), AbortSignal.timeout(10_000));
      await aws.provider.createInstance(request({ clusterName: 'prod', nodeName: 'node-8' }), AbortSignal.timeout(10_000));
      const r = run(['aws', '--reap-dry-run', '-pods-dir', join(dir, 'reap-pods')], { ...aws.env, CLUSTER_NAME: 'prod', NODE_NAME: 'node-7' });
      const out = await exitsWith(0, r);
      expect(out).toMatch(new RegExp(`^would delete ${mine.id} podvm-contract-pod-`, 'm'));
      expect(out).toMatch(/^1 instance\(s\) of cluster prod, node node-7 without a sandbox/m);
      expect(aws.fake.liveInstances()).toHaveLength(2);
    } finally {
      await aws.close();
    }
  });

  it('CLOUD_CONFIG_VERIFY=true refuses to start on a failing check, naming it (exit 2)', async () => {
    const r = run(['aws', '-socket', join(dir, 'aws.sock'), '-pods-dir', join(dir, 'aws-pods')], { ...awsEnv(fake), CLOUD_CONFIG_VERIFY: 'true', AWS_SG_IDS: 'sg-0000000000000dead' });
    expect(await exitsWith(2, r)).toMatch(/CLOUD_CONFIG_VERIFY: security groups: .*sg-0000000000000dead/);
  });
});

describe('cloud-api-adaptor ibmcloud --verify (against the fake VPC)', () => {
  const cloud = fakeCloud(async () => {
    const { FakeVpc } = await import('../fakes/vpc/index.js');
    const { ibmcloudEnv } = await import('../helpers/ibmcloud.js');
    const fake = await FakeVpc.start();
    return { fake, env: ibmcloudEnv(fake) };
  });

  it('prints one line per check and exits 0 when all pass', async () => {
    const r = run(['ibmcloud', '--verify'], cloud.env);
    const out = await exitsWith(0, r);
    expect(out).toMatch(/^ok {3}credentials: API key: IAM token issued, VPC answers: \d+ regions visible$/m);
    expect(out).toMatch(/^ok {3}instance profiles: .*bx3dc-2x10 \(2 vCPU, 10240 MiB, amd64, TDX\).*; all confidential$/m);
    expect(out).toMatch(/^ibmcloud: all 9 checks passed$/m);
    expect(cloud.fake.liveInstances()).toHaveLength(0);
  });

  it('a Go-style provider flag overrides the environment, and a failing check exits 1', async () => {
    const r = run(['ibmcloud', '-verify', '-profile-list', 'bx3dc-2x10,bx2-2x8'], cloud.env);
    const out = await exitsWith(1, r);
    expect(out).toMatch(/^FAIL instance profiles: instance profile\(s\) bx2-2x8 cannot run confidential VMs/m);
    expect(out).toMatch(/^ibmcloud: 1 of \d+ checks failed$/m);
  });
});

describe('cloud-api-adaptor azure --verify (against the fake ARM over HTTPS)', () => {
  // The CLI child inherits NODE_EXTRA_CA_CERTS from this worker (test/fakes/arm/global-setup.ts).
  const cloud = fakeCloud(async () => {
    const { FakeArm } = await import('../fakes/arm/index.js');
    const { azureEnv } = await import('../helpers/azure.js');
    const fake = await FakeArm.start();
    return { fake, env: azureEnv(fake) };
  });

  it('prints one line per check and exits 0 when all pass', async () => {
    const r = run(['azure', '--verify'], cloud.env);
    const out = await exitsWith(0, r);
    expect(out).toMatch(/^ok {3}credentials: service principal \(client secret\): token for https:\/\/127\.0\.0\.1:\d+\/\.default acquired/m);
    expect(out).toMatch(/^ok {3}image: gallery image podvmGallery\/podvm version 0\.2\.0/m);
    expect(out).toMatch(/^azure: all 6 checks passed$/m);
    expect(out).not.toContain(cloud.env.AZURE_CLIENT_SECRET);
    expect(cloud.fake.vms()).toHaveLength(0);
  });

  it('a Go-style provider flag overrides the environment, and a failing check exits 1', async () => {
    const r = run(['azure', '-verify', '-resourcegroup', 'no-such-rg'], cloud.env);
    const out = await exitsWith(1, r);
    expect(out).toMatch(/^FAIL resource group: no-such-rg does not exist in subscription [0-9a-f-]+ \(Azure virtualMachines\.list: ResourceGroupNotFound: HTTP 404 while listing\)$/m);
    expect(out).toMatch(/^azure: 1 of 6 checks failed$/m);
  });
});
