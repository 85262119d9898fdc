// `npm run send` against `npm run dev`, as the README tells a new user to try midhook: every send
// is a new task unless asked otherwise, and sample images are served locally and archived.
import { spawnSync } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { readView, views } from "../support/views";
import { type DevServer, startDevServer } from "./support/project-copy";

function send(dev: DevServer, args: string[]) {
  const run = spawnSync("npm", ["run", "--silent", "send", "--", ...args, "--url", dev.url], {
    cwd: dev.dir,
    encoding: "utf8",
    env: { ...process.env, ...dev.env },
  });
  const line = run.stdout.split("\n").find((l) => /^\d{3} /.test(l)) ?? "";
  if (line === "") throw new Error(`npm run send printed no answer:\n${run.stdout}${run.stderr}`);
  return { status: Number(line.slice(0, 3)), answer: JSON.parse(line.slice(4)) };
}

describe("npm run send", () => {
  let dev: DevServer | undefined;
  afterAll(async () => {
    await dev?.stop();
  });

  it("sends each sample as a new task, and one task's steps with --task-id", async () => {
    dev = await startDevServer({
      GOAPI_WEBHOOK_SECRET: "dev-goapi-secret",
      ADMIN_TOKEN: "dev-admin-token",
    });
    const first = send(dev, ["v2-finished"]);
    const second = send(dev, ["v2-finished"]);
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(first.answer.task_id).not.toBe(second.answer.task_id);
    expect([first.answer.stale, second.answer.stale]).toEqual([false, false]);

    const taskId = crypto.randomUUID();
    const steps = ["v2-pending", "v2-progress-40", "v2-finished", "v2-finished"].map(
      (sample) => send(dev as DevServer, [sample, "--task-id", taskId]).answer,
    );
    expect(steps.map((a) => [a.task_id, a.duplicate, a.stale])).toEqual([
      [taskId, false, false],
      [taskId, false, false],
      [taskId, false, false],
      [taskId, true, false],
    ]);

    // The sample's image came from the local sample host and was archived.
    const headers = { authorization: "Bearer dev-admin-token" };
    const deadline = Date.now() + 20_000;
    let images: Array<{ state: string; url: string | null; source_url: string }> = [];
    while (Date.now() < deadline) {
      const view = await readView(
        await fetch(`${dev.url}/v1/tasks/${taskId}`, { headers }),
        views.task,
      );
      images = view.images;
      if (images.length > 0 && images.every((i) => i.state !== "pending")) break;
      await new Promise((done) => setTimeout(done, 200));
    }
    expect(images.map((i) => i.state)).toEqual(["stored"]);
    expect(images[0]?.source_url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/samples\//);
    const archived = await fetch(images[0]?.url ?? "");
    expect(archived.headers.get("content-type")).toBe("image/png");
  });
});
