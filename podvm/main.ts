/**
 * `npm run podvm:build` — builds (or finds cached) the local pod VM image and prints what it holds.
 * Options: `--out DIR` (default podvm/out), `--cache DIR` (default podvm/.cache); PODVM_KERNEL_DEB
 * names a kernel package to use instead of downloading one.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_CACHE, DEFAULT_OUT, buildPodvmImage, describeImage } from './build.js';

const { values } = parseArgs({ options: { out: { type: 'string' }, cache: { type: 'string' } } });
const started = Date.now();
try {
  const image = await buildPodvmImage({
    outDir: values.out ?? DEFAULT_OUT,
    cacheDir: values.cache ?? DEFAULT_CACHE,
    kernelDeb: process.env.PODVM_KERNEL_DEB || undefined,
    log: (line) => console.log(`podvm: ${line}`),
  });
  console.log(describeImage(image));
  console.log(image.cached ? 'inputs unchanged: the cached image was reused' : `built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} catch (err) {
  console.error(`podvm:build failed: ${(err as Error).message}`);
  process.exit(1);
}
