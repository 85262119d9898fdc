// Creates .dev.vars from the committed example on a fresh clone, so `npm run dev` needs no setup.
import { copyFileSync, existsSync } from "node:fs";

if (!existsSync(".dev.vars")) {
  copyFileSync(".dev.vars.example", ".dev.vars");
  console.log("created .dev.vars from .dev.vars.example (local development secrets)");
}
