/**
 * The SSH public key every Azure Linux VM must be given (password login is disabled). Upstream makes
 * a fresh RSA-4096 key per VM and throws the private half away; generating it costs about a second of
 * CPU. We do the same with Ed25519 (Azure accepts ed25519 keys for Linux VMs): the same "nobody can
 * log in" result for well under a millisecond. The private key is never exported, kept or logged.
 * An operator who wants to log in gives their own public key with `-ssh-key-path`.
 */
import { messageOf } from '../../util/errors.js';
import { generateKeyPair } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { ProviderError } from '../errors.js';

const generate = promisify(generateKeyPair);

/** The uint32-length-prefixed string of the SSH wire format. */
function sshString(bytes: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(bytes.length);
  return Buffer.concat([len, bytes]);
}

/** A fresh Ed25519 key pair; only the public half in OpenSSH `authorized_keys` form leaves this function. */
export async function freshPublicKey(comment = 'peerpod'): Promise<string> {
  const { publicKey } = await generate('ed25519');
  const jwk = publicKey.export({ format: 'jwk' });
  const raw = Buffer.from(jwk.x ?? '', 'base64url');
  const blob = Buffer.concat([sshString(Buffer.from('ssh-ed25519')), sshString(raw)]);
  return `ssh-ed25519 ${blob.toString('base64')} ${comment}`;
}

const PUBLIC_KEY_LINE = /^(ssh-rsa|ssh-ed25519|ecdsa-sha2-nistp(?:256|384|521)) [A-Za-z0-9+/]+={0,2}(?: .*)?$/;

/** The operator's public key from `-ssh-key-path`, checked to be one OpenSSH public key line. */
export async function readPublicKey(path: string): Promise<string> {
  let text: string;
  try {
    text = (await readFile(path, 'utf8')).trim();
  } catch (err) {
    throw new ProviderError('INVALID_CONFIG', `-ssh-key-path ${path}: ${messageOf(err)}`, { cause: err });
  }
  if (text.includes('PRIVATE KEY')) throw new ProviderError('INVALID_CONFIG', `-ssh-key-path ${path} holds a private key; give the public key (.pub)`);
  if (!PUBLIC_KEY_LINE.test(text)) throw new ProviderError('INVALID_CONFIG', `-ssh-key-path ${path} is not an OpenSSH public key (ssh-rsa, ssh-ed25519 or ecdsa-sha2-*)`);
  return text;
}
