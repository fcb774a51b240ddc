// Drops privileges in a process of its own (so the test runner keeps root) and prints what it became.
// Usage: drop-privileges-child.ts USER ENV_JSON
import { dropPrivileges, invokingUser } from "../../src/privsep/drop-privileges.js";

const [name = "", envJson = "{}"] = process.argv.slice(2);
const user = invokingUser({}, name);
if (!user) throw new Error("no user");
const env = dropPrivileges(user, JSON.parse(envJson) as NodeJS.ProcessEnv);
let regained = true;
try {
  process.setuid?.(0);
} catch {
  regained = false;
}
const ids = { uid: process.getuid?.(), euid: process.geteuid?.(), gid: process.getgid?.(), egid: process.getegid?.(), groups: process.getgroups?.() };
process.stdout.write(`${JSON.stringify({ ...ids, regained, env })}\n`);
