// Plain http is for this machine only (`npm run dev`). Anywhere else the admin token, the
// console's cookie and its forms travel over https: the one definition of that rule.
import { LOOPBACK_HOSTS } from "./net";

/** Whether a request to `url` came over plain http to this machine. */
export function isLocalHttp(url: string): boolean {
  const { protocol, hostname } = new URL(url);
  return protocol === "http:" && LOOPBACK_HOSTS.has(hostname);
}

/**
 * Whether a request to `url` came over plain http to any other host: nothing secret is taken
 * over it. (A Worker's own host name on plain http happens on a custom domain whose zone does
 * not redirect http to https.)
 */
export function isPlainHttpFromAfar(url: string): boolean {
  return new URL(url).protocol === "http:" && !isLocalHttp(url);
}

/** The https address of `url`, on https's default port: where a page asked for over http goes. */
export function httpsUrl(url: string): string {
  const secure = new URL(url);
  secure.protocol = "https:";
  secure.port = "";
  return secure.href;
}
