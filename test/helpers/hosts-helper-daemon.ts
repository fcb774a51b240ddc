// A stand-in for `loc daemon` in the privsep tests: starts the root hosts helper, optionally drops
// to another user as the daemon will, writes one block, prints `written <helper pid> <uid>`, then
// waits to be killed. Usage: hosts-helper-daemon.ts HOSTS_FILE [DROP_TO_USER]
import { parseLoopbackRange } from "../../src/daemon/ip-allocator.js";
import { dropPrivileges, invokingUser } from "../../src/privsep/drop-privileges.js";
import { startHostsHelper } from "../../src/privsep/helper-client.js";

const [hostsFile, dropTo] = process.argv.slice(2);
if (!hostsFile) throw new Error("usage: hosts-helper-daemon.ts HOSTS_FILE [USER]");
const helper = await startHostsHelper({ hostsFile, range: parseLoopbackRange("127.1.0.0/16") });
if (dropTo) {
  const user = invokingUser({}, dropTo);
  if (user) dropPrivileges(user);
}
await helper.write([{ ip: "127.1.0.7", names: ["web", "web.shop"] }]);
process.stdout.write(`written ${helper.pid} ${process.getuid?.()}\n`);
setInterval(() => undefined, 60_000);
