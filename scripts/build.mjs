// Compiles src/ into dist/ with tsc, copies the data files the service reads at run time
// (demo catalog, demo rubrics, the default knowledge-tracing prior), and swaps the result
// in as a whole: a process starting during a build sees the old dist/ or the new one,
// never a half-written file.
//
// `--if-stale` (the `prepare` script) builds only when the sources differ from those the
// current dist/ was built from; `--check` only says which (exit 1 when stale). Why:
// `npx tutorgate …` in the project directory installs the project into npx's cache and
// runs `prepare`, in the background of whatever started it. In CI the contract smoke's
// simulator start rebuilt dist/ while `npm start` was importing from it, and the service
// failed to start ("does not provide an export named 'openStore'": database.js was being
// rewritten). An up-to-date dist/ is now left alone, and a rebuild lands in one swap.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = join(ROOT, 'dist');
const STAMP = '.source-hash';
const ASSET = /\.(json|ya?ml)$/;
const require = createRequire(import.meta.url);

function files(dir) {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]))
    .sort();
}

// What dist/ is made from: the sources, the compiler settings, this script and the
// compiler's version.
const SOURCES = files(join(ROOT, 'src'));
function sourceHash() {
  const h = createHash('sha256');
  const inputs = [...SOURCES, ...['tsconfig.json', 'tsconfig.build.json', 'scripts/build.mjs'].map((f) => join(ROOT, f))];
  for (const f of inputs) h.update(relative(ROOT, f)).update('\0').update(readFileSync(f)).update('\0');
  h.update(require('typescript/package.json').version);
  return h.digest('hex');
}

const hash = sourceHash();
const upToDate = existsSync(join(DIST, STAMP)) && readFileSync(join(DIST, STAMP), 'utf8') === hash;
if (process.argv.includes('--check')) {
  console.log(upToDate ? 'dist/ is up to date' : 'dist/ is stale: run `npm run build`');
  process.exit(upToDate ? 0 : 1);
}
if (process.argv.includes('--if-stale') && upToDate) {
  console.log('dist/ is up to date');
  process.exit(0);
}

// A sibling of dist/, so the relative paths in the source maps stay right after the swap.
const out = join(ROOT, `.dist-build-${process.pid}`);
rmSync(out, { recursive: true, force: true });
try {
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', out], { cwd: ROOT, stdio: 'inherit' });
} catch {
  rmSync(out, { recursive: true, force: true });
  process.exit(1);
}
for (const f of SOURCES) {
  if (ASSET.test(f)) cpSync(f, join(out, relative(join(ROOT, 'src'), f)));
}
writeFileSync(join(out, STAMP), hash);

// Another build finishing at the same moment may put its dist/ back in between: move
// that one aside too and try again.
const old = join(ROOT, `.dist-old-${process.pid}`);
for (let attempt = 0; ; attempt++) {
  rmSync(old, { recursive: true, force: true });
  if (existsSync(DIST)) renameSync(DIST, old);
  try {
    renameSync(out, DIST);
    break;
  } catch (err) {
    if (attempt === 5 || !['ENOTEMPTY', 'EEXIST'].includes(err.code)) throw err;
  }
}
rmSync(old, { recursive: true, force: true });
