/**
 * The observer pattern loc uses everywhere a component says "something changed": `add` returns the
 * listener's own removal, `emit` calls every listener (one added during an emit is called too).
 */
export class Listeners<Args extends unknown[] = []> {
  private readonly listeners = new Set<(...args: Args) => void>();

  add(listener: (...args: Args) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  emit(...args: Args): void {
    for (const listener of this.listeners) listener(...args);
  }

  get size(): number {
    return this.listeners.size;
  }
}
