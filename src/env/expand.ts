/**
 * `$(VAR)` expansion exactly as the kubelet does it (third_party/forked/golang/expansion in
 * kubernetes): `$(NAME)` becomes the value of NAME when it is defined so far, and stays as written
 * when it is not; `$$` is an escaped `$`; a `$` before anything else, or an unclosed `$(`, is kept.
 * Go walks bytes; this walks UTF-16 code units, which agrees for every ASCII operator and name.
 */
export function expand(input: string, lookup: (name: string) => string | undefined): string {
  let out = "";
  let checkpoint = 0;
  for (let cursor = 0; cursor < input.length; cursor++) {
    if (input[cursor] !== "$" || cursor + 1 >= input.length) continue;
    out += input.slice(checkpoint, cursor);
    const { text, isVar, advance } = readReference(input.slice(cursor + 1));
    out += isVar ? (lookup(text) ?? `$(${text})`) : text;
    cursor += advance;
    checkpoint = cursor + 1;
  }
  return out + input.slice(checkpoint);
}

function readReference(rest: string): { text: string; isVar: boolean; advance: number } {
  const first = rest[0] ?? "";
  if (first === "$") return { text: "$", isVar: false, advance: 1 };
  if (first === "(") {
    const close = rest.indexOf(")", 1);
    if (close >= 0) return { text: rest.slice(1, close), isVar: true, advance: close + 1 };
    return { text: "$(", isVar: false, advance: 1 };
  }
  return { text: "$" + first, isVar: false, advance: 1 };
}
