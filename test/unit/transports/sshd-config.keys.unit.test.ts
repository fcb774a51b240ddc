// The pure parts of the SSH reverse transport: the proxy's sshd_config, the authorized_keys line,
// key blobs and fingerprints, and what prepare() hands the proxy pod.
import { inspect } from "node:util";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ssh2 from "ssh2";
import { describe, expect, it } from "vitest";
import { LocError } from "../../../src/errors.js";
import { blobKeyType, generateEd25519, publicKeyBlob, sha256Fingerprint, type SshKeyPair } from "../../../src/transports/ssh-keys.js";
import { SshReverseTransport } from "../../../src/transports/ssh-reverse.js";
import { authorizedKeysLine, renderSshdConfig, validatePort, validateSshUser } from "../../../src/transports/sshd-config.js";
import type { ForwardTransport } from "../../../src/transports/transport.js";

const lines = (config: string) => config.split("\n");

describe("sshd_config for the proxy pod", () => {
  const config = renderSshdConfig({ user: "loc", port: 2222 });

  it("listens on every pod interface on the given port with the mounted key files", () => {
    expect(lines(config)).toEqual(
      expect.arrayContaining([
        "Port 2222",
        "ListenAddress 0.0.0.0",
        "HostKey /etc/loc-ssh/ssh_host_ed25519_key",
        "AuthorizedKeysFile /etc/loc-ssh/authorized_keys",
        "PidFile /tmp/loc-sshd.pid",
      ]),
    );
    expect(renderSshdConfig({ user: "loc", port: 22, mountPath: "/tmp/x" })).toContain("HostKey /tmp/x/ssh_host_ed25519_key\n");
  });

  it("allows only public key logins by the one user", () => {
    expect(lines(config)).toEqual(
      expect.arrayContaining([
        "PubkeyAuthentication yes",
        "AuthenticationMethods publickey",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin no",
        "AllowUsers loc",
        "UsePAM no",
      ]),
    );
    expect(config).not.toMatch(/PasswordAuthentication yes|PermitRootLogin yes|AllowUsers .* /);
  });

  it("allows remote forwards on the pod IP and nothing else", () => {
    expect(lines(config)).toEqual(
      expect.arrayContaining([
        "AllowTcpForwarding remote",
        "GatewayPorts clientspecified",
        "AllowStreamLocalForwarding no",
        "AllowAgentForwarding no",
        "X11Forwarding no",
        "PermitTTY no",
        "PermitTunnel no",
        "StrictModes no",
        "ClientAliveInterval 15",
        "ClientAliveCountMax 3",
      ]),
    );
    // sshd keeps the first value of a keyword: each appears once so nothing is silently ignored.
    const keywords = lines(config)
      .filter((line) => line && !line.startsWith("#"))
      .map((line) => line.split(" ")[0]);
    expect(new Set(keywords).size).toBe(keywords.length);
  });

  it.each(["", "-loc", "lo c", "loc\nPasswordAuthentication yes", "a".repeat(33), "..", "ro/ot", "lóc"])(
    "refuses the user name %j",
    (user) => {
      expect(() => renderSshdConfig({ user, port: 2222 })).toThrow(LocError);
      expect(() => validateSshUser(user)).toThrow(/invalid SSH user name/);
    },
  );

  it.each(["loc", "nobody", "app_user-1", "a".repeat(32), "_svc", "user.name"])("accepts the user name %j", (user) => {
    expect(() => validateSshUser(user)).not.toThrow();
  });

  it.each([0, -1, 65536, 22.5, Number.NaN])("refuses the port %d", (port) => {
    expect(() => renderSshdConfig({ user: "loc", port })).toThrow(LocError);
    try {
      validatePort(port);
    } catch (error) {
      expect((error as LocError).code).toBe("INVALID_PORT");
    }
    expect.assertions(2);
  });

  it.each([1, 22, 65535])("accepts the port %d", (port) => {
    expect(renderSshdConfig({ user: "loc", port })).toContain(`Port ${port}\n`);
  });
});

describe("session keys", () => {
  it("restricts the client key to port forwarding in authorized_keys", () => {
    const key = generateEd25519();
    expect(authorizedKeysLine(`${key.publicKey} someone@laptop`)).toBe(`restrict,port-forwarding ${key.publicKey} loc-session\n`);
  });

  it("prints fingerprints the way ssh-keygen -lf does", () => {
    // Known pair: ssh-keygen -lf printed this fingerprint for this public key.
    const blob = publicKeyBlob("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOEYVNfgq3QOQ7pdh/TAAt6F6xqnZiZPVZMewx+tHE/3 loc-session");
    expect(sha256Fingerprint(blob)).toBe("SHA256:LoZHUEMMFuYbEYfhk+aeIXVfUwr7dFL54BPSVQLP/DE");
    expect(sha256Fingerprint(generateEd25519().blob)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it("every generated key is readable, also the 1 in 256 whose public key starts with a zero byte (ssh2's own keygen drops it)", () => {
    // Keys are drawn until a few start with a zero byte (offset 19: after the type string and length).
    const keys: SshKeyPair[] = [];
    const leadingZero: SshKeyPair[] = [];
    while (leadingZero.length < 3 && keys.length < 100_000) {
      const key = generateEd25519();
      keys.push(key);
      if (key.blob[19] === 0) leadingZero.push(key);
    }
    expect(leadingZero.length).toBe(3);
    for (const key of keys) {
      expect(key.blob.length).toBe(51);
      const parsed = ssh2.utils.parseKey(key.privateKey);
      if (parsed instanceof Error) throw parsed;
      expect(parsed.getPublicSSH().equals(key.blob)).toBe(true);
      const data = Buffer.from("loc");
      expect(parsed.verify(data, parsed.sign(data))).toBe(true);
    }
    // OpenSSH itself reads the private key and derives the same public key from it.
    const dir = mkdtempSync(join(tmpdir(), "loc-key-"));
    const file = join(dir, "key");
    writeFileSync(file, leadingZero[0]?.privateKey ?? "", { mode: 0o600 });
    expect(execFileSync("ssh-keygen", ["-y", "-f", file], { encoding: "utf8" }).trim()).toBe(leadingZero[0]?.publicKey);
    rmSync(dir, { recursive: true, force: true });
  });

  it("reads key blobs and refuses lines that do not hold the key they name", () => {
    const key = generateEd25519();
    expect(blobKeyType(key.blob)).toBe("ssh-ed25519");
    expect(publicKeyBlob(key.publicKey).equals(key.blob)).toBe(true);
    expect(() => publicKeyBlob(key.publicKey.replace("ssh-ed25519", "ssh-rsa"))).toThrow(/does not hold a ssh-rsa key/);
    expect(() => publicKeyBlob("ssh-ed25519")).toThrow(/not an OpenSSH public key line/);
    expect(blobKeyType(Buffer.of(0, 0, 0, 9, 1))).toBeUndefined();
  });
});

describe("SshReverseTransport.prepare", () => {
  const opened: unknown[] = [];
  const forward: ForwardTransport = {
    kind: "forward",
    name: "never",
    open: (target) => {
      opened.push(target);
      return Promise.reject(new Error("no pods in unit tests"));
    },
  };
  const transport = new SshReverseTransport(forward);

  it("hands the proxy its files, command and the host key fingerprint", () => {
    const plan = transport.prepare({ user: "loc", port: 2222 });
    expect(transport).toMatchObject({ kind: "reverse", name: "ssh" });
    expect(plan.proxy).toMatchObject({
      port: 2222,
      mountPath: "/etc/loc-ssh",
      command: ["/usr/sbin/sshd", "-D", "-e", "-f", "/etc/loc-ssh/sshd_config"],
    });
    expect(Object.keys(plan.proxy.secretFiles).sort()).toEqual(["authorized_keys", "ssh_host_ed25519_key", "sshd_config"]);
    expect(plan.proxy.secretFiles.ssh_host_ed25519_key).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----\n/);
    expect(plan.proxy.secretFiles.authorized_keys).toMatch(/^restrict,port-forwarding ssh-ed25519 AAAA\S+ loc-session\n$/);
    expect(plan.proxy.secretFiles.sshd_config).toBe(renderSshdConfig({ user: "loc", port: 2222 }));
    expect(plan.proxy.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it("makes fresh keys for every session and keeps the client key out of sight", () => {
    const first = transport.prepare({ user: "loc", port: 2222 });
    const second = transport.prepare({ user: "loc", port: 2222 });
    expect(first.proxy.fingerprint).not.toBe(second.proxy.fingerprint);
    expect(first.proxy.secretFiles.authorized_keys).not.toBe(second.proxy.secretFiles.authorized_keys);
    // Only the host key (bound for the Secret) shows when the plan is logged by mistake.
    const shown = inspect(first, { depth: 10 }) + JSON.stringify(first);
    expect(shown.match(/BEGIN OPENSSH PRIVATE KEY/g)).toHaveLength(2);
  });

  it("refuses a bad user or port", () => {
    expect(() => transport.prepare({ user: "root; rm", port: 2222 })).toThrow(LocError);
    expect(() => transport.prepare({ user: "loc", port: 70000 })).toThrow(/invalid SSH port 70000/);
  });

  it("checks forwards and the signal before opening a stream to the pod", async () => {
    const plan = transport.prepare({ user: "loc", port: 2222 });
    const target = { namespace: "ns", pod: "proxy" };
    const twice = [
      { remotePort: 80, localHost: "127.0.0.1", localPort: 8080 },
      { remotePort: 80, localHost: "127.0.0.1", localPort: 8081 },
    ];
    await expect(plan.connect(target, twice)).rejects.toThrow(/remote port 80 is forwarded twice/);
    await expect(plan.connect(target, [{ remotePort: 0, localHost: "127.0.0.1", localPort: 1 }])).rejects.toThrow(/invalid remote port 0/);
    await expect(plan.connect(target, [], AbortSignal.abort())).rejects.toThrow(/SSH connection to proxy pod ns\/proxy aborted/);
    expect(opened).toEqual([]);
    await expect(plan.connect(target, [])).rejects.toThrow(/no pods in unit tests/);
    expect(opened).toEqual([{ namespace: "ns", pod: "proxy", port: 2222 }]);
  });
});
