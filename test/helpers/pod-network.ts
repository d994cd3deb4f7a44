/**
 * Whether the tests that give a local peer pod a real pod network can run here: root, and the host
 * tools of scripts/host-tools.ts. Without them they skip with the reason — except in CI, which
 * installs them and sets CAA_REQUIRE_PODNET=1, so that a missing tool is a failure, not a skip.
 */
import { it } from 'vitest';
import { POD_NETWORK_TOOLS, installHint, missingTools, type HostTool } from '../../scripts/host-tools.js';

export const POD_NETWORK_REQUIRED = process.env.CAA_REQUIRE_PODNET === '1';

/**
 * For a test file whose pod network tests cannot run (`unavailable` set): in CI (CAA_REQUIRE_PODNET=1)
 * a failing test that says why; elsewhere a warning, and the caller's describe/it skips with the reason.
 */
export function skipOrRequirePodNetwork(unavailable: string | undefined, what: string): void {
  if (!unavailable) return;
  if (POD_NETWORK_REQUIRED) {
    it(`the pod network tools are installed (CAA_REQUIRE_PODNET=1): ${what}`, () => {
      throw new Error(`${what} cannot run: ${unavailable}`);
    });
  } else {
    console.warn(`[pod network] skipping ${what}: ${unavailable}`);
  }
}

/** Why pod network tests cannot run here, or undefined when they can. `extra`: tools the test itself also runs. */
export async function podNetworkUnavailable(extra: readonly HostTool[] = []): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'needs root (creates network namespaces)';
  const missing = await missingTools([...POD_NETWORK_TOOLS, ...extra]);
  return missing.length > 0 ? installHint(missing) : undefined;
}
