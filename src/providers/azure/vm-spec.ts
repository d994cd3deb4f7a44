/**
 * The VirtualMachine a create PUTs (reference §4.3), as a pure function of its inputs. arm-compute 24
 * models are flattened: `hardwareProfile`, `storageProfile`, … sit at the top level and the SDK moves
 * them under `properties` on the wire.
 */
import type { VirtualMachine } from '@azure/arm-compute';
import type { ImageRef } from './ids.js';

/** Azure refuses more than this many bytes of `userData`, counted after base64. */
export const MAX_USER_DATA_BASE64 = 65_536;
/** The network API version of the inline NIC configuration (the first with `deleteOption`). */
export const NETWORK_API_VERSION = '2020-11-01';

export interface VmSpecInput {
  name: string;
  location: string;
  size: string;
  image: ImageRef;
  userDataBase64: string;
  tags: Record<string, string>;
  adminUserName: string;
  /** OpenSSH public key line. */
  sshPublicKey: string;
  subnetId: string;
  /** Empty = none. */
  securityGroupId: string;
  usePublicIp: boolean;
  confidential: boolean;
  secureBoot: boolean;
  /** GB; 0 = the image's size. */
  osDiskSizeGb: number;
  /** Empty = regional. */
  zone: string;
}

/** Names of what Azure creates with the VM: derived from the VM name, so a retry names the same things. */
export const nicName = (vm: string): string => `${vm}-net`;
export const publicIpName = (vm: string): string => `${vm}-ip`;
export const osDiskName = (vm: string): string => `${vm}-disk`;
export const IP_CONFIG_NAME = 'ip-config';

export function buildVm(i: VmSpecInput): VirtualMachine {
  return {
    location: i.location,
    tags: i.tags,
    ...(i.zone ? { zones: [i.zone] } : {}),
    hardwareProfile: { vmSize: i.size },
    storageProfile: {
      imageReference: i.image.kind === 'community' ? { communityGalleryImageId: i.image.id } : { id: i.image.id },
      osDisk: {
        name: osDiskName(i.name),
        createOption: 'FromImage',
        caching: 'ReadWrite',
        deleteOption: 'Delete',
        managedDisk: {
          storageAccountType: 'Premium_LRS',
          ...(i.confidential ? { securityProfile: { securityEncryptionType: 'VMGuestStateOnly' } } : {}),
        },
        ...(i.osDiskSizeGb > 0 ? { diskSizeGB: i.osDiskSizeGb } : {}),
      },
    },
    osProfile: {
      adminUsername: i.adminUserName,
      computerName: i.name,
      linuxConfiguration: {
        disablePasswordAuthentication: true,
        ssh: { publicKeys: [{ path: `/home/${i.adminUserName}/.ssh/authorized_keys`, keyData: i.sshPublicKey }] },
      },
    },
    networkProfile: {
      networkApiVersion: NETWORK_API_VERSION,
      networkInterfaceConfigurations: [
        {
          name: nicName(i.name),
          primary: true,
          // Azure deletes the NIC with the VM: no separate NIC delete to race with the VM's (upstream's old bug).
          deleteOption: 'Delete',
          tags: i.tags,
          ...(i.securityGroupId ? { networkSecurityGroup: { id: i.securityGroupId } } : {}),
          ipConfigurations: [
            {
              name: IP_CONFIG_NAME,
              primary: true,
              subnet: { id: i.subnetId },
              ...(i.usePublicIp
                ? {
                    publicIPAddressConfiguration: {
                      name: publicIpName(i.name),
                      deleteOption: 'Delete',
                      tags: i.tags,
                      // Basic public IPs are retired; Standard ones are static.
                      sku: { name: 'Standard', tier: 'Regional' },
                      publicIPAllocationMethod: 'Static',
                    },
                  }
                : {}),
            },
          ],
        },
      ],
    },
    ...(i.confidential ? { securityProfile: { securityType: 'ConfidentialVM', uefiSettings: { secureBootEnabled: i.secureBoot, vTpmEnabled: true } } } : {}),
    diagnosticsProfile: { bootDiagnostics: { enabled: true } },
    userData: i.userDataBase64,
  };
}
