// The test sshd is real OpenSSH: an ssh2 client authenticates with a fresh ed25519 key, asks for a
// remote forward, and a plain TCP connection to sshd's listening port reaches the client's handler.
import net from "node:net";
import os from "node:os";
import { Client, utils, type ClientChannel } from "ssh2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSshd, type Sshd } from "../../cluster/helpers.js";

describe("test sshd", () => {
  const key = utils.generateKeyPairSync("ed25519");
  let sshd: Sshd;
  let client: Client;

  beforeAll(async () => {
    sshd = await startSshd({ authorizedKeys: key.public });
    client = new Client();
    await new Promise<void>((resolve, reject) => {
      client.once("ready", () => resolve());
      client.once("error", reject);
      client.connect({
        host: "127.0.0.1",
        port: sshd.port,
        username: os.userInfo().username,
        privateKey: key.private,
        // Pin the host key sshd was started with instead of trusting any.
        hostVerifier: (presented: Buffer) => presented.equals(hostKeyBlob(sshd.hostKeyPublic)),
      });
    });
  });

  afterAll(async () => {
    client?.end();
    await sshd?.stop();
  });

  it("accepts the client's key and routes a remote forward back to the client", async () => {
    const received = new Promise<{ data: string; originator: string }>((resolve) => {
      client.on("tcp connection", (info, accept) => {
        const channel: ClientChannel = accept();
        channel.once("data", (chunk: Buffer) => {
          channel.end(`echo:${chunk.toString("utf8")}`);
          resolve({ data: chunk.toString("utf8"), originator: info.srcIP });
        });
      });
    });
    const remotePort = await new Promise<number>((resolve, reject) =>
      client.forwardIn("127.0.0.1", 0, (error, port) => (error ? reject(error) : resolve(port))),
    );
    expect(remotePort).toBeGreaterThan(0);

    const reply = await new Promise<string>((resolve, reject) => {
      const socket = net.connect({ host: "127.0.0.1", port: remotePort }, () => socket.write("ping"));
      let data = "";
      socket.setEncoding("utf8").on("data", (chunk: string) => (data += chunk));
      socket.on("end", () => resolve(data));
      socket.on("error", reject);
    });

    expect(await received).toEqual({ data: "ping", originator: "127.0.0.1" });
    expect(reply).toBe("echo:ping");
  });

  it("rejects a key that is not authorized", async () => {
    const stranger = utils.generateKeyPairSync("ed25519");
    const other = new Client();
    const outcome = await new Promise<string>((resolve) => {
      other.once("ready", () => resolve("ready"));
      other.once("error", (error) => resolve(error.message));
      const username = os.userInfo().username;
      other.connect({ host: "127.0.0.1", port: sshd.port, username, privateKey: stranger.private });
    });
    other.end();
    expect(outcome).toMatch(/authentication methods failed/);
  });
});

/** The key blob of an OpenSSH public key line ("ssh-ed25519 <base64> comment"). */
function hostKeyBlob(publicLine: string): Buffer {
  return Buffer.from(publicLine.split(" ")[1] ?? "", "base64");
}
