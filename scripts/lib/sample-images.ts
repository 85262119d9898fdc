// The local stand-in for GoAPI's image CDN that `npm run dev` serves and `npm run send` points
// sample payloads at: any /samples/<task>/<name>.png is a small PNG, coloured by its path.
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import { pngImage } from "./png";

/** Where `npm run dev` serves sample images unless SAMPLE_IMAGES_PORT says otherwise. */
export const SAMPLE_IMAGES_PORT = Number(process.env.SAMPLE_IMAGES_PORT ?? 8788);

/** `host:port` of the sample image host, as IMAGE_HOSTS lists it. */
export function sampleImagesHost(port = SAMPLE_IMAGES_PORT): string {
  return `127.0.0.1:${port}`;
}

/** The URL of sample image `name` of task `taskId`. */
export function sampleImageUrl(taskId: string, name: string, port = SAMPLE_IMAGES_PORT): string {
  return `http://${sampleImagesHost(port)}/samples/${taskId}/${name}.png`;
}

/** Serves sample images on 127.0.0.1:`port` until closed. */
export async function serveSampleImages(port = SAMPLE_IMAGES_PORT): Promise<Server> {
  const server = createServer((req, res) => {
    const path = req.url ?? "";
    if (!/^\/samples\/[\w.:-]+\/[\w-]+\.png$/.test(path)) {
      res.writeHead(404).end("not a sample image");
      return;
    }
    const [r = 0, g = 0, b = 0] = createHash("sha256").update(path).digest();
    const png = pngImage(256, 256, [r, g, b]);
    res.writeHead(200, { "content-type": "image/png", "content-length": png.length }).end(png);
  });
  await new Promise<void>((done, fail) => {
    server.once("error", fail);
    server.listen(port, "127.0.0.1", done);
  });
  return server;
}
