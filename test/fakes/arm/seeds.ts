/** The catalogue the fake ARM starts with: identity, subscription, sizes, images, network. */

export const DEFAULT_TENANT_ID = '72f988bf-0000-4000-8000-00000000fa4e';
export const DEFAULT_SUBSCRIPTION_ID = '5e6b1f2a-0000-4000-8000-0000000000aa';
export const DEFAULT_CLIENT_ID = 'c1e47000-0000-4000-8000-0000000000c1';
export const DEFAULT_CLIENT_SECRET = 'fake-client-secret';
/** What a workload identity's projected service-account token file holds in the tests. */
export const DEFAULT_FEDERATED_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.fake-service-account-token.sig';
export const DEFAULT_REGION = 'eastus';
export const DEFAULT_RESOURCE_GROUP = 'peerpods-rg';
export const NETWORK_RESOURCE_GROUP = 'network-rg';
export const IMAGE_RESOURCE_GROUP = 'images-rg';

const sub = `/subscriptions/${DEFAULT_SUBSCRIPTION_ID}`;
export const DEFAULT_VNET = 'peerpods-vnet';
export const DEFAULT_SUBNET_ID = `${sub}/resourceGroups/${NETWORK_RESOURCE_GROUP}/providers/Microsoft.Network/virtualNetworks/${DEFAULT_VNET}/subnets/pods`;
export const DEFAULT_NSG_ID = `${sub}/resourceGroups/${NETWORK_RESOURCE_GROUP}/providers/Microsoft.Network/networkSecurityGroups/peerpods-nsg`;
export const DEFAULT_GALLERY_IMAGE = `${sub}/resourceGroups/${IMAGE_RESOURCE_GROUP}/providers/Microsoft.Compute/galleries/podvmGallery/images/podvm`;
/** The default pod VM image: a gallery image version. */
export const DEFAULT_IMAGE_ID = `${DEFAULT_GALLERY_IMAGE}/versions/0.2.0`;
export const MANAGED_IMAGE_ID = `${sub}/resourceGroups/${IMAGE_RESOURCE_GROUP}/providers/Microsoft.Compute/images/podvm-managed`;
export const COMMUNITY_GALLERY = 'cocopodvm-d0e4f35f-5530-4b9c-8596-112487cdea85';
export const COMMUNITY_IMAGE_ID = `/CommunityGalleries/${COMMUNITY_GALLERY}/Images/podvm_image0/Versions/2025.10.01`;

export interface PrincipalSeed {
  tenantId: string;
  clientId: string;
  /** Client-credentials grant with this secret. */
  secret?: string;
  /** Client-assertion grant (workload identity) with this token. */
  federatedToken?: string;
}

export interface SizeSeed {
  name: string;
  cores: number;
  memoryMiB: number;
  /** Quota family, as ARM names it in quota errors. */
  family: string;
  /** Confidential VM technology; undefined = the size cannot run ConfidentialVM. */
  confidential?: 'SNP' | 'TDX';
}

export interface SubnetSeed {
  id: string;
  addressPrefix: string;
}

export interface ImageSeed {
  /** Managed image id, gallery image (version) id, or community gallery image (version) id. */
  id: string;
  /** `ConfidentialVMSupported` images boot as confidential VMs. */
  securityType?: 'ConfidentialVMSupported' | 'TrustedLaunch' | 'Standard';
}

export const DEFAULT_PRINCIPALS: readonly PrincipalSeed[] = [
  { tenantId: DEFAULT_TENANT_ID, clientId: DEFAULT_CLIENT_ID, secret: DEFAULT_CLIENT_SECRET, federatedToken: DEFAULT_FEDERATED_TOKEN },
];

export const DEFAULT_SIZES: readonly SizeSeed[] = [
  { name: 'Standard_DC2as_v5', cores: 2, memoryMiB: 8192, family: 'standardDCASv5Family', confidential: 'SNP' },
  { name: 'Standard_DC4as_v5', cores: 4, memoryMiB: 16384, family: 'standardDCASv5Family', confidential: 'SNP' },
  { name: 'Standard_DC8as_v5', cores: 8, memoryMiB: 32768, family: 'standardDCASv5Family', confidential: 'SNP' },
  { name: 'Standard_DC2ads_v5', cores: 2, memoryMiB: 8192, family: 'standardDCADSv5Family', confidential: 'SNP' },
  { name: 'Standard_EC2as_v5', cores: 2, memoryMiB: 16384, family: 'standardECASv5Family', confidential: 'SNP' },
  { name: 'Standard_DC2es_v5', cores: 2, memoryMiB: 8192, family: 'standardDCESv5Family', confidential: 'TDX' },
  { name: 'Standard_DC2s_v3', cores: 2, memoryMiB: 16384, family: 'standardDCSv3Family' },
  { name: 'Standard_D2as_v5', cores: 2, memoryMiB: 8192, family: 'standardDASv5Family' },
];

export const DEFAULT_SUBNETS: readonly SubnetSeed[] = [{ id: DEFAULT_SUBNET_ID, addressPrefix: '10.97.0.0/16' }];

export const DEFAULT_NSGS: readonly string[] = [DEFAULT_NSG_ID];

export const DEFAULT_IMAGES: readonly ImageSeed[] = [
  { id: DEFAULT_IMAGE_ID, securityType: 'ConfidentialVMSupported' },
  { id: `${DEFAULT_GALLERY_IMAGE}/versions/0.1.0`, securityType: 'ConfidentialVMSupported' },
  { id: MANAGED_IMAGE_ID, securityType: 'Standard' },
  { id: COMMUNITY_IMAGE_ID, securityType: 'ConfidentialVMSupported' },
];

export const DEFAULT_RESOURCE_GROUPS: readonly string[] = [DEFAULT_RESOURCE_GROUP, NETWORK_RESOURCE_GROUP, IMAGE_RESOURCE_GROUP];

/** Public addresses come from TEST-NET-3 (RFC 5737), never routed. */
export const PUBLIC_IP_CIDR = '203.0.113.0/24';
