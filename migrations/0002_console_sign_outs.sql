-- Console sessions signed out before they expired: see src/console/sign-outs.ts. Unlike the index,
-- this table is the truth: recreating the database forgets these sign-outs (change ADMIN_TOKEN
-- then, which signs every session out).
CREATE TABLE console_sign_outs (
  nonce    TEXT PRIMARY KEY,  -- the session's nonce: alone it opens nothing (a cookie needs its signature)
  expires  INTEGER NOT NULL   -- Unix seconds: when the session expires anyway
);
