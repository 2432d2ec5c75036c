// Reads document paths from stdin, one per line, and prints one JSON line per document:
// whether the official AsyncAPI parser accepts it, and its errors when it does not.
// The Rust side (tests/differential.rs) compares these verdicts with its own.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

const require = createRequire(import.meta.url);
// Spectral keeps its compiled JSON Schemas per document, so each document recompiles
// the AsyncAPI schema (about half a second). One cache for the whole run gives the same
// verdicts about twenty times faster.
const ajvModule = require('@stoplight/spectral-functions/dist/schema/ajv.js');
const createInstances = ajvModule.createAjvInstances;
let shared;
ajvModule.createAjvInstances = () => (shared ??= createInstances());

const { Parser, DiagnosticSeverity } = await import('@asyncapi/parser');
const parser = new Parser();

for await (const file of createInterface({ input: process.stdin })) {
  if (!file) continue;
  let verdict;
  try {
    const text = readFileSync(file, 'utf8');
    const { diagnostics } = await parser.parse(text, { source: file });
    const errors = diagnostics
      .filter((d) => d.severity === DiagnosticSeverity.Error)
      .map((d) => ({ code: String(d.code), path: d.path.join('/'), message: d.message }));
    verdict = { file, valid: errors.length === 0, errors };
  } catch (thrown) {
    verdict = { file, valid: false, errors: [{ code: 'thrown', path: '', message: String(thrown) }] };
  }
  process.stdout.write(JSON.stringify(verdict) + '\n');
}
