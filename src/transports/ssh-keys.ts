// Per-session SSH key material for the reverse transport: fresh ed25519 pairs in OpenSSH format
// (what sshd reads), the public key blob used to pin the host, and its SHA256 fingerprint.
import { createHash } from "node:crypto";
import ssh2 from "ssh2";

// ssh2 is CommonJS: Node's ESM loader only offers its default export.
const { utils } = ssh2;

export interface SshKeyPair {
  /** OpenSSH private key text ("-----BEGIN OPENSSH PRIVATE KEY-----"); never log or show it. */
  privateKey: string;
  /** The public key line without comment: "ssh-ed25519 AAAA…". */
  publicKey: string;
  /** The SSH wire encoding of the public key, what a server presents during key exchange. */
  blob: Buffer;
}

/** A fresh ed25519 key pair, generated in memory. */
export function generateEd25519(): SshKeyPair {
  const pair = utils.generateKeyPairSync("ed25519");
  const blob = publicKeyBlob(pair.public);
  return { privateKey: pair.private, publicKey: `ssh-ed25519 ${blob.toString("base64")}`, blob };
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
