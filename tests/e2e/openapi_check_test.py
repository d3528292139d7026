#!/usr/bin/python3
"""Unit tests of openapi_check (no stack): responses that break their spec are reported, with the
operation, the status and the validation error; responses that fit pass; and the real
services/*/openapi.yaml all load. Run: /usr/bin/python3 tests/e2e/openapi_check_test.py"""
import json
import os
import sys
import unittest

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from openapi_check import Specs, SpecMismatch, default_specs  # noqa: E402

SPEC = yaml.safe_load("""
openapi: 3.0.3
info: {title: shop, version: 0.1.0}
paths:
  /api/shop/orders/{id}:
    get:
      operationId: getOrder
      responses:
        '200':
          description: The order.
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Order'}
        '404': {$ref: '#/components/responses/Problem'}
        '5XX': {$ref: '#/components/responses/Problem'}
    delete:
      operationId: deleteOrder
      responses:
        '204': {description: Deleted.}
  /api/shop/orders/mine:
    get:
      operationId: myOrders
      responses:
        '200':
          description: Mine.
          content:
            application/json:
              schema: {type: object, required: [items], properties: {items: {type: array}}}
  /internal/stats:
    get:
      operationId: stats
      responses:
        '200':
          description: Counts.
          content:
            application/json:
              schema: {type: object, required: [n], properties: {n: {type: integer, format: int64}}}
components:
  schemas:
    Order:
      type: object
      required: [id, status, total, reason, created_at]
      properties:
        id: {type: string, format: uuid}
        status: {type: string, enum: [PENDING, CONFIRMED]}
        total: {type: integer, format: int64}
        reason: {type: string, nullable: true}
        created_at: {type: string, format: date-time}
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
""")

ID = "0190a5c3-1b2c-7d4e-8f60-0123456789ab"
ORDER = {"id": ID, "status": "PENDING", "total": 1200, "reason": None, "created_at": "2026-01-02T03:04:05.678Z"}
PROBLEM = {"type": "about:blank", "title": "Not Found", "status": 404, "detail": "no route"}


def body(value):
    return json.dumps(value).encode()


class Headers(dict):
    def get(self, name, default=None):
        return super().get(name, default)


class CheckTest(unittest.TestCase):
    def setUp(self):
        self.specs = Specs({"shop": SPEC})

    def check(self, status, value, method="GET", path=f"/api/shop/orders/{ID}", content_type="application/json",
              headers=None, internal=False):
        raw = value if isinstance(value, bytes) else body(value)
        return self.specs.check(method, path, status, content_type, raw, headers, internal=internal)

    def assertMismatch(self, *patterns, **kw):
        with self.assertRaises(SpecMismatch) as ctx:
            self.check(**kw)
        for p in patterns:
            self.assertRegex(str(ctx.exception), p)
        return str(ctx.exception)

    def test_a_response_that_fits_passes(self):
        op = self.check(200, ORDER)
        self.assertEqual(op.operation_id, "getOrder")
        self.check(200, dict(ORDER, reason="no stock"), path=f"/api/shop/orders/{ID}?x=1")
        self.check(404, PROBLEM, content_type="application/problem+json")
        self.check(503, dict(PROBLEM, status=503), content_type="application/problem+json")  # 5XX
        self.check(204, b"", method="DELETE", content_type="")

    def test_a_schema_violation_names_operation_status_and_error(self):
        msg = self.assertMismatch(r"GET /api/shop/orders/\S+ -> 200", r"shop\.getOrder", r"response 200",
                                  r"at /total: 'twelve' is not of type 'integer'",
                                  status=200, value=dict(ORDER, total="twelve"))
        self.assertIn('"total": "twelve"', msg)  # the body, to see what came back

    def test_missing_required_enum_and_null(self):
        self.assertMismatch(r"'created_at' is a required property", status=200,
                            value={k: v for k, v in ORDER.items() if k != "created_at"})
        self.assertMismatch(r"at /status: 'LOST' is not one of", status=200, value=dict(ORDER, status="LOST"))
        self.assertMismatch(r"at /id: None is not of type 'string'", status=200, value=dict(ORDER, id=None))

    def test_undocumented_field_is_reported(self):
        self.assertMismatch(r"Additional properties are not allowed \('secret' was unexpected\)",
                            status=200, value=dict(ORDER, secret=1))

    def test_formats(self):
        self.assertMismatch(r"at /id: 'abc' is not a 'uuid'", status=200, value=dict(ORDER, id="abc"))
        self.assertMismatch(r"at /created_at: .* is not a 'date-time'", status=200,
                            value=dict(ORDER, created_at="2026-01-02 03:04:05"))
        self.assertMismatch(r"at /total: .* is not a 'int64'", status=200, value=dict(ORDER, total=2 ** 63))

    def test_undocumented_status(self):
        self.assertMismatch(r"status 409 is not documented \(documented: 200, 404, 5XX\)", status=409,
                            value=dict(PROBLEM, status=409), content_type="application/problem+json")

    def test_wrong_content_type_and_bad_json(self):
        self.assertMismatch(r"content type text/html is not documented", status=404, value=b"<html>",
                            content_type="text/html")
        self.assertMismatch(r"the body is not JSON", status=200, value=b"{nope")
        self.assertMismatch(r"documents no body", status=204, value=b"{}", method="DELETE")

    def test_the_most_literal_template_wins(self):
        self.assertEqual(self.check(200, {"items": []}, path="/api/shop/orders/mine").operation_id, "myOrders")

    def test_unknown_api_path_must_be_a_404_problem(self):
        self.assertIsNone(self.check(404, PROBLEM, path="/api/shop/nope", content_type="application/problem+json"))
        self.assertMismatch(r"a path no OpenAPI file documents; expected 404", status=200, value={},
                            path="/api/shop/nope")
        self.assertMismatch(r"a path no OpenAPI file documents", r"at /: 'title' is a required property",
                            status=404, value={"type": "x", "status": 404, "detail": "d"},
                            path="/api/shop/nope", content_type="application/problem+json")

    def test_undocumented_method_must_be_a_405_with_the_documented_allow(self):
        problem = dict(PROBLEM, status=405)
        self.check(405, problem, method="PUT", content_type="application/problem+json",
                   headers=Headers(Allow="DELETE, GET"))
        self.assertMismatch(r"a method the path does not document \(DELETE, GET\)", status=200, value={},
                            method="PUT")
        self.assertMismatch(r"Allow: GET, POST, but the spec documents DELETE, GET", status=405, value=problem,
                            method="PUT", content_type="application/problem+json",
                            headers=Headers(Allow="GET, POST"))

    def test_internal_gateway_paths_map_to_the_service(self):
        self.assertEqual(self.check(200, {"n": 3}, path="/shop/internal/stats", internal=True).operation_id, "stats")
        self.assertMismatch(r"shop\.stats", r"at /n: 'x' is not of type 'integer'", status=200, value={"n": "x"},
                            path="/shop/internal/stats", internal=True)
        self.assertMismatch(r"a path no OpenAPI file documents", status=200, value={},
                            path="/other/internal/stats", internal=True)

    def test_other_paths_are_not_checked(self):
        for path in ("/healthz", "/metrics", "/", "/_fake/messages?chat_id=1", "/internal/stats"):
            self.assertIsNone(self.check(200, b"anything", path=path, content_type="text/plain"))
        self.assertIsNone(self.check(200, b"x", path="/shop/healthz", internal=True, content_type="text/plain"))


class RealSpecsTest(unittest.TestCase):
    def test_every_service_spec_loads_and_checks(self):
        specs = default_specs()
        self.assertGreaterEqual(len(specs.docs), 8, sorted(specs.docs))
        ids = [o.operation_id for o in specs.operations]
        self.assertEqual(len(ids), len(set(ids)), "operationIds are unique")
        order = {"id": ID, "user_id": ID, "status": "CANCELLED", "items": [
                 {"product_id": ID, "quantity": 2, "unit_price": 150}], "total": 300, "currency": "USD",
                 "reason": "not enough stock", "payment_id": None, "correlation_id": "abc",
                 "created_at": "2026-01-02T03:04:05.678Z", "updated_at": "2026-01-02T03:04:05.999Z"}
        self.assertEqual(specs.check("GET", f"/api/orders/{ID}", 200, "application/json", body(order)).operation_id,
                         "getOrder")
        with self.assertRaisesRegex(SpecMismatch, r"(?s)orders\.getOrder .* at /payment_id: 'pay' is not a 'uuid'"):
            specs.check("GET", f"/api/orders/{ID}", 200, "application/json", body(dict(order, payment_id="pay")))
        specs.check("GET", "/api/catalog/products?limit=1", 200, "application/json",
                    body({"items": [], "next_cursor": None}))
        specs.check("POST", "/api/auth/login", 429, "application/problem+json",
                    body(dict(PROBLEM, status=429, title="Too Many Requests")))


if __name__ == "__main__":
    unittest.main(verbosity=2)
