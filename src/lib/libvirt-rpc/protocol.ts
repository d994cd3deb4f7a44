/**
 * The parts of libvirt's remote protocol (`src/remote/remote_protocol.x`, `src/rpc/virnetprotocol.x`)
 * that a libvirt client (the libvirt provider) speaks: message header, error record, object references and procedure numbers.
 * Procedure numbers and struct layouts are libvirt's wire ABI and never change.
 */
import { XdrReader, XdrWriter } from './xdr.js';

export const REMOTE_PROGRAM = 0x20008086;
export const REMOTE_PROTOCOL_VERSION = 1;
/** libvirt's keepalive program ('keep'); the daemon may ping, we answer. */
export const KEEPALIVE_PROGRAM = 0x6b656570;
export const KEEPALIVE_PROC_PING = 1;
export const KEEPALIVE_PROC_PONG = 2;

/** Largest message libvirt accepts (VIR_NET_MESSAGE_MAX), header and length word included. */
export const MESSAGE_MAX = 32 << 20;
/** Payload of one stream data packet, well below VIR_NET_MESSAGE_LEGACY_PAYLOAD_MAX (262120). */
export const STREAM_CHUNK = 64 * 1024;
export const HEADER_BYTES = 24;

export const MessageType = { CALL: 0, REPLY: 1, MESSAGE: 2, STREAM: 3, CALL_WITH_FDS: 4, REPLY_WITH_FDS: 5, STREAM_HOLE: 6 } as const;
export const MessageStatus = { OK: 0, ERROR: 1, CONTINUE: 2 } as const;

export const Proc = {
  CONNECT_OPEN: 1,
  CONNECT_CLOSE: 2,
  CONNECT_GET_VERSION: 4,
  CONNECT_GET_CAPABILITIES: 7,
  DOMAIN_CREATE: 9,
  DOMAIN_DESTROY: 12,
  DOMAIN_GET_XML_DESC: 14,
  DOMAIN_LOOKUP_BY_NAME: 23,
  DOMAIN_LOOKUP_BY_UUID: 24,
  DOMAIN_UNDEFINE: 35,
  NETWORK_GET_XML_DESC: 43,
  NETWORK_LOOKUP_BY_NAME: 46,
  CONNECT_GET_HOSTNAME: 59,
  AUTH_LIST: 66,
  STORAGE_POOL_REFRESH: 83,
  STORAGE_POOL_LOOKUP_BY_NAME: 84,
  STORAGE_POOL_GET_XML_DESC: 88,
  STORAGE_VOL_CREATE_XML: 93,
  STORAGE_VOL_DELETE: 94,
  STORAGE_VOL_LOOKUP_BY_NAME: 95,
  STORAGE_VOL_GET_INFO: 98,
  STORAGE_VOL_GET_XML_DESC: 99,
  STORAGE_VOL_GET_PATH: 100,
  NETWORK_IS_ACTIVE: 152,
  STORAGE_POOL_IS_ACTIVE: 154,
  CONNECT_GET_LIB_VERSION: 157,
  STORAGE_VOL_UPLOAD: 208,
  DOMAIN_GET_STATE: 212,
  DOMAIN_UNDEFINE_FLAGS: 231,
  CONNECT_LIST_ALL_DOMAINS: 273,
  STORAGE_POOL_LIST_ALL_VOLUMES: 282,
  CONNECT_GET_DOMAIN_CAPABILITIES: 342,
  DOMAIN_DEFINE_XML_FLAGS: 350,
  DOMAIN_INTERFACE_ADDRESSES: 353,
} as const;

/** virErrorNumber values a client tells apart (virterror.h). */
export const VirErr = {
  INTERNAL_ERROR: 1,
  NO_SUPPORT: 3,
  NO_CONNECT: 5,
  INVALID_CONN: 6,
  INVALID_ARG: 8,
  OPERATION_FAILED: 9,
  XML_ERROR: 27,
  DOM_EXIST: 28,
  OPERATION_DENIED: 29,
  OPEN_FAILED: 30,
  XML_DETAIL: 35,
  SYSTEM_ERROR: 38,
  RPC: 39,
  NO_DOMAIN: 42,
  NO_NETWORK: 43,
  AUTH_FAILED: 45,
  NO_STORAGE_POOL: 49,
  NO_STORAGE_VOL: 50,
  OPERATION_INVALID: 55,
  CONFIG_UNSUPPORTED: 67,
  OPERATION_TIMEOUT: 68,
  ARGUMENT_UNSUPPORTED: 74,
  AUTH_CANCELLED: 79,
  NO_DOMAIN_METADATA: 80,
  OPERATION_UNSUPPORTED: 84,
  SSH: 85,
  RESOURCE_BUSY: 87,
  ACCESS_DENIED: 88,
  STORAGE_VOL_EXIST: 90,
  XML_INVALID_SCHEMA: 92,
  AUTH_UNAVAILABLE: 94,
  DEVICE_MISSING: 99,
} as const;

export interface Header {
  program: number;
  version: number;
  procedure: number;
  type: number;
  serial: number;
  status: number;
}

/** A whole message: length word, header, body. */
export function encodeMessage(h: Header, body: Uint8Array = Buffer.alloc(0)): Buffer {
  const head = Buffer.allocUnsafe(4 + HEADER_BYTES);
  head.writeUInt32BE(4 + HEADER_BYTES + body.length, 0);
  head.writeUInt32BE(h.program, 4);
  head.writeUInt32BE(h.version, 8);
  head.writeInt32BE(h.procedure, 12);
  head.writeInt32BE(h.type, 16);
  head.writeUInt32BE(h.serial, 20);
  head.writeInt32BE(h.status, 24);
  return Buffer.concat([head, body]);
}

/** Header of a message without its length word. */
export function decodeHeader(b: Buffer): Header {
  return {
    program: b.readUInt32BE(0),
    version: b.readUInt32BE(4),
    procedure: b.readInt32BE(8),
    type: b.readInt32BE(12),
    serial: b.readUInt32BE(16),
    status: b.readInt32BE(20),
  };
}

// ---- object references --------------------------------------------------------------------

export interface DomainRef {
  name: string;
  /** 16 raw bytes. */
  uuid: Buffer;
  id: number;
}
export interface NetworkRef {
  name: string;
  uuid: Buffer;
}
export interface PoolRef {
  name: string;
  uuid: Buffer;
}
export interface VolRef {
  pool: string;
  name: string;
  key: string;
}

export const writeDomain = (w: XdrWriter, d: DomainRef): XdrWriter => w.string(d.name).fixedOpaque(d.uuid, 16).int(d.id);
export const readDomain = (r: XdrReader): DomainRef => ({ name: r.string(), uuid: Buffer.from(r.fixedOpaque(16)), id: r.int() });
export const writeNetwork = (w: XdrWriter, n: NetworkRef): XdrWriter => w.string(n.name).fixedOpaque(n.uuid, 16);
export const readNetwork = (r: XdrReader): NetworkRef => ({ name: r.string(), uuid: Buffer.from(r.fixedOpaque(16)) });
export const writePool = writeNetwork;
export const readPool = readNetwork;
export const writeVol = (w: XdrWriter, v: VolRef): XdrWriter => w.string(v.pool).string(v.name).string(v.key);
export const readVol = (r: XdrReader): VolRef => ({ pool: r.string(), name: r.string(), key: r.string() });

/** `remote_error`: what a failed call or stream returns. */
export interface RemoteError {
  code: number;
  domain: number;
  message: string;
  level: number;
  str1: string | null;
}

export function readRemoteError(r: XdrReader): RemoteError {
  const code = r.int();
  const domain = r.int();
  const message = r.optionalString() ?? '';
  const level = r.int();
  r.optional(readDomain);
  const str1 = r.optionalString();
  r.optionalString();
  r.optionalString();
  r.int();
  r.int();
  r.optional(readNetwork);
  return { code, domain, message, level, str1 };
}

export function writeRemoteError(w: XdrWriter, e: Pick<RemoteError, 'code' | 'domain' | 'message'>): XdrWriter {
  return w.int(e.code).int(e.domain).optionalString(e.message).int(2).uint(0).optionalString(null).optionalString(null).optionalString(null).int(0).int(0).uint(0);
}

/** UUID text ↔ the 16 bytes on the wire. */
export function uuidToBytes(uuid: string): Buffer {
  const hex = uuid.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new Error(`"${uuid}" is not a UUID`);
  return Buffer.from(hex, 'hex');
}

export function uuidFromBytes(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
