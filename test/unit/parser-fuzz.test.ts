// Property-based fuzzing of the parser: thousands of bodies, no HTTP.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { normalizeStatus, parseGoapiPayload } from "../../src/goapi/normalize";
import { removeSecrets } from "../../src/goapi/sanitize";
import { IMAGE_NAME_PATTERN } from "../../src/images/sources";
import { parseJsonBody } from "../../src/lib/json";
import { fixtures } from "../support/fixtures";
import { goapiFuzzBody } from "../support/fuzz-bodies";
import { SECRET } from "../support/keys";

const anyBody = goapiFuzzBody(Array.from({ length: 12 }, () => crypto.randomUUID()));

describe("fuzzing the parser", () => {
  const bytes = fc.oneof(
    anyBody.map((b) => new TextEncoder().encode(JSON.stringify(b))),
    fc.uint8Array({ maxLength: 300 }),
    fc.string({ unit: "binary", maxLength: 300 }).map((s) => new TextEncoder().encode(s)),
  );

  it("turns any bytes into a valid event or a clear refusal, and never throws", () => {
    fc.assert(
      fc.property(bytes, (body) => {
        const json = parseJsonBody(body);
        if (!json.ok) {
          expect(["invalid_json", "invalid_payload"]).toContain(json.code);
          return;
        }
        const parsed = parseGoapiPayload(json.value);
        if (!parsed.ok) {
          expect(parsed.error).toEqual(expect.any(String));
          return;
        }
        const event = parsed.value;
        expect(["pending", "processing", "completed", "failed"]).toContain(event.status);
        expect(normalizeStatus(event.rawStatus).status).toBe(event.status);
        expect(
          Number.isInteger(event.progress) && event.progress >= 0 && event.progress <= 100,
        ).toBe(true);
        expect(event.images.length).toBeLessThanOrEqual(17);
        for (const image of event.images)
          expect(IMAGE_NAME_PATTERN.test(`${image.name}.png`)).toBe(true);
        const cleaned = JSON.stringify(removeSecrets(json.value, [SECRET]));
        expect(cleaned).not.toContain(SECRET);
      }),
      { numRuns: 5000 },
    );
  });

  it("never lets a secret planted in any field of a GoAPI body reach the event it reads", () => {
    // Every string leaf of a realistic body, with the secret spliced into one of them.
    const fields = ["description", "message", "raw_message", "image_url", "actions", "seed"];
    const planted = fc.tuple(
      fc.constantFrom(...Object.values(fixtures)),
      fc.constantFrom(...fields),
      fc.string({ maxLength: 8 }),
    );
    fc.assert(
      fc.property(planted, ([fixture, field, around]) => {
        const body = plant(structuredClone(fixture), field, `${around}${SECRET}${around}`);
        const parsed = parseGoapiPayload(removeSecrets(body, [SECRET]));
        if (parsed.ok) expect(JSON.stringify(parsed.value)).not.toContain(SECRET);
      }),
      { numRuns: 500 },
    );
  });
});

/** Sets `value` on every `field` of `body`, at any depth (a list field gets it as an item). */
function plant(body: unknown, field: string, value: string): unknown {
  if (Array.isArray(body)) return body.map((item) => plant(item, field, value));
  if (typeof body !== "object" || body === null) return body;
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(body)) copy[key] = plant(item, field, value);
  if (field in copy) copy[field] = Array.isArray(copy[field]) ? [value] : value;
  else if (field === "raw_message" || field === "message") {
    if ("error" in copy && typeof copy.error === "object" && copy.error !== null) {
      copy.error = { ...copy.error, code: 1, [field]: value };
    }
  } else if (field === "description" && "output" in copy) {
    copy.output = { ...(copy.output as object), description: value };
  }
  return copy;
}
