import { LocError } from "../errors.js";

interface Named {
  readonly kind: string;
  readonly name: string;
}

/** Transports by kind and name, so `--transport NAME` picks a plugin and a typo lists the real ones. */
export class TransportRegistry<T extends Named = Named> {
  private readonly plugins = new Map<string, T>();

  register(plugin: T): this {
    const key = `${plugin.kind}:${plugin.name}`;
    if (this.plugins.has(key)) throw new Error(`transport ${plugin.name} (${plugin.kind}) is registered twice`);
    this.plugins.set(key, plugin);
    return this;
  }

  names(kind: T["kind"]): string[] {
    return [...this.plugins.values()].filter((p) => p.kind === kind).map((p) => p.name).sort();
  }

  get<K extends T["kind"]>(kind: K, name: string): Extract<T, { kind: K }> {
    const plugin = this.plugins.get(`${kind}:${name}`);
    if (!plugin) {
      const available = this.names(kind);
      throw new LocError(
        `unknown transport "${name}"`,
        available.length ? `available: ${available.join(", ")}` : `no ${kind} transport is available in this build`,
        "UNKNOWN_TRANSPORT",
      );
    }
    return plugin as Extract<T, { kind: K }>;
  }
}
