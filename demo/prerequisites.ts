// What the demo needs before it starts anything, each checked up front so a missing one is one line
// with a hint instead of a failure minutes in: sshd, Go (only for the first build), disk, free ports.
import { execFile } from "node:child_process";
import { existsSync, statfsSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { promisify } from "node:util";
import { sshdBinary } from "../test/cluster/sshd.js";
import { clusterCacheDir, clusterIsBuilt } from "./cluster.js";

const run = promisify(execFile);

/** A prerequisite that is not met: printed as `demo: <message> (hint: <hint>)`. */
export class MissingPrerequisite extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

export interface DemoPorts {
  /** The laptop's server during the expose (`--map <laptop>:8080`). */
  laptop: number;
  /** The api pods' port: the proxy pod's stand-in sshd forwards it on 127.0.0.1, so it must be free. */
  apiPod: number;
  /** The first address of the daemon's range; loc listens on 127.77.0.x. */
  daemonIp: string;
}

const GiB = 1024 ** 3;

export async function checkPrerequisites(ports: DemoPorts): Promise<void> {
  if (!existsSync(sshdBinary)) {
    throw new MissingPrerequisite(
      `OpenSSH's sshd is not at ${sshdBinary} (it plays the container of loc's proxy pod)`,
      "apt-get install -y openssh-server, or point LOC_SSHD at an sshd binary",
    );
  }
  await run("ssh-keygen", ["-?"]).catch((error: NodeJS.ErrnoException & { code?: unknown }) => {
    if (error.code === "ENOENT") throw new MissingPrerequisite("ssh-keygen is not on PATH", "apt-get install -y openssh-client");
  });
  const built = clusterIsBuilt();
  if (!built) await checkGo();
  checkDisk(built ? 0.5 * GiB : 7 * GiB, built);
  await checkFree("127.0.0.1", ports.laptop, "the laptop's server for the expose", "LOC_DEMO_LAPTOP_PORT");
  await checkFree("127.0.0.1", ports.apiPod, "the api pods' port, forwarded by the proxy's sshd", "LOC_DEMO_POD_PORT");
  await checkFree(ports.daemonIp, 8080, "the daemon's first Service address", undefined);
}

async function checkGo(): Promise<void> {
  const hint = "install Go >= 1.26 (https://go.dev/dl); it is needed once, to build the test cluster";
  let version: string;
  try {
    version = (await run("go", ["version"])).stdout;
  } catch {
    throw new MissingPrerequisite("Go is not on PATH and the test cluster is not built yet", hint);
  }
  const [, major, minor] = /go(\d+)\.(\d+)/.exec(version) ?? [];
  if (Number(major) === 1 && Number(minor) < 26) {
    throw new MissingPrerequisite(`${version.trim()} is too old to build the test cluster`, hint);
  }
}

function checkDisk(needed: number, built: boolean): void {
  // The cache dir may not exist yet: measure the nearest directory that does.
  let dir = clusterCacheDir();
  while (!existsSync(dir)) dir = path.dirname(dir);
  const stats = statfsSync(dir);
  const free = stats.bavail * stats.bsize;
  if (free < needed) {
    const why = built ? "a running cluster's etcd data" : "the one-time build (binaries, Go's build and module caches)";
    throw new MissingPrerequisite(
      `only ${(free / GiB).toFixed(1)} GB free at ${dir}; ${why} needs about ${(needed / GiB).toFixed(1)} GB`,
      "free some disk, or set LOC_CLUSTER_CACHE to a directory on a larger disk",
    );
  }
}

async function checkFree(host: string, port: number, what: string, envName: string | undefined): Promise<void> {
  const server = net.createServer();
  const problem = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    server.once("error", resolve);
    server.listen(port, host, () => resolve(undefined));
  });
  if (!problem) {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return;
  }
  if (problem.code === "EADDRINUSE") {
    throw new MissingPrerequisite(
      `${host}:${port} is in use (${what})`,
      envName ? `stop what listens there, or pick another port: ${envName}=<port> npm run demo` : "stop the other process using it (another demo?)",
    );
  }
  throw new MissingPrerequisite(
    `cannot listen on ${host}:${port} (${what}): ${problem.code ?? problem.message}`,
    "the demo needs loopback addresses beyond 127.0.0.1 (Linux has 127.0.0.0/8 on lo; on macOS: sudo ifconfig lo0 alias 127.77.0.1)",
  );
}
