// Per-session SSH key material for the reverse transport: fresh ed25519 pairs in OpenSSH format
// (what sshd reads), the public key blob used to pin the host, and its SHA256 fingerprint.
import { createHash, generateKeyPairSync, randomBytes } from "node:crypto";

export interface SshKeyPair {
  /** OpenSSH private key text ("-----BEGIN OPENSSH PRIVATE KEY-----"); never log or show it. */
  privateKey: string;
  /** The public key line without comment: "ssh-ed25519 AAAA…". */
  publicKey: string;
  /** The SSH wire encoding of the public key, what a server presents during key exchange. */
  blob: Buffer;
}

/**
 * A fresh ed25519 key pair, generated in memory by node:crypto and written in OpenSSH's format here.
 * Not ssh2's `generateKeyPairSync`: it strips leading zero bytes from the public key, so 1 key in 256
 * comes out 31 bytes long and unreadable (mscdex/ssh2#1390), failing ~1 expose in 128 at random.
 */
export function generateEd25519(): SshKeyPair {
  const jwk = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" });
  const publicKey = Buffer.from(jwk.x ?? "", "base64url");
  const seed = Buffer.from(jwk.d ?? "", "base64url");
  if (publicKey.length !== 32 || seed.length !== 32) throw new Error("node:crypto returned an ed25519 key of unexpected size");
  const blob = Buffer.concat([sshString("ssh-ed25519"), sshString(publicKey)]);
  return { privateKey: openSshPrivateKey(blob, publicKey, seed), publicKey: `ssh-ed25519 ${blob.toString("base64")}`, blob };
}

/** PROTOCOL.key's "openssh-key-v1" container, unencrypted, one key. */
function openSshPrivateKey(blob: Buffer, publicKey: Buffer, seed: Buffer): string {
  const check = randomBytes(4);
  const secret = Buffer.concat([check, check, sshString("ssh-ed25519"), sshString(publicKey), sshString(Buffer.concat([seed, publicKey])), sshString("")]);
  // Padded with 1, 2, 3… to the cipher's block size (8 for "none").
  const padding = Buffer.from(Array.from({ length: (8 - (secret.length % 8)) % 8 }, (_, i) => i + 1));
  const count = Buffer.alloc(4);
  count.writeUInt32BE(1);
  const body = Buffer.concat([Buffer.from("openssh-key-v1\0", "latin1"), sshString("none"), sshString("none"), sshString(""), count, sshString(blob), sshString(Buffer.concat([secret, padding]))]);
  const lines = body.toString("base64").match(/.{1,70}/g) ?? [];
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join("\n")}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

/** An SSH wire string: uint32 length, then the bytes. */
function sshString(value: string | Buffer): Buffer {
  const bytes = typeof value === "string" ? Buffer.from(value, "utf8") : value;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

/**
 * The key blob of an OpenSSH public key line ("ssh-ed25519 <base64> [comment]"), checked against
 * the type the line names so a truncated or mislabeled line fails here instead of never matching.
 */
export function publicKeyBlob(line: string): Buffer {
  const [type, data] = line.trim().split(/\s+/);
  if (!type || !data || !/^[A-Za-z0-9+/]+={0,2}$/.test(data)) {
    throw new Error("not an OpenSSH public key line");
  }
  const blob = Buffer.from(data, "base64");
  if (blobKeyType(blob) !== type) throw new Error(`public key blob does not hold a ${type} key`);
  return blob;
}

/** The key type named at the start of a public key blob (an SSH string), or undefined. */
export function blobKeyType(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const length = blob.readUInt32BE(0);
  if (length === 0 || 4 + length > blob.length) return undefined;
  return blob.subarray(4, 4 + length).toString("latin1");
}

/** "SHA256:<base64 without padding>", as `ssh-keygen -lf` prints it. */
export function sha256Fingerprint(blob: Buffer): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}
