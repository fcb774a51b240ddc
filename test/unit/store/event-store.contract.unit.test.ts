import { join } from "node:path";
import { afterEach } from "vitest";
import { MemoryEventStore } from "../../support/memory-store.js";
import { SqliteEventStore } from "../../../src/store/sqlite-store.js";
import { eventStoreContract } from "../../helpers/store-contract.js";
import { tempDir } from "../../helpers/temp.js";

const open: { close(): void }[] = [];
afterEach(() => open.splice(0).forEach((store) => store.close()));

eventStoreContract("in-memory", (now) => new MemoryEventStore(now));

eventStoreContract("SQLite file", (now) => {
  const store = SqliteEventStore.open({ path: join(tempDir(), "events.db"), mode: "write", now });
  open.push(store);
  return store;
});
