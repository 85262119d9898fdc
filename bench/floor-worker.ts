// The benchmark's ingest floor: a Worker that does only what midhook's design requires of an
// ingest, and nothing else. It reads the body, parses it, takes the task id, makes one RPC to
// a SQLite-backed Durable Object named by that id (one object per task, as midhook), which
// creates its one table if needed and inserts one row, and answers 200 with JSON. The row is
// keyed by the body's SHA-256, so a redelivery of the same body is recognised and ignored
// (the duplicate path). No secret check, no validation, no outbox: midhook's ingest measured
// against this shows what midhook adds on top of the design's own cost.
import { DurableObject } from "cloudflare:workers";

interface FloorEnv {
  FLOOR: DurableObjectNamespace<FloorTask>;
}

export class FloorTask extends DurableObject<FloorEnv> {
  constructor(ctx: DurableObjectState, env: FloorEnv) {
    super(ctx, env);
    ctx.storage.sql.exec(
      "CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, body TEXT NOT NULL, received_at INTEGER NOT NULL)",
    );
  }

  /** Stores one event once; false when this identity was already stored (a redelivery). */
  record(id: string, body: string): boolean {
    const cursor = this.ctx.storage.sql.exec(
      "INSERT OR IGNORE INTO events (id, body, received_at) VALUES (?, ?, ?)",
      id,
      body,
      Date.now(),
    );
    return cursor.rowsWritten > 0;
  }
}

function hex(bytes: ArrayBuffer): string {
  return [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export default {
  async fetch(request: Request, env: FloorEnv): Promise<Response> {
    if (request.method !== "POST")
      return new Response("POST a GoAPI webhook body", { status: 404 });
    const body = await request.text();
    const json = JSON.parse(body) as { task_id?: unknown; data?: { task_id?: unknown } };
    const taskId = json.task_id ?? json.data?.task_id;
    if (typeof taskId !== "string" || taskId === "") {
      return Response.json({ ok: false, error: "no task_id" }, { status: 422 });
    }
    const id = hex(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(body)));
    const stored = await env.FLOOR.getByName(taskId).record(id, body);
    return Response.json({ ok: true, task_id: taskId, duplicate: !stored, event: id });
  },
} satisfies ExportedHandler<FloorEnv>;
