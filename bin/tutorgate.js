#!/usr/bin/env node
// The CLI runs the compiled build (npm install/ci runs `npm run build` through `prepare`).
import '../dist/cli.js';
