import { describe, expect, it, vi } from "vitest";
import { configProblems, goapiApi, publicBaseUrl, secretsToRemove } from "../../src/config";
import { matchingSubscriptions, parseSubscriptions } from "../../src/delivery/subscriptions";

const KEY = "whsec_yP710dDrCm5Y83JNiyLNl8SQbT5CSEMgGNbShKTYJn0=";
const base = {
  id: "gallery",
  url: "https://gallery.example.com/hooks/mj",
  secret: "env:GALLERY_SECRET",
};

function errorsOf(
  value: unknown,
  secrets: Record<string, unknown> = { GALLERY_SECRET: KEY },
): string[] {
  const result = parseSubscriptions(value, secrets);
  return result.ok ? [] : result.errors;
}

describe("SUBSCRIPTIONS", () => {
  it("applies the documented defaults", () => {
    const result = parseSubscriptions(JSON.stringify([base]), { GALLERY_SECRET: KEY });
    expect(result).toEqual({
      ok: true,
      value: [
        {
          ...base,
          events: ["task.created", "task.completed", "task.failed"],
          format: "midhook",
          headers: {},
          max_attempts: 10,
          timeout_ms: 15000,
          pause_after_failures: 10,
          keys: [KEY],
          resolvedHeaders: {},
          secretHeaderValues: [],
        },
      ],
    });
    expect(parseSubscriptions("", {})).toEqual({ ok: true, value: [] });
    expect(parseSubscriptions(undefined, {})).toEqual({ ok: true, value: [] });
  });

  it("accepts the structured form a wrangler.toml var produces", () => {
    expect(parseSubscriptions([base], { GALLERY_SECRET: KEY }).ok).toBe(true);
  });

  it("names the subscription and the field at fault", () => {
    expect(errorsOf("{oops")).toEqual(["SUBSCRIPTIONS: is not valid JSON"]);
    expect(errorsOf({ id: "x" })).toEqual(["SUBSCRIPTIONS: must be a JSON array"]);
    expect(errorsOf([{ ...base, url: "http://gallery.example.com/x" }])).toEqual([
      "subscriptions[0] (gallery).url: must be https (http only for localhost)",
    ]);
    expect(errorsOf([{ ...base, url: "https://user:pw@gallery.example.com/x" }])).toEqual([
      "subscriptions[0] (gallery).url: must not carry credentials",
    ]);
    expect(errorsOf([{ ...base, events: ["task.done"] }])[0]).toMatch(
      /^subscriptions\[0\] \(gallery\)\.events\.0: /,
    );
    expect(errorsOf([{ ...base, max_attempts: 500 }])[0]).toMatch(
      /^subscriptions\[0\] \(gallery\)\.max_attempts: /,
    );
    expect(errorsOf([{ ...base, colour: "red" }])[0]).toMatch(/colour/);
    expect(errorsOf([{ ...base, headers: { "webhook-id": "x" } }])).toEqual([
      "subscriptions[0] (gallery).headers.webhook-id: is set by midhook or the runtime",
    ]);
    expect(errorsOf([base, base])).toEqual(["subscriptions[1] (gallery).id: duplicate id"]);
  });

  it("requires env: secrets to be set to a whsec_ key, without echoing their values", () => {
    expect(errorsOf([base], {})).toEqual([
      "subscriptions[0] (gallery).secret: GALLERY_SECRET is not set (wrangler secret put GALLERY_SECRET)",
    ]);
    const errors = errorsOf([base], { GALLERY_SECRET: "plain-password-123" });
    expect(errors).toEqual([
      "subscriptions[0] (gallery).secret: GALLERY_SECRET must be whsec_ followed by the base64 of at least 24 bytes",
    ]);
    expect(errors.join()).not.toContain("plain-password-123");
    expect(errorsOf([{ ...base, secret: "hunter2" }])[0]).toContain(
      "must be env:NAME or a whsec_ key",
    );
    expect(errorsOf([{ ...base, secret: "hunter2" }]).join()).not.toContain("hunter2");
  });

  it("accepts only keys that decode to at least 24 bytes of standard base64", () => {
    const withKey = (key: string) => errorsOf([base], { GALLERY_SECRET: key });
    const refusal = [
      "subscriptions[0] (gallery).secret: GALLERY_SECRET must be whsec_ followed by the base64 of at least 24 bytes",
    ];
    // Shapes a pattern check lets through but a decoder refuses.
    expect(withKey(`whsec_${"A".repeat(17)}`)).toEqual(refusal);
    expect(withKey(`whsec_${"A".repeat(16)}=`)).toEqual(refusal);
    expect(withKey(`whsec_${"A".repeat(30)}===`)).toEqual(refusal);
    // Well-formed, but too short a key.
    expect(withKey(`whsec_${btoa("x".repeat(23))}`)).toEqual(refusal);
    expect(withKey(`whsec_${btoa("x".repeat(24))}`)).toEqual([]);
    expect(withKey(`whsec_${btoa("x".repeat(64))}`)).toEqual([]);
    expect(errorsOf([{ ...base, secret: `whsec_${"A".repeat(17)}` }])).toEqual([
      "subscriptions[0] (gallery).secret: the key must be whsec_ followed by the base64 of at least 24 bytes",
    ]);
  });

  it("checks every header: a token for a name, no CR or LF in a value, nothing reserved", () => {
    const cases: Array<[Record<string, string>, string]> = [
      [{ "x team": "art" }, ".headers.x team: is not a valid header name"],
      [{ "x-team:": "art" }, ".headers.x-team:: is not a valid header name"],
      [{ "x-team": "art\r\nx-evil: 1" }, ".headers.x-team: must not contain CR, LF or NUL"],
      [{ Host: "elsewhere.example" }, ".headers.Host: is set by midhook or the runtime"],
      [{ "Content-Length": "1" }, ".headers.Content-Length: is set by midhook or the runtime"],
      [{ connection: "close" }, ".headers.connection: is set by midhook or the runtime"],
      [
        { "Transfer-Encoding": "chunked" },
        ".headers.Transfer-Encoding: is set by midhook or the runtime",
      ],
      [
        { "content-encoding": "gzip" },
        ".headers.content-encoding: is set by midhook or the runtime",
      ],
      [
        { "x-token": "env:TEAM_TOKEN" },
        ".headers.x-token: TEAM_TOKEN is not set (wrangler secret put TEAM_TOKEN)",
      ],
    ];
    for (const [headers, error] of cases) {
      expect(errorsOf([{ ...base, headers }])).toEqual([`subscriptions[0] (gallery)${error}`]);
    }
    const ok = parseSubscriptions(
      [{ ...base, headers: { "x-team": "art", "x-token": "env:TEAM_TOKEN" } }],
      {
        GALLERY_SECRET: KEY,
        TEAM_TOKEN: "t0ken",
      },
    );
    expect(ok.ok && ok.value[0]).toMatchObject({
      headers: { "x-team": "art", "x-token": "env:TEAM_TOKEN" },
      resolvedHeaders: { "x-team": "art", "x-token": "t0ken" },
      secretHeaderValues: ["t0ken"],
    });
  });

  it("refuses header values with characters an HTTP header cannot carry, naming the header", () => {
    expect(errorsOf([{ ...base, headers: { "x-team": "caf\u00e9 \u2603" } }])).toEqual([
      "subscriptions[0] (gallery).headers.x-team: must contain only characters up to U+00FF (Latin-1); percent-encode or base64 anything else",
    ]);
    expect(
      errorsOf([{ ...base, headers: { "x-token": "env:TEAM_TOKEN" } }], {
        GALLERY_SECRET: KEY,
        TEAM_TOKEN: "t\u00f6ken-\u{1f511}",
      }),
    ).toEqual([
      "subscriptions[0] (gallery).headers.x-token: TEAM_TOKEN must contain only characters up to U+00FF (Latin-1); percent-encode or base64 anything else",
    ]);
    expect(errorsOf([{ ...base, headers: { "x-team": "caf\u00e9" } }])).toEqual([]);
  });

  it("takes a list of keys, each checked on its own, to sign with all of them", () => {
    const second = `whsec_${btoa("y".repeat(32))}`;
    const both = parseSubscriptions([{ ...base, secret: ["env:GALLERY_SECRET", second] }], {
      GALLERY_SECRET: KEY,
    });
    expect(both.ok && both.value[0]?.keys).toEqual([KEY, second]);
    expect(errorsOf([{ ...base, secret: ["env:GALLERY_SECRET", "whsec_short"] }])).toEqual([
      "subscriptions[0] (gallery).secret.1: the key must be whsec_ followed by the base64 of at least 24 bytes",
    ]);
    expect(errorsOf([{ ...base, secret: [] }])[0]).toMatch(
      /^subscriptions\[0\] \(gallery\)\.secret: /,
    );
  });

  it("pauses after 10 failures unless told otherwise, and never with 0", () => {
    const parsed = (extra: object) =>
      parseSubscriptions([{ ...base, ...extra }], { GALLERY_SECRET: KEY });
    const pauseOf = (extra: object) => {
      const result = parsed(extra);
      return result.ok ? result.value[0]?.pause_after_failures : undefined;
    };
    expect([
      pauseOf({}),
      pauseOf({ pause_after_failures: 0 }),
      pauseOf({ pause_after_failures: 3 }),
    ]).toEqual([10, 0, 3]);
    expect(errorsOf([{ ...base, pause_after_failures: -1 }])[0]).toMatch(/pause_after_failures/);
  });

  it("allows http only to loopback receivers", () => {
    expect(errorsOf([{ ...base, url: "http://127.0.0.1:9000/hook" }])).toEqual([]);
    expect(errorsOf([{ ...base, url: "http://localhost:9000/hook" }])).toEqual([]);
    expect(errorsOf([{ ...base, url: "http://10.0.0.5/hook" }])).toEqual([
      "subscriptions[0] (gallery).url: must be https (http only for localhost)",
      "subscriptions[0] (gallery).url: must not point at a private or link-local address",
    ]);
  });

  it("matches by event type and task type", () => {
    const result = parseSubscriptions(
      [
        { ...base, id: "a", events: ["task.completed"], task_types: ["imagine"] },
        { ...base, id: "b", events: ["task.progress", "task.completed"] },
      ],
      { GALLERY_SECRET: KEY },
    );
    if (!result.ok) throw new Error(result.errors.join());
    const ids = (type: "task.completed" | "task.progress", taskType: string) =>
      matchingSubscriptions(result.value, type, taskType).map((s) => s.id);
    expect(ids("task.completed", "imagine")).toEqual(["a", "b"]);
    expect(ids("task.completed", "describe")).toEqual(["b"]);
    expect(ids("task.progress", "imagine")).toEqual(["b"]);
  });

  it("refuses a task type longer than any task's can be, which would never match", () => {
    expect(errorsOf([{ ...base, task_types: ["x".repeat(100)] }])).toEqual([]);
    expect(errorsOf([{ ...base, task_types: ["x".repeat(101)] }])[0]).toMatch(
      /^subscriptions\[0\] \(gallery\)\.task_types\.0: /,
    );
  });
});

describe("secretsToRemove", () => {
  it("keeps every readable subscription key and secret header value when SUBSCRIPTIONS is invalid", () => {
    const literal = `whsec_${btoa("z".repeat(32))}`;
    const env = {
      GOAPI_WEBHOOK_SECRET: "hook",
      GALLERY_SECRET: KEY,
      TEAM_TOKEN: "t0ken",
      SUBSCRIPTIONS: JSON.stringify([
        { ...base, url: "http://10.0.0.1/", secret: literal },
        { ...base, id: "b", headers: { "x-token": "env:TEAM_TOKEN", "x-team": "art" } },
        { ...base, id: "c", secret: ["env:UNSET_KEY"] },
      ]),
    };
    const secrets = secretsToRemove(env);
    expect(secrets).toEqual(["hook", literal, KEY, "t0ken"]);
  });
});

describe("configProblems", () => {
  it("reports every bad setting by name", () => {
    expect(configProblems({ GOAPI_WEBHOOK_SECRET: "webhook-secret", SUBSCRIPTIONS: "[]" })).toEqual(
      [],
    );
    expect(
      configProblems({
        MAX_IMAGE_BYTES: "lots",
        IMAGE_HOSTS: "ok.example.com, https://bad.example.com/",
        PUBLIC_BASE_URL: "hooks.example.com",
        SUBSCRIPTIONS: "[1]",
      }),
    ).toEqual([
      "GOAPI_WEBHOOK_SECRET: not set; every webhook would be refused with 503",
      'MAX_IMAGE_BYTES: "lots" is not a positive whole number',
      'IMAGE_HOSTS: "https://bad.example.com/" is not a host or host:port',
      "PUBLIC_BASE_URL: must be an https origin such as https://hooks.example.com (http only for localhost)",
      expect.stringMatching(/^subscriptions\[0\]: /),
    ]);
  });

  it("takes every IMAGE_HOSTS entry the copy can match, an IPv6 literal in brackets included", () => {
    const base = { GOAPI_WEBHOOK_SECRET: "webhook-secret", SUBSCRIPTIONS: "[]" };
    const hosts =
      "img.example.com, img.example.com:8443, localhost:8788, 127.0.0.1:8788, [::1]:8788, [2606:4700:4700::1111]";
    expect(configProblems({ ...base, IMAGE_HOSTS: hosts })).toEqual([]);
    // Entries the copy could never match: not a host, an address that is not public, or an IPv6
    // literal not written as a URL writes it.
    for (const bad of [
      "[::1",
      "[zz]:80",
      "img.example.com/path",
      "user@img.example.com",
      "10.0.0.5",
      "[fd00::1]",
      "[::ffff:10.0.0.1]",
      "[2606:4700:4700:0::1111]",
    ]) {
      expect(configProblems({ ...base, IMAGE_HOSTS: bad }), bad).toEqual([
        expect.stringMatching(new RegExp(`^IMAGE_HOSTS: "${bad.replace(/[[\].]/g, "\\$&")}" `)),
      ]);
    }
  });

  it("refuses secrets too short to guess hard or to find in a payload", () => {
    const base = { GOAPI_WEBHOOK_SECRET: "webhook-secret", SUBSCRIPTIONS: "[]" };
    expect(
      configProblems({ ...base, ADMIN_TOKEN: "admin-token", GOAPI_API_KEY: "api-key-1" }),
    ).toEqual([]);
    expect(
      configProblems({
        ...base,
        GOAPI_WEBHOOK_SECRET: "webhook-secret, 2024",
        ADMIN_TOKEN: "admin",
        GOAPI_API_KEY: "key",
      }),
    ).toEqual([
      expect.stringMatching(/^GOAPI_WEBHOOK_SECRET: a value is shorter than 8 characters/),
      expect.stringMatching(/^ADMIN_TOKEN: a value is shorter than 8 characters/),
      expect.stringMatching(/^GOAPI_API_KEY: a value is shorter than 8 characters/),
    ]);
  });

  it("takes PUBLIC_BASE_URL only as an https origin, or http to a loopback host", () => {
    const base = { GOAPI_WEBHOOK_SECRET: "webhook-secret", SUBSCRIPTIONS: "[]" };
    const problemsOf = (PUBLIC_BASE_URL: string) => configProblems({ ...base, PUBLIC_BASE_URL });
    for (const good of [
      "https://hooks.example.com",
      "https://hooks.example.com/",
      " https://hooks.example.com:8443 ",
      "http://localhost:8787",
      "http://127.0.0.1:8787/",
      "http://[::1]:8787",
    ]) {
      expect(problemsOf(good), good).toEqual([]);
    }
    for (const bad of [
      "http://hooks.example.com",
      "http://10.0.0.5:8787",
      "https://hooks.example.com/midhook",
      "https://hooks.example.com/?x=1",
      "https://user@hooks.example.com",
      "ftp://hooks.example.com",
      "hooks.example.com",
    ]) {
      expect(problemsOf(bad), bad).toEqual([
        "PUBLIC_BASE_URL: must be an https origin such as https://hooks.example.com (http only for localhost)",
      ]);
    }
  });
});

describe("GOAPI_API_BASE", () => {
  const apiKey = "goapi-key-for-config-test";

  it("is used as given when it is an https origin, or http to a loopback host", () => {
    expect(goapiApi({ GOAPI_API_KEY: apiKey })?.base).toBe("https://api.goapi.ai");
    for (const [given, base] of [
      ["https://api.goapi.ai/", "https://api.goapi.ai"],
      ["https://proxy.example.com:8443", "https://proxy.example.com:8443"],
      ["http://localhost:9000", "http://localhost:9000"],
      ["http://127.0.0.1:9000/", "http://127.0.0.1:9000"],
      ["http://[::1]:9000", "http://[::1]:9000"],
      ["https://api.goapi.ai/.", "https://api.goapi.ai"],
    ]) {
      expect(goapiApi({ GOAPI_API_KEY: apiKey, GOAPI_API_BASE: given })?.base, given).toBe(base);
    }
  });

  it("turns submission and reconciliation off, and says so once without the key, for any other base", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    for (const given of [
      "http://api.goapi.ai",
      "http://10.0.0.5:9000",
      "https://api.goapi.ai/v1",
      "https://user:pw@api.goapi.ai",
      "https://:pw@api.goapi.ai",
      "https://api.goapi.ai#x",
      "ftp://api.goapi.ai",
      "api.goapi.ai",
      // The key never goes to an address that is not public (loopback excepted, for local use).
      "https://169.254.169.254",
      "https://10.0.0.5:8443",
      "https://0x7f000002",
      "https://[fd00::1]",
    ]) {
      expect(goapiApi({ GOAPI_API_KEY: apiKey, GOAPI_API_BASE: given }), given).toBeNull();
      expect(goapiApi({ GOAPI_API_KEY: apiKey, GOAPI_API_BASE: given }), given).toBeNull();
      expect(
        configProblems({ GOAPI_WEBHOOK_SECRET: "webhook-secret", GOAPI_API_BASE: given }),
        given,
      ).toEqual([expect.stringMatching(/^GOAPI_API_BASE: must be an https origin/)]);
    }
    expect(warn).toHaveBeenCalledTimes(12);
    for (const call of warn.mock.calls) {
      expect(call.join(" ")).toMatch(/^GOAPI_API_BASE: must be an https origin/);
      expect(call.join(" ")).not.toContain(apiKey);
    }
  });
});

describe("PUBLIC_BASE_URL", () => {
  const requestOrigin = "https://midhook.example.workers.dev";

  it("is used as given when it is an https origin, or http to a loopback host", () => {
    expect(publicBaseUrl({}, requestOrigin)).toBe(requestOrigin);
    expect(publicBaseUrl({ PUBLIC_BASE_URL: " " }, `${requestOrigin}/`)).toBe(requestOrigin);
    for (const [given, base] of [
      ["https://hooks.example.com", "https://hooks.example.com"],
      ["https://hooks.example.com/", "https://hooks.example.com"],
      ["https://hooks.example.com:8443", "https://hooks.example.com:8443"],
      ["http://localhost:8787", "http://localhost:8787"],
      // Written oddly, read as the origin they name.
      ["https://hooks.example.com\\", "https://hooks.example.com"],
      ["https://@hooks.example.com", "https://hooks.example.com"],
      ["HTTPS://Hooks.Example.COM:443/", "https://hooks.example.com"],
    ]) {
      expect(publicBaseUrl({ PUBLIC_BASE_URL: given }, requestOrigin), given).toBe(base);
    }
  });

  it("gives way to the origin GoAPI called, and says so once, for any other value", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const refused = [
      "hooks.example.com",
      "http://hooks.example.com",
      "https://hooks.example.com/midhook",
      "https://hooks.example.com/?x=1",
      "https://user:pw@hooks.example.com",
      "https://:pw@hooks.example.com",
      "https://hooks.example.com/#x",
      "https://hooks.example.com/?",
      "javascript:alert(1)",
    ];
    for (const given of refused) {
      expect(publicBaseUrl({ PUBLIC_BASE_URL: given }, requestOrigin), given).toBe(requestOrigin);
      expect(publicBaseUrl({ PUBLIC_BASE_URL: given }, requestOrigin), given).toBe(requestOrigin);
    }
    expect(warn).toHaveBeenCalledTimes(refused.length);
    for (const call of warn.mock.calls) {
      expect(call.join(" ")).toMatch(/^PUBLIC_BASE_URL: must be an https origin/);
    }
  });
});
