// Checks OpenAPI files: YAML syntax, the official OpenAPI schema (via
// @seriousme/openapi-schema-validator, offline), then keel's own rules (below).
//   node lint.mjs [file.yaml ...]     default: every services/*/openapi.yaml
// Prints each file's errors; exits 1 when any file has one.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Validator } from "@seriousme/openapi-schema-validator";
import { parseDocument } from "yaml";

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
const PROBLEM_REF = "#/components/schemas/Problem";
const OPERATION_ID = /^[a-z][a-zA-Z0-9]*$/;
const PROPERTY_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
// keys whose value may legitimately be null
const NULL_OK = new Set(["example", "default", "enum", "examples", "const"]);

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "..", "..");

function serviceSpecs() {
  const services = path.join(repo, "services");
  return readdirSync(services, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => path.join(services, d.name, "openapi.yaml"))
    .filter((f) => existsSync(f))
    .sort();
}

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
// where in the document, readably: components.schemas.Order.properties.'created_at'...
const pointer = (parts) => parts.map((p) => (/^[\w-]+$/.test(String(p)) ? p : `'${p}'`)).join(".") || "(document)";

function resolvePointer(doc, ref) {
  if (!ref.startsWith("#/")) return undefined;
  let node = doc;
  for (const raw of ref.slice(2).split("/")) {
    const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (!isObject(node) && !Array.isArray(node)) return undefined;
    node = node[key];
    if (node === undefined) return undefined;
  }
  return node;
}

const deref = (doc, node) => (isObject(node) && typeof node.$ref === "string" ? resolvePointer(doc, node.$ref) : node);

function* walk(node, at = []) {
  yield [node, at];
  if (Array.isArray(node) || isObject(node)) for (const [k, v] of Object.entries(node)) yield* walk(v, [...at, k]);
}

function schemaErrors(errors) {
  if (typeof errors === "string") return [errors];
  // ajv reports every failed oneOf branch; the most specific messages come first once sorted
  const seen = new Set();
  const out = [];
  for (const e of errors ?? []) {
    if (e.keyword === "oneOf" || (e.keyword === "required" && e.params?.missingProperty === "$ref")) continue;
    const extra = e.params?.additionalProperty ? ` '${e.params.additionalProperty}'` : "";
    const at = pointer(e.instancePath.split("/").slice(1).map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~")));
    const line = `${at}: ${e.message}${extra} (official OpenAPI schema)`;
    if (!seen.has(line)) out.push(line), seen.add(line);
  }
  return out.length ? out : ["does not match the official OpenAPI schema"];
}

// keel's rules: what the official schema allows but tools and the e2e response checks need.
function keelRules(doc) {
  const errors = [];
  const schemes = doc.components?.securitySchemes ?? {};
  const bearer = Object.entries(schemes).filter(([, s]) => s.type === "http" && s.scheme?.toLowerCase() === "bearer");
  if (!bearer.length) errors.push("components.securitySchemes: no bearer scheme ({type: http, scheme: bearer})");

  for (const [node, at] of walk(doc)) {
    const key = at[at.length - 1];
    if (node === null && !NULL_OK.has(key) && !NULL_OK.has(at[at.length - 2]))
      errors.push(`${pointer(at)}: empty value; an unquoted text with ": " or ", " in a {flow: map} splits into keys, quote it`);
    if (isObject(node) && typeof node.$ref === "string" && resolvePointer(doc, node.$ref) === undefined)
      errors.push(`${pointer(at)}: $ref ${node.$ref} does not resolve`);
    if (key === "properties" && isObject(node) && at[at.length - 2] !== "properties")
      for (const name of Object.keys(node))
        if (!PROPERTY_NAME.test(name)) errors.push(`${pointer([...at, name])}: property name is not an identifier`);
  }

  const usedSchemes = new Set((doc.security ?? []).flatMap((r) => Object.keys(r)));
  for (const [route, item] of Object.entries(doc.paths ?? {})) {
    const templated = new Set([...route.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]));
    for (const method of METHODS.filter((m) => isObject(item[m]))) {
      const op = item[method];
      const at = (...rest) => [`${method.toUpperCase()} ${route}`, ...rest].join(" ");
      if (typeof op.operationId !== "string") errors.push(`${at()}: no operationId`);
      else if (!OPERATION_ID.test(op.operationId)) errors.push(`${at("operationId")}: '${op.operationId}' is not camelCase`);

      const security = op.security ?? doc.security;
      if (!Array.isArray(security))
        errors.push(`${at()}: no security, and no global one (public operations say security: [])`);
      for (const name of (op.security ?? []).flatMap((r) => Object.keys(r))) {
        usedSchemes.add(name);
        if (!schemes[name]) errors.push(`${at("security")}: unknown security scheme '${name}'`);
      }

      const params = [...(item.parameters ?? []), ...(op.parameters ?? [])].map((p) => deref(doc, p) ?? {});
      const pathParams = new Set(params.filter((p) => p.in === "path").map((p) => p.name));
      for (const name of templated) if (!pathParams.has(name)) errors.push(`${at()}: path parameter {${name}} is not declared`);
      for (const name of pathParams) if (!templated.has(name)) errors.push(`${at()}: path parameter '${name}' is not in the path`);

      const responses = op.responses ?? {};
      if (!Object.keys(responses).some((s) => /^2(\d\d|XX)$/.test(s))) errors.push(`${at("responses")}: no 2xx response`);
      for (const [status, raw] of Object.entries(responses)) {
        const response = deref(doc, raw);
        if (!isObject(response)) continue;
        const content = response.content ?? {};
        const error = status === "default" || /^[45]/.test(status);
        if (error && (Object.keys(content).length !== 1 || !content["application/problem+json"]))
          errors.push(`${at("responses", status)}: an error must be application/problem+json (and only that)`);
        for (const [type, media] of Object.entries(content)) {
          const where = at("responses", status, "content", type);
          if (/^application\/([\w.-]+\+)?json$/.test(type) && !isObject(media?.schema)) errors.push(`${where}: JSON without a schema`);
          if (type === "application/problem+json" && media?.schema?.$ref !== PROBLEM_REF)
            errors.push(`${where}: schema must be {$ref: '${PROBLEM_REF}'}`);
        }
      }
    }
  }
  for (const [name] of bearer)
    if (!usedSchemes.has(name)) errors.push(`components.securitySchemes.${name}: used neither globally nor by an operation`);
  if (!isObject(doc.components?.schemas?.Problem)) errors.push("components.schemas.Problem: missing (errors reference it)");
  return errors;
}

// Rules across files: operationIds unique over all services, one Problem shape everywhere.
function crossFileRules(results) {
  const owners = new Map();
  for (const r of results)
    for (const [route, item] of Object.entries(r.doc?.paths ?? {}))
      for (const method of METHODS.filter((m) => isObject(item?.[m]))) {
        const id = item[method].operationId;
        if (typeof id !== "string") continue;
        const where = `${r.name} ${method.toUpperCase()} ${route}`;
        if (owners.has(id)) r.errors.push(`operationId '${id}' of ${method.toUpperCase()} ${route} is used by ${owners.get(id)} too`);
        else owners.set(id, where);
      }
  const withProblem = results.filter((r) => isObject(r.doc?.components?.schemas?.Problem));
  const first = withProblem[0];
  for (const r of withProblem.slice(1))
    if (JSON.stringify(r.doc.components.schemas.Problem) !== JSON.stringify(first.doc.components.schemas.Problem))
      r.errors.push(`components.schemas.Problem: differs from the one in ${first.name} (keep them the same)`);
}

async function lintFile(file) {
  const inRepo = path.relative(repo, file);
  const name = inRepo.startsWith("..") ? file : inRepo;
  let text;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    return { name, errors: [`cannot read: ${e.message}`] };
  }
  const parsed = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (parsed.errors.length)
    return { name, errors: parsed.errors.slice(0, 3).map((e) => `YAML: ${e.message.split("\n")[0].replace(/:$/, "")}`) };
  const doc = parsed.toJS();
  if (!isObject(doc)) return { name, errors: ["not a YAML mapping"] };
  const validator = new Validator();
  const result = await validator.validate(structuredClone(doc));
  const errors = result.valid ? [] : schemaErrors(result.errors);
  errors.push(...keelRules(doc));
  return { name, doc, errors, version: validator.version };
}

async function main() {
  const files = process.argv.length > 2 ? process.argv.slice(2) : serviceSpecs();
  if (!files.length) {
    console.error("openapi-lint: no files");
    return 2;
  }
  const results = [];
  for (const f of files) results.push(await lintFile(path.resolve(f)));
  crossFileRules(results);
  let failed = 0;
  for (const r of results) {
    if (!r.errors.length) {
      const ops = Object.values(r.doc.paths ?? {}).reduce((n, item) => n + METHODS.filter((m) => isObject(item[m])).length, 0);
      console.log(`ok   ${r.name} (OpenAPI ${r.version}, ${ops} operations)`);
      continue;
    }
    failed++;
    console.log(`FAIL ${r.name}`);
    for (const e of r.errors) console.log(`  ${e}`);
  }
  console.log(failed ? `openapi-lint: ${failed} of ${results.length} files have errors` : `openapi-lint: ${results.length} files ok`);
  return failed ? 1 : 0;
}

process.exitCode = await main();
