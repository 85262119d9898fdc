// The console's live view of a task: WebSockets accepted by the task's object with the
// hibernation API, so an open page costs nothing while the task is quiet. Each socket is told
// that the task changed when it connects and after every change (the page then reads the task
// under its session, see LiveMessage); when the task is erased, it is told so and closed.
import { LIVE_REPLACED, type LiveMessage } from "../contract";
import { isWebSocketUpgrade } from "../lib/websocket";

/**
 * Open pages per task. A page beyond them takes the place of the one open longest, which is
 * closed with LIVE_REPLACED and stops following (it does not reconnect): a socket is checked
 * only when it opens, so sockets opened before a sign-out must not keep newer pages out.
 */
const MAX_SOCKETS = 32;

export class TaskLive {
  readonly #ctx: DurableObjectState;
  /** A broadcast is scheduled: changes made meanwhile are sent together, once. */
  #scheduled = false;

  constructor(ctx: DurableObjectState) {
    this.#ctx = ctx;
    // Keep-alive pings are answered without waking the object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }

  /** Accepts the WebSocket upgrade `request` and tells it at once to read the task. */
  accept(request: Request): Response {
    if (!isWebSocketUpgrade(request)) {
      return new Response("expected a WebSocket upgrade", { status: 426 });
    }
    const open = this.#ctx.getWebSockets().filter((s) => s.readyState === WebSocket.OPEN);
    if (open.length >= MAX_SOCKETS) {
      const opened = (socket: WebSocket) => (socket.deserializeAttachment() as number | null) ?? 0;
      const oldest = open.reduce((a, b) => (opened(b) < opened(a) ? b : a));
      try {
        oldest.close(LIVE_REPLACED, "replaced by a newer page");
      } catch {
        // already closing
      }
    }
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.#ctx.acceptWebSocket(server);
    server.serializeAttachment(Date.now());
    server.send(message({ type: "changed" }));
    return new Response(null, { status: 101, webSocket: client });
  }

  /**
   * The task changed: every open page is told, once for all the changes made in this turn,
   * after the change is answered. Nothing to do when no page is open.
   */
  changed(): void {
    if (this.#scheduled || this.#ctx.getWebSockets().length === 0) return;
    this.#scheduled = true;
    setTimeout(() => {
      this.#scheduled = false;
      this.#send({ type: "changed" });
    }, 0);
  }

  /** The task was erased: every page is told, and its socket closed. */
  erased(taskId: string): void {
    this.#send({ type: "deleted", task_id: taskId });
    for (const socket of this.#ctx.getWebSockets()) {
      try {
        socket.close(1000, "task erased");
      } catch {
        // already closing
      }
    }
  }

  /** A page went away: its socket is closed on this side too. */
  closed(socket: WebSocket, code: number): void {
    try {
      socket.close(code === 1005 || code === 1006 ? 1000 : code, "closing");
    } catch {
      // already closed
    }
  }

  #send(payload: LiveMessage): void {
    const text = message(payload);
    for (const socket of this.#ctx.getWebSockets()) trySend(socket, text);
  }
}

function message(payload: LiveMessage): string {
  return JSON.stringify(payload);
}

/** A socket may be closing while we send: that page reconnects and reads the task then. */
function trySend(socket: WebSocket, text: string): void {
  try {
    socket.send(text);
  } catch {
    // closed meanwhile
  }
}
