// Console sessions signed out before they expired, kept in D1 (binding INDEX, table
// console_sign_outs in migrations/) until they would have expired anyway. A session cookie is
// signed, not stored: without this list, a copy of a signed-out cookie (another tab, a stolen
// one) would open the console until it expires.
import type { Session } from "./session";

/** Lists `session` as signed out, and forgets the sessions that have expired by `now` (ms). */
export async function recordSignOut(db: D1Database, session: Session, now: number): Promise<void> {
  await db.batch([
    db.prepare("DELETE FROM console_sign_outs WHERE expires <= ?").bind(Math.floor(now / 1000)),
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
