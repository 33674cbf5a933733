// Writes a brotli (.br) and a gzip (.gz) copy beside each text or wasm file of a built
// dashboard, at the highest levels: the server sends one of them to a browser that accepts it
// (Content-Encoding), so they are compressed once, here, not per request.
// Usage: node scripts/compress.mjs admin-ui/dist
import { readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

const COMPRESSED = /\.(wasm|js|mjs|css|html|svg|json|txt)$/;

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      yield* files(path);
    } else if (COMPRESSED.test(name)) {
      yield path;
    }
  }
}

const dir = process.argv[2];
if (!dir) {
  console.error("usage: node scripts/compress.mjs <built dashboard folder>");
  process.exit(2);
}
for (const path of files(dir)) {
  const bytes = readFileSync(path);
  const brotli = brotliCompressSync(bytes, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
      [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
    },
  });
  const gzip = gzipSync(bytes, { level: 9 });
  // Written beside, then renamed: a server serving the folder never sends half a file.
  for (const [extension, compressed] of [["br", brotli], ["gz", gzip]]) {
    writeFileSync(`${path}.${extension}.tmp`, compressed);
    renameSync(`${path}.${extension}.tmp`, `${path}.${extension}`);
  }
  console.log(`${path}: ${bytes.length} B, brotli ${brotli.length} B, gzip ${gzip.length} B`);
}
