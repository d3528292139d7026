// The linter must fail on broken specs: each case breaks a valid spec in one way and
// expects a non-zero exit and the message that names the fault.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";

const lint = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "lint.mjs");
const dir = mkdtempSync(path.join(tmpdir(), "openapi-lint-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const GOOD = `openapi: 3.0.3
info: {title: test, version: 0.1.0}
security:
  - bearer: []
paths:
  /api/things/{id}:
    get:
      operationId: getThing
      security: []
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
      responses:
        '200':
          description: The thing.
          content:
            application/json:
              schema:
                type: object
                properties:
                  price: {type: integer, description: 'minor units, from the catalog'}
        '404': {$ref: '#/components/responses/Problem'}
components:
  securitySchemes:
    bearer: {type: http, scheme: bearer}
  schemas:
    Problem:
      type: object
      required: [type, title, status, detail]
      properties:
        type: {type: string}
        title: {type: string}
        status: {type: integer}
        detail: {type: string}
  responses:
    Problem:
      description: An error.
      content:
        application/problem+json:
          schema: {$ref: '#/components/schemas/Problem'}
`;

let n = 0;
function run(...texts) {
  const files = texts.map((text) => {
    const file = path.join(dir, `spec${n++}.yaml`);
    writeFileSync(file, text);
    return file;
  });
  const p = spawnSync(process.execPath, [lint, ...files], { encoding: "utf8" });
  return { status: p.status, out: p.stdout + p.stderr };
}

function broken(from, to) {
  assert.ok(GOOD.includes(from), `the good spec has ${from}`);
  return GOOD.replace(from, to);
}

test("a valid spec passes", () => {
  const r = run(GOOD);
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /ok .*\(OpenAPI 3\.0, 1 operations\)/);
});

const cases = [
  ["YAML syntax", broken("info: {title", "info: {title: {"), /YAML: /],
  ["a duplicate key", broken("paths:", "paths: {}\npaths:"), /Map keys must be unique/],
  ["': ' unquoted in a flow map", broken("'minor units, from the catalog'", "minor units, from the catalog"),
    /properties\.price.*additional properties 'from the catalog'/],
  ["no operationId", broken("      operationId: getThing\n", ""), /GET \/api\/things\/\{id\}: no operationId/],
  ["an operationId not camelCase", broken("getThing", "get_thing"), /'get_thing' is not camelCase/],
  ["no security anywhere", broken("security:\n  - bearer: []\n", "").replace("      security: []\n", ""),
    /no security, and no global one/],
  ["no bearer scheme", broken("bearer: {type: http, scheme: bearer}", "key: {type: apiKey, in: header, name: X-Key}"),
    /no bearer scheme/],
  ["an unknown scheme", broken("      security: []", "      security: [{nope: []}]"), /unknown security scheme 'nope'/],
  ["JSON without a schema", broken("            application/json:\n              schema:", "            application/json:\n              x-schema:"),
    /JSON without a schema/],
  ["a problem without the Problem schema", GOOD.replace("          schema: {$ref: '#/components/schemas/Problem'}", "          schema: {type: object}"),
    /schema must be \{\$ref: '#\/components\/schemas\/Problem'\}/],
  ["an error that is not problem+json", broken("'404': {$ref: '#/components/responses/Problem'}", "'404': {description: gone}"),
    /responses 404: an error must be application\/problem\+json/],
  ["an undeclared path parameter", broken("/api/things/{id}:", "/api/things/{thing}:"), /path parameter \{thing\} is not declared/],
  ["a $ref that does not resolve", broken("'#/components/responses/Problem'}", "'#/components/responses/Nope'}"), /Nope/],
  ["not OpenAPI at all", "just: text\n", /official OpenAPI schema|supported swagger\/openapi version/],
];
for (const [what, text, message] of cases)
  test(`fails on ${what}`, () => {
    const r = run(text);
    assert.equal(r.status, 1, r.out);
    assert.match(r.out, message);
    assert.match(r.out, /FAIL /);
  });

test("fails on an operationId used by two files, and names both", () => {
  const r = run(GOOD, GOOD.replace("/api/things/", "/api/others/"));
  assert.equal(r.status, 1, r.out);
  assert.match(r.out, /operationId 'getThing' of GET \/api\/others\/\{id\} is used by .*spec\d+\.yaml GET \/api\/things\/\{id\} too/);
});

test("fails on Problem schemas that differ between files", () => {
  const r = run(GOOD.replace("getThing", "getA"), GOOD.replace("getThing", "getB").replace("detail: {type: string}", "detail: {type: integer}"));
  assert.equal(r.status, 1, r.out);
  assert.match(r.out, /Problem: differs from the one in/);
});
