import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { taskObject } from "../src/bindings";
import { archiveImage } from "../src/images/archive";
import { runAlarmNow } from "./support/alarm";
import { overrideEnv } from "./support/env";
import { clone, fixtures, v2Event } from "./support/fixtures";
import {
  deliveries,
  eventually,
  fetchedImages,
  pngBytes,
  serveImage,
  sha256Hex,
} from "./support/network";
import { quietTask } from "./support/quiet-task";
import { newTaskId, postWebhook, taskView } from "./support/requests";

const limits = { hosts: ["images.test"], maxBytes: 1024 * 1024, timeoutMs: 10_000 };
/** Limits for copies of a few MiB. */
const big = { ...limits, maxBytes: 8 * 1024 * 1024 };
/** The same, with a time limit a test can outlast. */
const quick = { ...big, timeoutMs: 300 };
/** What a copy of "main.png" cut by `quick`'s time limit says. */
const timedOut = {
  ok: false,
  name: "main.png",
  retryable: true,
  error: "the copy did not finish within 300 ms",
};

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

/** A new task's 3 MiB random main image, served by the fake image host with its length. */
function servedImage(): { taskId: string; bytes: Uint8Array; url: string } {
  const taskId = newTaskId();
  const bytes = randomImage(3 * 1024 * 1024);
  return { taskId, bytes, url: serveImage(`/${taskId}/main.png`, () => png(bytes)) };
}

/** A bucket that stores with `put` (and can do nothing else). */
function bucketWith(
  put: (key: string, stream: ReadableStream<Uint8Array>, options: R2PutOptions) => Promise<unknown>,
): R2Bucket {
  return { put } as unknown as R2Bucket;
}

function png(bytes: Uint8Array, headers: Record<string, string> = {}): Response {
  return new Response(bytes, {
    headers: { "content-type": "image/png", "content-length": String(bytes.length), ...headers },
  });
}

/** A response whose body is streamed with no content-length, in chunks of `sizes` (cycled). */
function chunked(
  bytes: Uint8Array,
  contentType = "image/png",
  sizes: readonly number[] = [256 * 1024],
): Response {
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let i = 0, n = 0; i < bytes.length; n++) {
        const size = sizes[n % sizes.length] ?? 1;
        controller.enqueue(bytes.slice(i, i + size));
        i += size;
      }
      controller.close();
    },
  });
  return new Response(stream, { headers: { "content-type": contentType } });
}

/** `response` with a content-length header of `length`, and content-type image/png. */
function withLength(response: Response, length: number | string): Response {
  const headers = new Headers(response.headers);
  headers.set("content-length", String(length));
  headers.set("content-type", "image/png");
  return new Response(response.body, { headers });
}

/** A PNG signature followed by random bytes. */
function randomImage(size: number): Uint8Array {
  const bytes = pngBytes(size);
  // getRandomValues fills at most 64 KiB per call.
  for (let i = 8; i < size; i += 65_536) {
    crypto.getRandomValues(bytes.subarray(i, Math.min(size, i + 65_536)));
  }
  return bytes;
}

async function storedBytes(key: string): Promise<Uint8Array | null> {
  const object = await env.IMAGES.get(key);
  return object ? new Uint8Array(await object.arrayBuffer()) : null;
}

describe("archiveImage", () => {
  it("copies the source byte for byte, with its content type and SHA-256", async () => {
    const taskId = newTaskId();
    const bytes = pngBytes(50_000);
    const url = serveImage(`/${taskId}/main.png`, () => png(bytes));
    const result = await archiveImage(env.IMAGES, taskId, "main", url, limits);
    expect(result).toEqual({
      ok: true,
      name: "main.png",
      contentType: "image/png",
      bytes: bytes.length,
      sha256: await sha256Hex(bytes),
    });
    expect(await storedBytes(`tasks/${taskId}/main.png`)).toEqual(bytes);
    expect((await env.IMAGES.head(`tasks/${taskId}/main.png`))?.httpMetadata?.contentType).toBe(
      "image/png",
    );
  });

  it("stores 5 MiB byte for byte, read through one reused buffer or chunk by chunk, whatever its content-length", async () => {
    const taskId = newTaskId();
    // Random bytes: with a constant fill, a piece overwritten before R2 read it would look the same.
    const bytes = randomImage(5 * 1024 * 1024 + 4_321);
    const sha256 = await sha256Hex(bytes);
    const sources: Array<[string, () => Response]> = [
      // A byte stream (as every fetched body is), with a content-length: one put, read a MiB
      // at a time into one buffer.
      ["main", () => png(bytes)],
      // A byte stream without a content-length: a multipart upload, read the same way.
      ["1", () => new Response(bytes, { headers: { "content-type": "image/png" } })],
      // A stream made in JavaScript, with a content-length: one put, read chunk by chunk. (Such
      // a stream without one is the multipart tests below.)
      ["2", () => withLength(chunked(bytes, "image/png", [65_536, 1_000_003, 17]), bytes.length)],
      // A content-length that is not a plain number counts as none (Number() reads "0x10" as 16).
      ["3", () => withLength(new Response(bytes), "0x10")],
      // An encoded body, whose content-length is the encoded size while the runtime hands over the
      // decoded bytes (this fake host encodes nothing: it shows that the length is not trusted).
      [
        "4",
        () => withLength(new Response(bytes, { headers: { "content-encoding": "gzip" } }), 1_000),
      ],
    ];
    for (const [slot, respond] of sources) {
      const url = serveImage(`/${taskId}/${slot}`, respond);
      const result = await archiveImage(env.IMAGES, taskId, slot, url, big);
      expect(result).toMatchObject({ ok: true, bytes: bytes.length, sha256 });
      const stored = await storedBytes(`tasks/${taskId}/${slot}.png`);
      expect(stored).not.toBeNull();
      expect(await sha256Hex(stored ?? new Uint8Array())).toBe(sha256);
    }
  });

  it("refuses a body that is empty or does not match its content-length, and stores nothing", async () => {
    const taskId = newTaskId();
    const bytes = randomImage(3 * 1024 * 1024);
    const empty = new Uint8Array(0);
    const cases: Array<[string, () => Response, string]> = [
      [
        "declares more than it sends",
        () => withLength(new Response(bytes), bytes.length + 10),
        "fewer bytes",
      ],
      [
        "declares less than it sends",
        () => withLength(new Response(bytes), bytes.length - 10),
        "more bytes",
      ],
      ["declares 0 and sends bytes", () => withLength(new Response(bytes), 0), "empty body"],
      [
        "no bytes and no content-length",
        () => new Response(empty, { headers: { "content-type": "image/png" } }),
        "empty body",
      ],
      ["a stream of unknown length with no bytes", () => chunked(empty), "empty body"],
    ];
    for (const [index, [what, respond, error]] of cases.entries()) {
      const url = serveImage(`/${taskId}/${index}`, respond);
      const result = await archiveImage(env.IMAGES, taskId, String(index), url, big);
      expect(result, what).toMatchObject({ ok: false, error: expect.stringContaining(error) });
    }
    expect((await env.IMAGES.list({ prefix: `tasks/${taskId}/` })).objects).toEqual([]);
  });

  it("says R2 failed when a put fails mid-copy", async () => {
    const { taskId, url } = servedImage();
    // A put that reads one piece, then fails without cancelling its stream: the copy's next
    // write would wait for ever.
    const failing = bucketWith(async (_key, stream) => {
      const reader = stream.getReader();
      await reader.read();
      reader.releaseLock();
      throw new Error("R2 went away");
    });
    expect(await archiveImage(failing, taskId, "main", url, big)).toMatchObject({
      ok: false,
      retryable: true,
      error: "storing in R2 failed: R2 went away",
    });
  });

  it("gives up, at the time limit, a put that stops reading, and nothing lands later", async () => {
    const { taskId, url } = servedImage();
    // A put that reads one piece, stalls past the limit, then reads on and stores what it got.
    const stalling = bucketWith(async (key, stream, options) => {
      const reader = stream.getReader();
      await reader.read();
      await sleep(500);
      reader.releaseLock();
      const rest = await new Response(stream).arrayBuffer();
      return env.IMAGES.put(key, rest, options);
    });
    expect(await archiveImage(stalling, taskId, "main", url, quick)).toEqual(timedOut);
    await sleep(600);
    expect(await env.IMAGES.head(`tasks/${taskId}/main.png`)).toBeNull();
  });

  it("gives up, at the time limit, a multipart upload R2 does not start, and aborts it if it does", async () => {
    const taskId = newTaskId();
    const url = serveImage(`/${taskId}/main`, () => chunked(randomImage(1024 * 1024), "image/png"));
    let aborted = false;
    const late = {
      createMultipartUpload: async () => {
        await sleep(500);
        return {
          abort: async () => {
            aborted = true;
          },
        };
      },
    } as unknown as R2Bucket;
    expect(await archiveImage(late, taskId, "main", url, quick)).toEqual(timedOut);
    await eventually(() => (aborted ? true : undefined), 2_000);
  });

  it("never gives up the write of the last piece at the time limit: it may complete the put", async () => {
    const { taskId, bytes, url } = servedImage();
    // Takes the first 2 MiB at once, then the last MiB only after the time limit.
    const lateLast = bucketWith(async (key, stream, options) => {
      const reader = stream.getReader();
      const got: Uint8Array[] = [];
      let size = 0;
      let waited = false;
      for (let read = await reader.read(); !read.done; read = await reader.read()) {
        got.push(read.value.slice());
        size += read.value.byteLength;
        if (size >= 2 * 1024 * 1024 && !waited) {
          waited = true;
          await sleep(500);
        }
      }
      return env.IMAGES.put(key, await new Blob(got).arrayBuffer(), options);
    });
    expect(await archiveImage(lateLast, taskId, "main", url, quick)).toMatchObject({
      ok: true,
      bytes: bytes.length,
      sha256: await sha256Hex(bytes),
    });
    const stored = await storedBytes(`tasks/${taskId}/main.png`);
    expect(await sha256Hex(stored ?? new Uint8Array())).toBe(await sha256Hex(bytes));
  });

  it("waits for R2's last step, however long past the time limit, and records the copy", async () => {
    const { taskId, bytes, url } = servedImage();
    // Every byte read, R2 takes longer than the limit to store them: a copy given up then would
    // leave an object no row records (one an erasure in between would never remove).
    const slow = bucketWith(async (key, stream, options) => {
      const read = await new Response(stream).arrayBuffer();
      await sleep(600);
      return env.IMAGES.put(key, read, options);
    });
    expect(await archiveImage(slow, taskId, "main", url, quick)).toMatchObject({
      ok: true,
      bytes: bytes.length,
      sha256: await sha256Hex(bytes),
    });
    expect(await env.IMAGES.head(`tasks/${taskId}/main.png`)).not.toBeNull();
  });

  it("says R2 failed, and aborts the upload, when a part of a multipart upload fails", async () => {
    const taskId = newTaskId();
    const bytes = randomImage(9 * 1024 * 1024);
    const url = serveImage(`/${taskId}/main`, () => chunked(bytes, "image/png"));
    let aborted = false;
    const failing = {
      createMultipartUpload: async () => ({
        uploadPart: async () => {
          throw new Error("part lost");
        },
        complete: async () => ({}),
        abort: async () => {
          aborted = true;
        },
      }),
    } as unknown as R2Bucket;
    expect(
      await archiveImage(failing, taskId, "main", url, { ...limits, maxBytes: 16 * 1024 * 1024 }),
    ).toMatchObject({ ok: false, retryable: true, error: "storing in R2 failed: part lost" });
    expect(aborted).toBe(true);
  });

  it("streams a source without content-length through a multipart upload", async () => {
    const taskId = newTaskId();
    const bytes = pngBytes(9 * 1024 * 1024, 3);
    const url = serveImage(`/${taskId}/big`, () => chunked(bytes, "image/webp"));
    const result = await archiveImage(env.IMAGES, taskId, "1", url, {
      ...limits,
      maxBytes: 20 * 1024 * 1024,
    });
    expect(result).toMatchObject({
      ok: true,
      name: "1.webp",
      bytes: bytes.length,
      sha256: await sha256Hex(bytes),
    });
    const stored = await storedBytes(`tasks/${taskId}/1.webp`);
    expect(stored?.length).toBe(bytes.length);
    expect(await sha256Hex(stored ?? new Uint8Array())).toBe(await sha256Hex(bytes));
  });

  it("stores a chunked source of 20 MiB in uneven chunks whole, in parts of equal size", async () => {
    const taskId = newTaskId();
    const bytes = pngBytes(20 * 1024 * 1024 + 12_345, 5);
    const sizes = [1_048_613, 3 * 1024 * 1024 + 7, 700_001, 17, 2_500_000];
    const url = serveImage(`/${taskId}/huge`, () => chunked(bytes, "image/png", sizes));
    const result = await archiveImage(env.IMAGES, taskId, "main", url, {
      ...limits,
      maxBytes: 64 * 1024 * 1024,
    });
    expect(result).toMatchObject({ ok: true, bytes: bytes.length, sha256: await sha256Hex(bytes) });
    const stored = await storedBytes(`tasks/${taskId}/main.png`);
    expect(stored?.length).toBe(bytes.length);
    expect(await sha256Hex(stored ?? new Uint8Array())).toBe(await sha256Hex(bytes));
  });

  it("never fetches a host that is not allowed", async () => {
    const result = await archiveImage(
      env.IMAGES,
      newTaskId(),
      "main",
      "https://evil.example/x.png",
      limits,
    );
    expect(result).toMatchObject({
      ok: false,
      retryable: false,
      error: expect.stringContaining("IMAGE_HOSTS"),
    });
  });

  it("follows a redirect to an allowed host and refuses one to any other host", async () => {
    const taskId = newTaskId();
    const bytes = pngBytes(1000);
    serveImage(`/${taskId}/final.png`, () => png(bytes));
    const good = serveImage(
      `/${taskId}/moved`,
      () => new Response(null, { status: 302, headers: { location: `/${taskId}/final.png` } }),
    );
    const bad = serveImage(
      `/${taskId}/escape`,
      () =>
        new Response(null, { status: 301, headers: { location: "http://169.254.169.254/latest" } }),
    );
    expect(await archiveImage(env.IMAGES, taskId, "main", good, limits)).toMatchObject({
      ok: true,
      bytes: 1000,
    });
    const refused = await archiveImage(env.IMAGES, taskId, "1", bad, limits);
    expect(refused).toMatchObject({
      ok: false,
      retryable: false,
      error: expect.stringContaining("redirect"),
    });
    expect(await env.IMAGES.head(`tasks/${taskId}/1.png`)).toBeNull();
  });

  it("refuses oversize sources, declared or streamed, and leaves no object", async () => {
    const taskId = newTaskId();
    const bytes = pngBytes(limits.maxBytes + 1);
    const declared = serveImage(`/${taskId}/declared.png`, () => png(bytes));
    const streamed = serveImage(`/${taskId}/streamed.png`, () => chunked(bytes));
    for (const [slot, url] of [
      ["main", declared],
      ["1", streamed],
    ] as const) {
      const result = await archiveImage(env.IMAGES, taskId, slot, url, limits);
      expect(result).toMatchObject({
        ok: false,
        retryable: false,
        error: expect.stringContaining("MAX_IMAGE_BYTES"),
      });
    }
    expect((await env.IMAGES.list({ prefix: `tasks/${taskId}/` })).objects).toEqual([]);
  });

  it("refuses a response that is not an image", async () => {
    const taskId = newTaskId();
    const url = serveImage(
      `/${taskId}/page.png`,
      () => new Response("<html>", { headers: { "content-type": "text/html" } }),
    );
    expect(await archiveImage(env.IMAGES, taskId, "main", url, limits)).toMatchObject({
      ok: false,
      retryable: false,
      error: expect.stringContaining("not an image"),
    });
  });

  it("refuses an SVG from an allowed host and stores nothing", async () => {
    const taskId = newTaskId();
    const svg = '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>';
    const url = serveImage(
      `/${taskId}/grid.png`,
      () => new Response(svg, { headers: { "content-type": "image/svg+xml" } }),
    );
    expect(await archiveImage(env.IMAGES, taskId, "main", url, limits)).toMatchObject({
      ok: false,
      retryable: false,
      error: expect.stringContaining("not an image"),
    });
    expect((await env.IMAGES.list({ prefix: `tasks/${taskId}/` })).objects).toEqual([]);
  });

  it("reports a failing source as retryable", async () => {
    const taskId = newTaskId();
    const url = serveImage(`/${taskId}/down.png`, () => new Response("busy", { status: 503 }));
    expect(await archiveImage(env.IMAGES, taskId, "main", url, limits)).toMatchObject({
      ok: false,
      retryable: true,
      error: "images.test answered 503",
    });
  });
});

/** A v2 finished event for `taskId` whose images are served by the fake image host. */
function finishedWithImages(taskId: string, urls: { main: string; tiles?: string[] }) {
  const body = clone(fixtures.v2Finished);
  body.task_id = taskId;
  body.task_result.image_url = urls.main;
  body.task_result.image_urls = (urls.tiles ?? []) as never[];
  return body;
}

function taskStub(taskId: string) {
  return taskObject(env, taskId);
}

/** Makes every pending image copy due now and runs the alarm. */
async function retryImagesNow(taskId: string): Promise<void> {
  await runAlarmNow(taskStub(taskId), (state) => {
    state.storage.sql.exec("UPDATE images SET next_try_at = 0 WHERE state = 'pending'");
  });
}

describe("archiving a completed task", () => {
  it("archives every image after the 200, serves it, and forwards absolute URLs", async () => {
    const taskId = newTaskId();
    const main = pngBytes(4096, 1);
    const tiles = [pngBytes(1024, 2), pngBytes(1024, 3)];
    const body = finishedWithImages(taskId, {
      main: serveImage(`/${taskId}/grid.png`, () => png(main)),
      tiles: tiles.map((t, i) =>
        serveImage(`/${taskId}/tile${i}`, () => png(t, { "content-type": "image/jpeg" })),
      ),
    });
    expect((await postWebhook(body)).status).toBe(200);

    const view = await eventually(async () => {
      const v = await taskView(taskId);
      return v.images.every((i) => i.state === "stored") && v.images.length === 3 ? v : undefined;
    });
    expect(view.images).toEqual([
      expect.objectContaining({
        name: "main.png",
        url: `https://midhook.test/images/${taskId}/main.png`,
        content_type: "image/png",
        bytes: 4096,
        sha256: await sha256Hex(main),
        error: null,
      }),
      expect.objectContaining({ name: "1.jpg", bytes: 1024 }),
      expect.objectContaining({ name: "2.jpg", bytes: 1024 }),
    ]);
    const served = await exports.default.fetch(`https://midhook.test/images/${taskId}/main.png`);
    expect(served.status).toBe(200);
    expect(new Uint8Array(await served.arrayBuffer())).toEqual(main);

    const forwarded = await eventually(() =>
      deliveries(taskId).find((d) => d.path === "/all" && d.body.includes("task.completed")),
    );
    const event = JSON.parse(forwarded.body);
    expect(event.data.images.map((i: { url: string }) => i.url)).toEqual([
      `https://midhook.test/images/${taskId}/main.png`,
      `https://midhook.test/images/${taskId}/1.jpg`,
      `https://midhook.test/images/${taskId}/2.jpg`,
    ]);
    expect(event.data.images[0]).not.toHaveProperty("state");
  });

  it("archives a result, and counts its redelivery, in a task whose tables earlier code made", async () => {
    overrideEnv({ SUBSCRIPTIONS: "[]" });
    const taskId = newTaskId();
    expect((await postWebhook(v2Event(taskId, "processing", 40))).status).toBe(200);
    await quietTask(taskId);
    // Earlier code made the task and images tables with a rowid: the same tables, rebuilt so.
    // What this guards: nothing midhook does relies on the rowid-less shape of new tasks.
    await runInDurableObject(taskObject(env, taskId), (_, state) => {
      const sql = state.storage.sql;
      for (const table of ["task", "images"]) {
        const made = sql
          .exec<{ sql: string }>("SELECT sql FROM sqlite_master WHERE name = ?", table)
          .one().sql;
        expect(made).toMatch(/\)\s*WITHOUT ROWID$/);
        sql.exec(`ALTER TABLE ${table} RENAME TO ${table}_without_rowid`);
        sql.exec(made.replace(/\s*WITHOUT ROWID$/, ""));
        sql.exec(`INSERT INTO ${table} SELECT * FROM ${table}_without_rowid`);
        sql.exec(`DROP TABLE ${table}_without_rowid`);
      }
      expect(sql.exec("SELECT rowid FROM task").toArray()).toHaveLength(1);
    });
    const main = pngBytes(2048, 5);
    const body = finishedWithImages(taskId, {
      main: serveImage(`/${taskId}/grid.png`, () => png(main)),
    });
    expect((await postWebhook(body)).status).toBe(200);
    expect(await (await postWebhook(body)).json()).toMatchObject({ duplicate: true });
    const view = await eventually(async () => {
      const v = await taskView(taskId);
      return v.images[0]?.state === "stored" ? v : undefined;
    });
    expect(view).toMatchObject({ status: "completed", progress: 100 });
    expect(view.images[0]?.sha256).toBe(await sha256Hex(main));
    expect(view.events.map((e) => e.duplicates)).toEqual([0, 1]);
  });

  it("copies at once a result that comes while the alarm waits for a later poll", async () => {
    overrideEnv({ SUBSCRIPTIONS: "[]" });
    const taskId = newTaskId();
    expect((await postWebhook(v2Event(taskId, "processing", 40))).status).toBe(200);
    expect(await quietTask(taskId)).toBeGreaterThan(Date.now() + 5 * 60_000);
    const main = pngBytes(2048, 4);
    const body = finishedWithImages(taskId, {
      main: serveImage(`/${taskId}/grid.png`, () => png(main)),
    });
    expect((await postWebhook(body)).status).toBe(200);
    const view = await eventually(async () => {
      const v = await taskView(taskId);
      return v.images[0]?.state === "stored" ? v : undefined;
    });
    expect(view.images[0]?.sha256).toBe(await sha256Hex(main));
  });

  it("copies a task's 17 images a few at a time, not all at once", async () => {
    const taskId = newTaskId();
    let open = 0;
    let most = 0;
    const slow = (path: string) =>
      serveImage(path, async () => {
        open++;
        most = Math.max(most, open);
        await new Promise((resolve) => setTimeout(resolve, 40));
        open--;
        return png(pngBytes(64));
      });
    const tiles = Array.from({ length: 16 }, (_, i) => slow(`/${taskId}/${i + 1}.png`));
    await postWebhook(finishedWithImages(taskId, { main: slow(`/${taskId}/main.png`), tiles }));
    const view = await eventually(async () => {
      const v = await taskView(taskId);
      return v.images.length === 17 && v.images.every((i) => i.state === "stored") ? v : undefined;
    });
    expect(view.images).toHaveLength(17);
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(4);
  });

  it("builds archived image URLs from PUBLIC_BASE_URL when it is set", async () => {
    const taskId = newTaskId();
    overrideEnv({ PUBLIC_BASE_URL: "https://img.example.com/" });
    await postWebhook(
      finishedWithImages(taskId, {
        main: serveImage(`/${taskId}/p.png`, () => png(pngBytes(64))),
      }),
    );
    const view = await eventually(async () => {
      const v = await taskView(taskId);
      return v.images[0]?.state === "stored" ? v : undefined;
    });
    expect(view.images[0]).toMatchObject({
      url: `https://img.example.com/images/${taskId}/main.png`,
    });
  });

  it("retries a source that fails twice, then archives it; the others are copied once", async () => {
    const taskId = newTaskId();
    let calls = 0;
    const flaky = serveImage(`/${taskId}/flaky.png`, () =>
      ++calls <= 2 ? new Response("busy", { status: 502 }) : png(pngBytes(2048)),
    );
    const steady = serveImage(`/${taskId}/steady.png`, () => png(pngBytes(512)));
    await postWebhook(finishedWithImages(taskId, { main: steady, tiles: [flaky] }));
    await eventually(() => (calls >= 1 ? true : undefined));
    await eventually(
      async () => (await taskView(taskId)).images[0]?.state === "stored" || undefined,
    );

    await retryImagesNow(taskId);
    expect(calls).toBe(2);
    expect(deliveries(taskId).some((d) => d.body.includes("task.completed"))).toBe(false);
    await retryImagesNow(taskId);
    expect(calls).toBe(3);

    const view = await taskView(taskId);
    expect(view.images.map((i) => i.state)).toEqual(["stored", "stored"]);
    expect(fetchedImages().filter((u) => u === steady)).toHaveLength(1);
    const listed = await env.IMAGES.list({ prefix: `tasks/${taskId}/` });
    expect(listed.objects.map((o) => o.key).sort()).toEqual([
      `tasks/${taskId}/1.png`,
      `tasks/${taskId}/main.png`,
    ]);
    await eventually(() => deliveries(taskId).find((d) => d.body.includes("task.completed")));
  });

  it("forwards the event with the error recorded once an image gives up", async () => {
    const taskId = newTaskId();
    const broken = serveImage(`/${taskId}/broken.png`, () => new Response("gone", { status: 500 }));
    await postWebhook(finishedWithImages(taskId, { main: broken }));
    await eventually(() => (fetchedImages().includes(broken) ? true : undefined));
    for (let i = 0; i < 4; i++) await retryImagesNow(taskId);
    const view = await taskView(taskId);
    expect(view.images[0]).toMatchObject({
      state: "failed",
      error: "images.test answered 500 (gave up after 5 attempts)",
      url: null,
    });
    const forwarded = await eventually(() =>
      deliveries(taskId).find((d) => d.path === "/all" && d.body.includes("task.completed")),
    );
    expect(JSON.parse(forwarded.body).data.images[0]).toMatchObject({
      error: "images.test answered 500 (gave up after 5 attempts)",
      url: null,
    });
  });

  it("says in one sentence why each image failed, with its attempts, and logs one line per attempt", async () => {
    const warnings = vi.spyOn(console, "warn").mockImplementation(() => {});
    const taskId = newTaskId();
    const unreachable = serveImage(`/${taskId}/dns.png`, () => {
      // What Workers' fetch throws when a DNS lookup fails or a connection is refused.
      throw new Error("internal error; reference = 0ac1p0q1b0n8");
    });
    const missing = serveImage(`/${taskId}/404.png`, () => new Response("no", { status: 404 }));
    const page = serveImage(
      `/${taskId}/page.png`,
      () => new Response("<html>", { headers: { "content-type": "text/html" } }),
    );
    await postWebhook(
      finishedWithImages(taskId, {
        main: unreachable,
        tiles: [missing, page, "https://elsewhere.example/x.png"],
      }),
    );
    const view = await eventually(async () => {
      const v = await taskView(taskId);
      return v.images.every((i) => i.error !== null) ? v : undefined;
    });
    expect(view.images.map((i) => [i.state, i.error])).toEqual([
      [
        "pending",
        "could not reach images.test: its name did not resolve (DNS lookup failed) (attempt 1 of 5)",
      ],
      ["pending", "images.test answered 404 (attempt 1 of 5)"],
      ["failed", "not an image: images.test sent text/html (not retried)"],
      ["failed", "elsewhere.example is not in IMAGE_HOSTS (or not https) (not retried)"],
    ]);
    const lines = warnings.mock.calls.map((c) => String(c[0])).filter((l) => l.includes(taskId));
    expect(lines).toHaveLength(4);
    expect(lines.every((l) => !l.includes("\n"))).toBe(true);
  });
});

describe("GET /images/{task_id}/{name}", () => {
  async function storedImage() {
    const taskId = newTaskId();
    const bytes = pngBytes(1000, 9);
    await env.IMAGES.put(`tasks/${taskId}/main.png`, bytes, {
      httpMetadata: { contentType: "image/png" },
    });
    return { taskId, bytes, url: `https://midhook.test/images/${taskId}/main.png` };
  }

  it("serves the object with its type, etag and an immutable cache policy", async () => {
    const { bytes, url } = await storedImage();
    const response = await exports.default.fetch(url);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("image/png");
    expect(response.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(response.headers.get("etag")).toMatch(/^".+"$/);
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(bytes);

    const head = await exports.default.fetch(url, { method: "HEAD" });
    const ranged = await exports.default.fetch(url, { headers: { range: "bytes=0-9" } });
    await ranged.arrayBuffer();
    // Served from midhook's own origin: never sniffed into something a browser would run.
    for (const answer of [response, head, ranged]) {
      expect(answer.headers.get("x-content-type-options")).toBe("nosniff");
      expect(answer.headers.get("content-security-policy")).toBe("default-src 'none'");
    }
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe("1000");
    expect(await head.text()).toBe("");
  });

  it("answers 304 to a matching If-None-Match", async () => {
    const { url } = await storedImage();
    const etag = (await exports.default.fetch(url, { method: "HEAD" })).headers.get("etag") ?? "";
    const response = await exports.default.fetch(url, { headers: { "if-none-match": etag } });
    expect(response.status).toBe(304);
    expect(response.headers.get("etag")).toBe(etag);
    const other = await exports.default.fetch(url, { headers: { "if-none-match": '"other"' } });
    expect(other.status).toBe(200);
    await other.arrayBuffer();
  });

  it("answers 206 to a single range and 416 to one past the end", async () => {
    const { bytes, url } = await storedImage();
    const partial = await exports.default.fetch(url, { headers: { range: "bytes=10-19" } });
    expect(partial.status).toBe(206);
    expect(partial.headers.get("content-range")).toBe("bytes 10-19/1000");
    expect(new Uint8Array(await partial.arrayBuffer())).toEqual(bytes.slice(10, 20));
    const beyond = await exports.default.fetch(url, { headers: { range: "bytes=5000-" } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get("content-range")).toBe("bytes */1000");
    await beyond.arrayBuffer();
  });

  it("answers 404 when absent and 400 for names that could leave the task's prefix", async () => {
    const { taskId } = await storedImage();
    const missing = await exports.default.fetch(`https://midhook.test/images/${taskId}/1.png`);
    expect(missing.status).toBe(404);
    await missing.arrayBuffer();
    for (const path of [
      `${taskId}/..%2Fsecret`,
      `${taskId}/main.png%00`,
      `..%2F..%2Fx/main.png`,
      `${taskId}/.env`,
    ]) {
      const response = await exports.default.fetch(`https://midhook.test/images/${path}`);
      expect(response.status, path).toBe(400);
      await response.arrayBuffer();
    }
  });
});
