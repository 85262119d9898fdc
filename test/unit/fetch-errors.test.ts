import { describe, expect, it } from "vitest";
import { describeFetchError } from "../../src/lib/fetch-errors";

describe("describeFetchError", () => {
  const timeout = Object.assign(new Error("The operation was aborted due to timeout"), {
    name: "TimeoutError",
  });

  it("turns what Workers' fetch throws into a sentence naming the host", () => {
    const cases: Array<[unknown, string]> = [
      [timeout, "no answer from hooks.example.com within 15 s"],
      [
        new Error("internal error; reference = sjki7q4v9pg2b3b0m72hinc0"),
        "could not reach hooks.example.com: its name did not resolve (DNS lookup failed)",
      ],
      [
        new Error("Network connection lost."),
        "connection to hooks.example.com refused or dropped before it answered",
      ],
      [new TypeError("fetch failed"), "could not reach hooks.example.com: fetch failed"],
    ];
    for (const [err, sentence] of cases) {
      expect(describeFetchError(err, "hooks.example.com", 15_000)).toBe(sentence);
    }
    expect(describeFetchError(timeout, "h", 2500)).toBe("no answer from h within 2500 ms");
  });
});
