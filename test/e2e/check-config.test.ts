// `npm run check-config` as a user runs it, in a copy of the project: it judges the config the
// way `npm run dev` or a deploy will load it, and says where each secret comes from.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { copyProject, varsFile } from "./support/project-copy";

const copies: string[] = [];
afterEach(() => {
  for (const dir of copies.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function checkConfig(dir: string, args: string[] = []) {
  const run = spawnSync("npm", ["run", "--silent", "check-config", "--", ...args], {
    cwd: dir,
    encoding: "utf8",
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" },
  });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

const subscriptions = JSON.stringify([
  { id: "gallery", url: "https://gallery.example.com/hooks", secret: "env:GALLERY_WEBHOOK_SECRET" },
]);
const goodKey = `whsec_${randomBytes(32).toString("base64")}`;

describe("npm run check-config", () => {
  it("judges what `npm run dev` loads from .dev.vars, and names each secret's source", () => {
    const dir = copyProject({
      GOAPI_WEBHOOK_SECRET: "dev-secret",
      SUBSCRIPTIONS: subscriptions,
      GALLERY_WEBHOOK_SECRET: goodKey,
    });
    copies.push(dir);
    const { status, output } = checkConfig(dir);
    expect(output).toContain("the config `npm run dev` runs (wrangler.toml + .dev.vars)");
    expect(output).toMatch(/GOAPI_WEBHOOK_SECRET\s+from \.dev\.vars/);
    expect(output).toMatch(/GALLERY_WEBHOOK_SECRET\s+from \.dev\.vars/);
    expect(output).toMatch(/ADMIN_TOKEN\s+not set/);
    expect(output).not.toContain(goodKey);
    expect(status, output).toBe(0);
  });

  it("fails, naming the subscription and field, when a key in .dev.vars does not decode", () => {
    const dir = copyProject({
      GOAPI_WEBHOOK_SECRET: "dev-secret",
      SUBSCRIPTIONS: subscriptions,
      GALLERY_WEBHOOK_SECRET: `whsec_${"A".repeat(17)}`,
    });
    copies.push(dir);
    const { status, output } = checkConfig(dir);
    expect(status).toBe(1);
    expect(output).toContain(
      "subscriptions[0] (gallery).secret: GALLERY_WEBHOOK_SECRET must be whsec_ followed by the base64 of at least 24 bytes",
    );
  });

  it("judges a deploy from a vars file of the secrets to put, and says which it cannot see", () => {
    const dir = copyProject();
    copies.push(dir);
    writeFileSync(
      join(dir, "prod.vars"),
      varsFile({ GOAPI_WEBHOOK_SECRET: "prod-secret", SUBSCRIPTIONS: subscriptions }),
    );
    const { status, output } = checkConfig(dir, ["--deploy", "--vars", "prod.vars"]);
    expect(output).toContain("the config `npm run deploy` runs (wrangler.toml + prod.vars)");
    expect(output).toMatch(/GOAPI_WEBHOOK_SECRET\s+from prod\.vars/);
    expect(output).toMatch(
      /GALLERY_WEBHOOK_SECRET\s+not in prod\.vars: assumed set with `wrangler secret put GALLERY_WEBHOOK_SECRET`/,
    );
    expect(status, output).toBe(0);
  });

  it("fails a deploy whose secrets are the development values .dev.vars.example publishes", () => {
    const dir = copyProject();
    copies.push(dir);
    writeFileSync(
      join(dir, "prod.vars"),
      varsFile({
        GOAPI_WEBHOOK_SECRET: "prod-secret, dev-goapi-secret",
        ADMIN_TOKEN: "dev-admin-token",
      }),
    );
    const { status, output } = checkConfig(dir, ["--deploy", "--vars", "prod.vars"]);
    expect(status, output).toBe(1);
    for (const name of ["GOAPI_WEBHOOK_SECRET", "ADMIN_TOKEN"]) {
      expect(output).toContain(
        `${name}: is the development value published in .dev.vars.example; set a secret of your own with \`wrangler secret put ${name}\``,
      );
    }
  });

  it("accepts the development values for what `npm run dev` runs", () => {
    const dir = copyProject({
      GOAPI_WEBHOOK_SECRET: "dev-goapi-secret",
      ADMIN_TOKEN: "dev-admin-token",
    });
    copies.push(dir);
    const { status, output } = checkConfig(dir);
    expect(output).not.toContain("development value");
    expect(status, output).toBe(0);
  });

  it("runs before `npm run deploy` touches the account, and stops it on a problem", () => {
    const dir = copyProject();
    copies.push(dir);
    const toml = join(dir, "wrangler.toml");
    writeFileSync(
      toml,
      readFileSync(toml, "utf8")
        .replace('SUBSCRIPTIONS = "[]"', 'SUBSCRIPTIONS = "[{"')
        .replace("00000000-0000-0000-0000-000000000000", "6f1c1d52-8f0e-4d5e-9a57-3d1f0f3c2b11"),
    );
    const deploy = (...args: string[]) => {
      const run = spawnSync("npm", ["run", "--silent", "deploy", "--", ...args], {
        cwd: dir,
        encoding: "utf8",
        env: { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" },
      });
      return { status: run.status, output: `${run.stdout}${run.stderr}` };
    };
    const { status, output } = deploy();
    expect(status, output).toBe(1);
    expect(output).toContain("the config `npm run deploy` runs (wrangler.toml)");
    expect(output).toMatch(/problem\(s\):\n\s+- SUBSCRIPTIONS/);
    // Neither the remote migrations nor the deploy itself were started.
    expect(output).not.toMatch(/wrangler \d/);
    // An environment given to the deploy is the one checked.
    const staging = deploy("-e", "staging");
    expect(staging.status, staging.output).toBe(1);
    expect(staging.output).toContain("runs (wrangler.toml [env staging])");
    expect(staging.output).not.toMatch(/wrangler \d/);
  });
});
