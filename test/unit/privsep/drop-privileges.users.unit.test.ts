import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { dropPrivileges, invokingUser, lookupPasswd, parsePasswdLine, type InvokingUser, userEnvironment } from "../../../src/privsep/drop-privileges.js";
import { finished, spawnScript } from "../../helpers/loc-process.js";

const CHILD = fileURLToPath(new URL("../../helpers/drop-privileges-child.ts", import.meta.url));
const DEV: InvokingUser = { name: "dev", uid: 1000, gid: 1000, home: "/home/dev", shell: "/bin/bash" };
const lookup = (nameOrUid: string) => (nameOrUid === "dev" || nameOrUid === "1000" ? DEV : nameOrUid === "root" ? { ...DEV, name: "root", uid: 0, gid: 0, home: "/root" } : undefined);
const sudo = (uid: string, gid: string, user: string) => ({ SUDO_UID: uid, SUDO_GID: gid, SUDO_USER: user });
const isRoot = process.getuid?.() === 0;

describe("invokingUser", () => {
  it("is nobody without sudo or --user (root stays root)", () => {
    expect(invokingUser({}, undefined, lookup)).toBeUndefined();
  });

  it("is the sudo user, with the group sudo saw", () => {
    expect(invokingUser(sudo("1000", "1000", "dev"), undefined, lookup)).toEqual(DEV);
    expect(invokingUser(sudo("1000", "27", "dev"), undefined, lookup)).toEqual({ ...DEV, gid: 27 });
  });

  it("takes --user NAME without sudo, and under sudo only the user sudo names", () => {
    expect(invokingUser({}, "dev", lookup)).toEqual(DEV);
    expect(() => invokingUser(sudo("1001", "1001", "other"), "dev", lookup)).toThrow(/--user dev is not the user who ran sudo \(other\)/);
  });

  it("refuses root, unknown users, partial or inconsistent sudo variables, odd names", () => {
    const refusals: [NodeJS.ProcessEnv, string | undefined, RegExp][] = [
      [sudo("0", "0", "root"), undefined, /SUDO_UID=0/],
      [{}, "root", /is root/],
      [{}, "ghost", /no such user/],
      [sudo("1000", "1000", "ghost"), undefined, /no such user/],
      [sudo("1001", "1000", "dev"), undefined, /uid 1000, but SUDO_UID is 1001/],
      [{ SUDO_UID: "1000" }, undefined, /must be set together/],
      [sudo("10x", "1000", "dev"), undefined, /not numeric/],
      [sudo("1000", "1000", "dev:x"), undefined, /not a user name/],
      [{}, "dev\nroot", /not a user name/],
    ];
    for (const [env, flag, message] of refusals) {
      expect(() => invokingUser(env, flag, lookup)).toThrow(expect.objectContaining({ code: "BAD_INVOKING_USER", message: expect.stringMatching(message) }));
    }
  });

  it("looks real users up (getent, else /etc/passwd)", () => {
    expect(lookupPasswd("nobody")).toMatchObject({ name: "nobody", uid: 65534 });
    expect(lookupPasswd("65534")).toMatchObject({ name: "nobody" });
    expect(lookupPasswd("no-such-user-loc")).toBeUndefined();
    expect(parsePasswdLine("dev:x:1000:1000:Dev,,,:/home/dev:/bin/zsh")).toEqual({ ...DEV, shell: "/bin/zsh" });
    expect(parsePasswdLine("broken:x:abc:1:::")).toBeUndefined();
  });
});

describe("userEnvironment", () => {
  it("gives the user's identity and moves root's XDG paths to the user's home; KUBECONFIG only if set", () => {
    const env = userEnvironment(DEV, { HOME: "/root", USER: "root", LOGNAME: "root", XDG_CONFIG_HOME: "/root/.config", XDG_DATA_DIRS: "/usr/share", XDG_RUNTIME_DIR: "/run/user/0", PATH: "/usr/bin" });
    expect(env).toMatchObject({ HOME: "/home/dev", USER: "dev", LOGNAME: "dev", XDG_CONFIG_HOME: "/home/dev/.config", XDG_DATA_DIRS: "/usr/share", PATH: "/usr/bin" });
    expect(env.XDG_RUNTIME_DIR).not.toBe("/run/user/0");
    expect("KUBECONFIG" in env).toBe(false);
    expect(userEnvironment(DEV, { HOME: "/root", KUBECONFIG: "/home/dev/k.yaml" }).KUBECONFIG).toBe("/home/dev/k.yaml");
  });
});

describe("dropPrivileges", () => {
  // One test for both cases, so neither is ever skipped: what can be checked depends on who runs it.
  it("as root: a child becomes nobody for good (uid, gid, groups, environment); as a user: refuses", async () => {
    if (!isRoot) {
      expect(() => dropPrivileges({ name: "nobody", uid: 65534, gid: 65534, home: "/", shell: "" })).toThrow(expect.objectContaining({ code: "PRIVSEP_FAILED" }));
      return;
    }
    const env = { HOME: "/root", USER: "root", XDG_STATE_HOME: "/root/.local/state" };
    const result = await finished(spawnScript(CHILD, ["nobody", JSON.stringify(env)]));
    expect(result.stderr).toBe("");
    const seen = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(seen).toMatchObject({ uid: 65534, euid: 65534, gid: 65534, egid: 65534, groups: [65534], regained: false });
    expect(seen.env).toMatchObject({ HOME: "/nonexistent", USER: "nobody", LOGNAME: "nobody", XDG_STATE_HOME: "/nonexistent/.local/state" });
  });
});
