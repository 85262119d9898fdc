// Recognising a WebSocket upgrade request (RFC 6455: `Upgrade: websocket`, in any case).

/** Whether `request` asks to be upgraded to a WebSocket. */
export function isWebSocketUpgrade(request: Request): boolean {
  return request.headers.get("upgrade")?.toLowerCase() === "websocket";
}
