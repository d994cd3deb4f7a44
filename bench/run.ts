/**
 * Benchmark runner: `npm run bench [-- NAME_FILTER]` runs every registered benchmark whose name
 * contains the filter (all of them without one), one after the other.
 */
import { ttrpcBench } from './ttrpc/index.js';
import { tunnelBench } from './tunnel/index.js';

interface Benchmark {
  name: string;
  run(): Promise<void>;
}

const benchmarks: Benchmark[] = [
  { name: 'ttrpc', run: ttrpcBench },
  { name: 'tunnel', run: tunnelBench },
  { name: 'lifecycle', run: async () => (await import('./lifecycle/index.js')).lifecycleBench() },
  { name: 'providers', run: async () => (await import('./providers/index.js')).providersBench() },
  { name: 'vxlan', run: async () => (await import('./vxlan/index.js')).vxlanBench() },
  { name: 'memory', run: async () => (await import('./memory/index.js')).memoryBench() },
  { name: 'libvirt-startup', run: async () => (await import('./libvirt-startup/index.js')).libvirtStartupBench() },
  { name: 'policy', run: async () => (await import('./policy/index.js')).policyBench() },
  { name: 'local-starts', run: async () => (await import('./local-starts/index.js')).localStartsBench() },
];

const filter = process.argv[2];
const selected = benchmarks.filter((b) => !filter || b.name.includes(filter));
if (selected.length === 0) {
  console.error(`no benchmark matches "${filter}"; known: ${benchmarks.map((b) => b.name).join(', ')}`);
  process.exit(1);
}
for (const b of selected) {
  console.log(`## ${b.name}\n`);
  await b.run();
}
