// Property-based fuzzing of the parser: thousands of bodies, no HTTP.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { normalizeStatus, parseGoapiPayload } from "../../src/goapi/normalize";
import { removeSecrets } from "../../src/goapi/sanitize";
import { IMAGE_NAME_PATTERN } from "../../src/images/sources";
import { parseJsonBody } from "../../src/lib/json";
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
});
