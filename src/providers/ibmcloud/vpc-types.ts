/**
 * The parts of the IBM Cloud VPC API (and the Global Tagging API) the provider reads and writes, as
 * the JSON on the wire (snake_case). Only the fields we use are typed; the API returns more.
 */

export interface Reference {
  id: string;
  name?: string;
  crn?: string;
  href?: string;
}

export interface NameReference {
  name: string;
  href?: string;
}

/** IBM's reason a resource is in its status, e.g. `cannot_start_capacity` on a `failed` instance. */
export interface StatusReason {
  code: string;
  message: string;
  more_info?: string;
}

export type InstanceStatus =
  | 'deleting'
  | 'failed'
  | 'pending'
  | 'restarting'
  | 'resuming'
  | 'running'
  | 'starting'
  | 'stopped'
  | 'stopping'
  | 'suspended'
  | 'suspending';

export interface NetworkInterfaceReference {
  id: string;
  name: string;
  href?: string;
  /** `0.0.0.0` until the address is assigned. */
  primary_ip?: { address: string; id?: string; name?: string };
  subnet?: Reference;
}

export interface VpcInstance {
  id: string;
  crn: string;
  href?: string;
  name: string;
  status: InstanceStatus;
  status_reasons?: StatusReason[];
  created_at?: string;
  profile: NameReference;
  image?: Reference;
  zone: NameReference;
  vpc: Reference;
  resource_group?: Reference;
  primary_network_interface: NetworkInterfaceReference;
  network_interfaces?: NetworkInterfaceReference[];
  vcpu?: { architecture: string; count: number; manufacturer?: string };
  /** GiB. */
  memory?: number;
  confidential_compute_mode?: string;
  enable_secure_boot?: boolean;
  metadata_service?: { enabled: boolean; protocol?: string };
}

export interface NetworkInterfacePrototype {
  name?: string;
  subnet: { id: string };
  security_groups?: { id: string }[];
  allow_ip_spoofing?: boolean;
}

/** `POST /instances` body (an InstancePrototypeInstanceByImage with network interfaces). */
export interface InstancePrototype {
  name: string;
  image: { id: string };
  profile: { name: string };
  zone: { name: string };
  vpc?: { id: string };
  keys?: { id: string }[];
  resource_group?: { id: string };
  primary_network_interface: NetworkInterfacePrototype;
  network_interfaces?: NetworkInterfacePrototype[];
  placement_target?: { id: string };
  metadata_service?: { enabled: boolean; protocol?: 'http' | 'https' };
  /** Plain text (cloud-config), not base64. */
  user_data?: string;
  confidential_compute_mode?: 'disabled' | 'tdx' | 'sgx';
  enable_secure_boot?: boolean;
}

/** A profile property that is fixed, or one of several values with a default. */
export interface ProfileValue<T> {
  type: 'fixed' | 'enum' | 'range' | 'dependent';
  value?: T;
  default?: T;
  values?: T[];
}

export interface InstanceProfile {
  name: string;
  family?: string;
  href?: string;
  vcpu_count: ProfileValue<number>;
  /** GiB. */
  memory: ProfileValue<number>;
  /** `amd64` or `s390x`. */
  vcpu_architecture: ProfileValue<string>;
  gpu_count?: ProfileValue<number>;
  confidential_compute_modes?: ProfileValue<string>;
  secure_boot_modes?: ProfileValue<boolean>;
}

export interface OperatingSystem {
  name: string;
  architecture: string;
  family?: string;
  vendor?: string;
  version?: string;
  display_name?: string;
}

export interface VpcImage {
  id: string;
  crn?: string;
  name: string;
  /** `available`, `deprecated`, `obsolete`, `pending`, `failed`, `deleting`, `unusable`. */
  status: string;
  operating_system?: OperatingSystem;
}

export interface VpcSubnet {
  id: string;
  crn?: string;
  name: string;
  vpc: Reference;
  zone: NameReference;
  resource_group?: Reference;
  ipv4_cidr_block?: string;
  available_ipv4_address_count?: number;
}

export interface VpcSecurityGroup {
  id: string;
  crn?: string;
  name: string;
  vpc: Reference;
}

export interface VpcKey {
  id: string;
  name: string;
  type?: string;
  fingerprint?: string;
}

export interface DedicatedHost {
  id: string;
  name: string;
  zone: NameReference;
  lifecycle_state?: string;
  state?: string;
}

export interface DedicatedHostGroup {
  id: string;
  name: string;
  zone: NameReference;
}

export interface VpcRegion {
  name: string;
  endpoint?: string;
  status?: string;
}

/** A page of a VPC collection: the items under their plural name, and the link to the next page. */
export interface Page {
  limit?: number;
  total_count?: number;
  first?: { href: string };
  next?: { href: string };
}

export interface InstancePage extends Page {
  instances: VpcInstance[];
}

export interface SecurityGroupPage extends Page {
  security_groups: VpcSecurityGroup[];
}

export interface RegionList {
  regions: VpcRegion[];
}

/** Global Tagging `POST /v3/tags/attach` reply. */
export interface TagResults {
  results: { resource_id: string; is_error?: boolean }[];
}

/** Global Tagging `GET /v3/tags` reply. */
export interface TagList {
  total_count: number;
  offset: number;
  limit: number;
  items: { name: string }[];
}

/** The body of every VPC error reply. */
export interface VpcErrorBody {
  errors?: { code?: string; message?: string; more_info?: string; target?: { name?: string; type?: string; value?: unknown } }[];
  trace?: string;
  status_code?: number;
}

/** The body of an IAM token error reply. */
export interface IamErrorBody {
  errorCode?: string;
  errorMessage?: string;
  context?: { url?: string };
}
