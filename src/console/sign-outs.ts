// Console sessions signed out before they expired, listed in D1 (binding INDEX, table
// console_sign_outs in migrations/). A session cookie is signed, not stored: without this list, a
// copy of a signed-out cookie (another tab, a stolen one) would open the console until it expires.
// Each sign-out also removes the entries of sessions that expired well before (an hour's margin,
// so that no clock running ahead can forget a sign-out while its cookie is still accepted).
import type { Session } from "./session";

const FORGET_AFTER_SECONDS = 60 * 60;

/** Lists `session` as signed out, and forgets sessions long expired by `now` (ms). */
export async function recordSignOut(db: D1Database, session: Session, now: number): Promise<void> {
  await db.batch([
    db
      .prepare("DELETE FROM console_sign_outs WHERE expires < ?")
      .bind(Math.floor(now / 1000) - FORGET_AFTER_SECONDS),
    db
      .prepare("INSERT OR IGNORE INTO console_sign_outs (nonce, expires) VALUES (?, ?)")
      .bind(session.nonce, session.expires),
  ]);
}

/** Whether `session` was signed out. */
export async function isSignedOut(db: D1Database, session: Session): Promise<boolean> {
  const row = await db
    .prepare("SELECT 1 AS listed FROM console_sign_outs WHERE nonce = ?")
    .bind(session.nonce)
    .first();
  return row !== null;
}
