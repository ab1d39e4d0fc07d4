/**
 * Prints the size of the built portal, raw and gzipped (what a browser downloads):
 *
 *   npm run build:portal && npm run portal:measure
 *
 * The time to first render of the product list is measured in a real browser by
 * test/portal/portal-browser.test.ts, which prints it in its log.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { portalDirectory } from '#api/portal/static';

const dir = portalDirectory();
const files = readdirSync(dir, { recursive: true, withFileTypes: true })
  .filter((entry) => entry.isFile())
  .map((entry) => path.join(entry.parentPath, entry.name));
let raw = 0;
let gzip = 0;
for (const file of files) {
  const bytes = readFileSync(file);
  const zipped = gzipSync(bytes, { level: 9 }).length;
  raw += statSync(file).size;
  gzip += zipped;
  console.log(`${path.relative(dir, file).padEnd(32)} ${(bytes.length / 1024).toFixed(1).padStart(7)} KiB  gzip ${(zipped / 1024).toFixed(1).padStart(6)} KiB`);
}
console.log(`${'total'.padEnd(32)} ${(raw / 1024).toFixed(1).padStart(7)} KiB  gzip ${(gzip / 1024).toFixed(1).padStart(6)} KiB`);
