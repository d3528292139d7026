"""Checks HTTP responses against the services' OpenAPI files (services/*/openapi.yaml).

    specs = Specs.load()                     # every services/*/openapi.yaml (cached: default_specs())
    specs.check("GET", "/api/orders/1?x=y", status, content_type, body, headers)  # raises SpecMismatch

A request is mapped to its operation by method and path template (/api/orders/{id}); the
status must be documented (exactly, as 4XX/5XX, or `default`), the content type must be one
the response declares, and a JSON body must match the response schema. Schemas are OpenAPI
3.0: `$ref`s are inlined, `nullable` becomes a JSON-Schema null type, and the uuid,
date-time, int32 and int64 formats are checked. Stricter than the spec on one point: an
object schema that lists `properties` accepts no others unless it says
`additionalProperties`, so a field the code adds without documenting it fails too.

Paths: /api/... must be in a spec; one that is not must be a 404 problem, a method the
path does not document a 405 problem whose Allow lists the documented methods.
/<service>/internal/... on the internal gateway (internal=True) is checked against that
service's /internal/... operations the same way. Every other path (/healthz, /metrics, the
fakes) is not checked. Standard library plus Debian's python3-yaml and python3-jsonschema.
"""
import atexit
import collections
import copy
import glob
import json
import os
import re
import sys
import threading
from datetime import datetime

import yaml

try:
    import jsonschema
except ImportError as e:  # pragma: no cover - a clear message instead of a bare traceback
    raise ImportError("tests/e2e/openapi_check.py needs jsonschema: apt-get install python3-jsonschema "
                      "(listed in scripts/packages.txt; scripts/bootstrap installs it)") from e

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
NO_BODY_STATUSES = (204, 304)


class SpecMismatch(AssertionError):
    """A response that its OpenAPI file does not describe."""


def _is_json(content_type):
    return content_type == "application/json" or (content_type.startswith("application/")
                                                   and content_type.endswith("+json"))


# -- OpenAPI 3.0 schema -> JSON Schema (draft 4, whose exclusiveMinimum OpenAPI 3.0 shares) ---------

_SKIP = {"nullable", "discriminator", "xml", "externalDocs", "example", "deprecated", "readOnly", "writeOnly"}


def _resolve(doc, ref):
    if not ref.startswith("#/"):
        raise ValueError(f"only local $refs are supported: {ref}")
    node = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def to_json_schema(node, doc, in_composition=False, refs=()):
    """The OpenAPI 3.0 schema `node` of `doc` as a self-contained JSON Schema (see the module doc)."""
    if not isinstance(node, dict):
        return node
    if "$ref" in node:  # siblings of $ref are ignored in 3.0
        ref = node["$ref"]
        if ref in refs:
            raise ValueError(f"recursive schema {ref} is not supported")
        return to_json_schema(_resolve(doc, ref), doc, in_composition, refs + (ref,))
    out = {}
    for key, value in node.items():
        if key in _SKIP or key.startswith("x-"):
            continue
        if key in ("properties", "patternProperties"):
            out[key] = {name: to_json_schema(s, doc, False, refs) for name, s in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = to_json_schema(value, doc, False, refs)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [to_json_schema(s, doc, key == "allOf", refs) for s in value]
        else:
            out[key] = copy.deepcopy(value)
    if "properties" in out and "additionalProperties" not in out and not in_composition:
        out["additionalProperties"] = False
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = out["enum"] + [None]
        else:
            out = {"anyOf": [{"type": "null"}, out]}
    return out


_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _format_checker():
    checker = jsonschema.FormatChecker(formats=())

    def date_time(value):
        if not isinstance(value, str):
            return True
        if not _DATE_TIME.match(value):
            return False
        try:
            datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
        except ValueError:
            return False
        return True

    def integer_range(bits):
        def check(value):
            return not isinstance(value, int) or isinstance(value, bool) or \
                -(2 ** (bits - 1)) <= value < 2 ** (bits - 1)
        return check

    checker.checks("uuid")(lambda v: not isinstance(v, str) or bool(_UUID.match(v)))
    checker.checks("date-time")(date_time)
    checker.checks("int32")(integer_range(32))
    checker.checks("int64")(integer_range(64))
    return checker


# -- the specs -----------------------------------------------------------------------------------

class Operation:
    def __init__(self, service, method, template, op, path_methods, doc):
        self.service, self.method, self.template, self.doc = service, method, template, doc
        self.operation_id = op.get("operationId", f"{method} {template}")
        self.path_methods = path_methods  # every method this path documents
        self.regex = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")
        self.literal_segments = sum(1 for s in template.split("/") if s and not s.startswith("{"))
        self.responses = {str(status): self._response(r) for status, r in (op.get("responses") or {}).items()}

    def _response(self, response):
        while "$ref" in response:
            response = _resolve(self.doc, response["$ref"])
        content = {}
        for media_type, media in (response.get("content") or {}).items():
            schema = (media or {}).get("schema")
            validator = None
            if schema is not None:
                validator = jsonschema.Draft4Validator(to_json_schema(schema, self.doc),
                                                       format_checker=_FORMATS)
            content[media_type.lower()] = validator
        return content

    def __str__(self):
        return f"{self.service}.{self.operation_id} ({self.method.upper()} {self.template})"


_FORMATS = _format_checker()


class Specs:
    def __init__(self, docs):
        """docs: {service name: parsed OpenAPI document}."""
        self.docs = docs
        self.operations = []
        self.seen = collections.Counter()  # operation id -> responses checked
        self._seen_lock = threading.Lock()
        for service, doc in sorted(docs.items()):
            for template, item in (doc.get("paths") or {}).items():
                methods = [m for m in METHODS if isinstance(item.get(m), dict)]
                for m in methods:
                    self.operations.append(Operation(service, m, template, item[m], methods, doc))
        # for paths no spec documents: the Problem schema (the same in every file, openapi-lint checks)
        self.problem = next((jsonschema.Draft4Validator(to_json_schema(d["components"]["schemas"]["Problem"], d),
                                                        format_checker=_FORMATS)
                             for d in docs.values() if "Problem" in (d.get("components") or {}).get("schemas", {})),
                            None)

    @classmethod
    def load(cls, pattern=os.path.join(REPO, "services", "*", "openapi.yaml")):
        docs = {}
        for path in sorted(glob.glob(pattern)):
            with open(path, encoding="utf-8") as f:
                docs[os.path.basename(os.path.dirname(path))] = yaml.safe_load(f)
        if not docs:
            raise RuntimeError(f"no OpenAPI files match {pattern}")
        return cls(docs)

    def match(self, path, service=None):
        """The operations whose path template matches `path` (most literal first)."""
        found = [o for o in self.operations if (service is None or o.service == service) and o.regex.match(path)]
        if not found:
            return []
        best = max(o.literal_segments for o in found)
        return [o for o in found if o.literal_segments == best]

    def check(self, method, target, status, content_type, body, headers=None, internal=False):
        """Raises SpecMismatch when the response does not fit the spec; returns the Operation
        it was checked against, or None when the path is not one the specs cover."""
        path = target.split("?", 1)[0].split("#", 1)[0]
        service = None
        if internal:  # internal gateway: /<service>/internal/... -> <service>'s /internal/...
            m = re.match(r"^/([^/]+)(/.*)$", path)
            if not m or not m.group(2).startswith("/internal/"):
                return None
            service, path = m.group(1), m.group(2)
        elif not path.startswith("/api/"):
            return None
        content_type = (content_type or "").split(";")[0].strip().lower()
        where = f"{method} {target} -> {status}"
        candidates = self.match(path, service)
        if not candidates:
            self._expect_problem(where, "a path no OpenAPI file documents", 404, status, content_type, body)
            return None
        op = next((o for o in candidates if o.method == method.lower()), None)
        if op is None:
            documented = sorted({m.upper() for o in candidates for m in o.path_methods})
            self._expect_problem(where, f"a method the path does not document ({', '.join(documented)})",
                                 405, status, content_type, body)
            allow = headers.get("Allow") if headers is not None else None
            if allow is not None and sorted(a.strip() for a in allow.split(",") if a.strip()) != documented:
                raise SpecMismatch(f"{where}: Allow: {allow}, but the spec documents {', '.join(documented)} "
                                   f"for {candidates[0].template}")
            return None
        self._check_operation(op, where, method, status, content_type, body)
        with self._seen_lock:
            self.seen[op.operation_id] += 1
        return op

    def summary(self):
        """How many responses were checked, and the operations none was checked against."""
        with self._seen_lock:
            total, seen = sum(self.seen.values()), set(self.seen)
        unseen = [str(o) for o in self.operations if o.operation_id not in seen]
        return (f"openapi_check: {total} responses checked against {len(seen)} of {len(self.operations)} "
                f"operations" + (f"; not exercised: {', '.join(unseen)}" if unseen else ""))

    def _expect_problem(self, where, what, expected, status, content_type, body):
        if status != expected or content_type != "application/problem+json":
            raise SpecMismatch(f"{where}: {what}; expected {expected} application/problem+json, got "
                               f"{status} {content_type or '(no content type)'}: {_short(body)}")
        if self.problem is not None:
            self._validate(self.problem, where, f"{what}, the Problem schema", body)

    def _check_operation(self, op, where, method, status, content_type, body):
        responses = op.responses
        key = next((k for k in (str(status), f"{status // 100}XX", "default") if k in responses), None)
        if key is None:
            raise SpecMismatch(f"{where}: operation {op}: status {status} is not documented "
                               f"(documented: {', '.join(responses)})")
        content = responses[key]
        if method.upper() == "HEAD" or (status in NO_BODY_STATUSES and not body):
            return
        if not content:
            if body:
                raise SpecMismatch(f"{where}: operation {op}, response {key} documents no body, got "
                                   f"{content_type or '(no content type)'}: {_short(body)}")
            return
        if content_type not in content:
            raise SpecMismatch(f"{where}: operation {op}, response {key}: content type "
                               f"{content_type or '(none)'} is not documented ({', '.join(content)}): {_short(body)}")
        validator = content[content_type]
        if validator is not None and _is_json(content_type):
            self._validate(validator, where, f"operation {op}, response {key}", body)

    @staticmethod
    def _validate(validator, where, what, body):
        try:
            instance = json.loads(body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else body)
        except ValueError as e:
            raise SpecMismatch(f"{where}: {what}: the body is not JSON ({e}): {_short(body)}") from None
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
        if errors:
            lines = [f"at /{'/'.join(str(p) for p in e.absolute_path)}: {e.message}" for e in errors[:5]]
            more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
            raise SpecMismatch(f"{where}: {what}: the body does not match the schema{more}:\n    "
                               + "\n    ".join(lines) + f"\n  body: {_short(body)}")


def _short(body, limit=400):
    text = body.decode("utf-8", "replace") if isinstance(body, (bytes, bytearray)) else str(body)
    return text if len(text) <= limit else text[:limit] + "..."


_default = None
_default_lock = threading.Lock()


def default_specs():
    """Specs.load() of this checkout, loaded once (thread-safe)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Specs.load()
            atexit.register(lambda: print(f"\n[e2e] {_default.summary()}", file=sys.stderr))
        return _default
