-- Console sessions signed out before they expired (src/console/sign-outs.ts). A session cookie is
-- signed, not stored, so a copy of a signed-out cookie would open the console until it expires;
-- while its nonce is listed here, it opens nothing. A row is needed only until then: each
-- sign-out removes the rows whose sessions have expired. The nonce alone opens nothing (a cookie
-- also needs its signature).
CREATE TABLE console_sign_outs (
  nonce    TEXT PRIMARY KEY,
  expires  INTEGER NOT NULL   -- Unix seconds: when the session would have expired
);
