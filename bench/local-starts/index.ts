/**
 * `npm run bench -- local-starts`: N pods (default 100, LOCAL_STARTS_N) CreateVM + StartVM'd at
 * once on the `local` provider through the daemon's real socket (the CLI compiled to plain
 * JavaScript, forwarder processes as production runs them, a namespace and veth each when root),
 * then StopVM'd. Reports how many started, on how many distinct addresses, the wall time and what
 * was left behind. Baseline in the same run: B pods (default 10, LOCAL_STARTS_BASELINE) started
 * one after the other on the same daemon — the per-pod time when nothing else runs. Also: how long
 * a StartVM takes to fail when the forwarder exits at once (an unreadable policy), against that baseline.
 */
import { fmt } from '../stats.js';
import { LocalStartsLab } from '../../test/helpers/local-starts.js';

const N = Number(process.env.LOCAL_STARTS_N ?? 100);
const B = Number(process.env.LOCAL_STARTS_BASELINE ?? 10);

export async function localStartsBench(): Promise<void> {
  // 10.231.0.0/16 and 127.231.x.y: clear of the ranges the tests use. One lab (one build, one
  // daemon) for the baseline, the failing start and the N at once.
  const lab = await LocalStartsLab.create({ n: N, cidrOctet: 231, startTimeoutMs: 300_000 });
  try {
    await lab.startDaemon();
    const base = await lab.startAndStop(true, B);
    const failing = await lab.failingStart();
    const r = await lab.startAndStop();
    await lab.stopDaemon();
    const left = await lab.leftovers();
    const leftCount = Object.values(left).reduce((n, l) => n + l.length, 0);
    const perPodSeq = base.wallMs / B;
    const perPodConc = r.wallMs / N;
    console.log(`${N} pods at once on the local provider (${process.getuid?.() === 0 ? 'netns mode: a namespace and veth each' : 'loopback mode'}), daemon and forwarders as plain JavaScript\n`);
    console.log('| figure | value |');
    console.log('|---|---|');
    console.log(`| StartVMs that succeeded | ${r.started} / ${N} |`);
    console.log(`| distinct instance addresses | ${r.distinctAddresses} / ${r.instances} instances |`);
    console.log(`| wall time, ${N} CreateVM + StartVM at once | ${fmt(r.wallMs / 1000, 1)} s (${fmt(perPodConc, 0)} ms per pod) |`);
    console.log(`| baseline: ${B} pods one after the other, per pod | ${fmt(perPodSeq, 0)} ms (${base.started} / ${B} started) |`);
    console.log(`| per-pod time at once / one after the other | ${fmt(perPodConc / perPodSeq, 2)} |`);
    console.log(`| StartVM of a pod whose forwarder exits at once (PROXY_TIMEOUT 5 min) fails after | ${fmt(failing.ms, 0)} ms (${fmt(failing.ms / perPodSeq, 2)} × a good start) |`);
    console.log(`| left after StopVM and daemon stop (processes, folders, namespaces, links) | ${leftCount} |`);
    console.log(`\nthe failing StartVM's message: ${failing.message}`);
    if (r.failures.length > 0) console.log(`\nfirst failures: ${[...new Set(r.failures)].slice(0, 3).join(' | ')}`);
  } finally {
    await lab.close();
  }
}
