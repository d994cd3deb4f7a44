/**
 * Binds the SandboxManager to the wire: `hypervisor.Hypervisor` and `podvminfo.PodVMInfo` on one
 * ttrpc server (reference §2.1, §3.12). Ids and names are checked here, before anything logs or
 * uses them, on every method (CreateVM checks its own, with its annotations).
 */
import { Hypervisor } from '../proto/gen/hypervisor/hypervisor_pb.js';
import { PodVMInfo } from '../proto/gen/podvminfo/podvminfo_pb.js';
import { registerService } from '../ttrpc/typed.js';
import type { TtrpcServer } from '../ttrpc/server.js';
import { validatePodRef, validateSandboxId } from './annotations.js';
import type { SandboxManager } from './sandbox-manager.js';

/** What `Version` answers; upstream CAA returns this constant. */
export const HYPERVISOR_API_VERSION = '0.0.0';

export function registerHypervisorServices(server: TtrpcServer, manager: SandboxManager): void {
  registerService(server, Hypervisor, {
    createVM: (req, ctx) =>
      manager.createVM({ id: req.id, annotations: req.annotations, networkNamespacePath: req.networkNamespacePath }, ctx.signal),
    startVM: async (req, ctx) => {
      validateSandboxId(req.id);
      await manager.startVM(req.id, ctx.signal);
      return {};
    },
    stopVM: async (req) => {
      validateSandboxId(req.id);
      await manager.stopVM(req.id);
      return {};
    },
    version: () => ({ version: HYPERVISOR_API_VERSION }),
  });
  registerService(server, PodVMInfo, {
    getInfo: async (req, ctx) => {
      validatePodRef(req.PodName, req.PodNamespace);
      return { VMID: await manager.getInfo(req.PodName, req.PodNamespace, req.Wait, ctx.signal) };
    },
  });
}
