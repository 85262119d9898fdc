// Decoding a request body as UTF-8 JSON with a bound on nesting depth.

export type JsonResult =
  | { ok: true; value: unknown }
  | { ok: false; code: "invalid_json" | "invalid_payload"; error: string };

/** GoAPI payloads nest about 5 levels; far deeper bodies are refused before any recursive walk. */
const MAX_JSON_DEPTH = 64;

/** Parses `bytes` as strict UTF-8 JSON (`invalid_json`) nested at most MAX_JSON_DEPTH deep (`invalid_payload`). */
export function parseJsonBody(bytes: Uint8Array): JsonResult {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes));
  } catch {
    return { ok: false, code: "invalid_json", error: "body is not valid UTF-8 JSON" };
  }
  if (depthExceeds(value, MAX_JSON_DEPTH)) {
    return {
      ok: false,
      code: "invalid_payload",
      error: `JSON nested deeper than ${MAX_JSON_DEPTH}`,
    };
  }
  return { ok: true, value };
}

function depthExceeds(root: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[root, 0]];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const [value, depth] = item;
    if (typeof value !== "object" || value === null) continue;
    if (depth >= max) return true;
    for (const child of Object.values(value)) stack.push([child, depth + 1]);
  }
  return false;
}
