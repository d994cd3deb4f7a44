/**
 * Binds the SandboxManager to the wire: `hypervisor.Hypervisor` and `podvminfo.PodVMInfo` on one
 * ttrpc server (reference §2.1, §3.12).
 */
import { Hypervisor } from '../proto/gen/hypervisor/hypervisor_pb.js';
import { PodVMInfo } from '../proto/gen/podvminfo/podvminfo_pb.js';
import { registerService } from '../ttrpc/typed.js';
import type { TtrpcServer } from '../ttrpc/server.js';
import type { SandboxManager } from './sandbox-manager.js';

/** What `Version` answers; upstream CAA returns this constant. */
export const HYPERVISOR_API_VERSION = '0.0.0';

export function registerHypervisorServices(server: TtrpcServer, manager: SandboxManager): void {
  registerService(server, Hypervisor, {
    createVM: (req) =>
      manager.createVM({ id: req.id, annotations: req.annotations, networkNamespacePath: req.networkNamespacePath }),
    startVM: async (req, ctx) => {
      await manager.startVM(req.id, ctx.signal);
      return {};
    },
    stopVM: async (req) => {
      await manager.stopVM(req.id);
      return {};
    },
    version: () => ({ version: HYPERVISOR_API_VERSION }),
  });
  registerService(server, PodVMInfo, {
    getInfo: async (req, ctx) => ({ VMID: await manager.getInfo(req.PodName, req.PodNamespace, req.Wait, ctx.signal) }),
  });
}
