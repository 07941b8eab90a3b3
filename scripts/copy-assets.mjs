// tsc compiles src/ to dist/ but copies no data files; the service reads a few at run
// time (demo catalog, demo rubrics, the default knowledge-tracing prior).
import { cpSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const ASSET = /\.(json|ya?ml)$/;
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (ASSET.test(name)) cpSync(p, join('dist', relative('src', p)));
  }
}
walk('src');
