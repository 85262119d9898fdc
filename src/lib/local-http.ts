// Plain http is for this machine only (`npm run dev`). To any other host, the admin token, the
// console's cookie and its forms travel over https: the one definition of that rule, with the
// address a page asked for over http is sent to.
import { LOOPBACK_HOSTS } from "./net";

/** Whether `url` names this machine (localhost, 127.0.0.1, [::1]), by http or https. */
export function isThisMachine(url: string): boolean {
  return LOOPBACK_HOSTS.has(new URL(url).hostname);
}

/** Whether a request to `url` came over plain http to this machine. */
export function isLocalHttp(url: string): boolean {
  return new URL(url).protocol === "http:" && isThisMachine(url);
}

/**
 * Whether a request to `url` came over plain http to any other host (the host name the request
 * names): nothing secret is taken over it. A Worker's own host name on plain http happens on a
 * custom domain whose zone does not redirect http to https.
 */
export function isPlainHttpToOtherHost(url: string): boolean {
  return new URL(url).protocol === "http:" && !isThisMachine(url);
}

/** The https address of `url`, on https's default port: where a page asked for over http goes. */
export function httpsUrl(url: string): string {
  const secure = new URL(url);
  secure.protocol = "https:";
  secure.port = "";
  return secure.href;
}
