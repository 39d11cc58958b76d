// Copies the browser builds jobgraph serves itself (vendor.json: name -> path in node_modules)
// into web/vendor/. Run by `make web` after `npm ci` has checked every package's integrity.
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const files = JSON.parse(readFileSync(join(here, "vendor.json"), "utf8"));
mkdirSync(join(here, "vendor"), { recursive: true });
for (const [name, source] of Object.entries(files)) {
  copyFileSync(join(here, source), join(here, "vendor", name));
}
console.log(`copied ${Object.keys(files).length} files to web/vendor/`);
