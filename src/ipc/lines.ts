/**
 * Splits a text stream into lines for the daemon's one-JSON-object-per-line protocol: `push` each
 * chunk; `pending` is how many characters still wait for their newline (to bound a misbehaving peer).
 */
export function lineReader(onLine: (line: string) => void): { push(chunk: string): void; pending(): number; clear(): void } {
  let buffered = "";
  return {
    push(chunk) {
      buffered += chunk;
      for (let newline = buffered.indexOf("\n"); newline >= 0; newline = buffered.indexOf("\n")) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        onLine(line);
      }
    },
    pending: () => buffered.length,
    clear: () => void (buffered = ""),
  };
}
