#!/usr/bin/python3
"""End-to-end tests of keel through the nginx gateway (see tests/e2e/README.md).

Run from the repo root:  /usr/bin/python3 tests/e2e/foundation_test.py [-v] [Class.test_name ...]
Env: KEEL_BUILD_DIR (default build/release), E2E_KEEP=1 keeps the var dir of the stack.
"""
import json
import os
import re
import signal
import sys
import threading
import time
import unittest
import uuid
from urllib.parse import quote

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack_fixture import Stack, jwt_parts, jwt_replace, b64url  # noqa: E402

ACCESS_TTL_S = 10          # AUTH_ACCESS_TTL_S for this stack (the minimum auth accepts)
JWT_LEEWAY_S = 30          # keel::auth::VerifyOptions::leeway default (libs/auth/include/keel/auth/jwt.hpp)
LOGIN_LIMIT_PER_IP = 100   # > all logins this suite makes per minute (see B_Auth / Z_Late)
LOGIN_LIMIT_PER_ACCOUNT = 10   # the default
DRAIN_TIMEOUT_S = 10

STACK = None
EARLY = {}                 # things captured right after start (the token the expiry test uses)


def uniq(prefix="e2e"):
    return f"{prefix}{uuid.uuid4().hex[:12]}"


_login_lock = threading.Lock()
_last_login = {}


def ascii_upper(s):
    return "".join(c.upper() if "a" <= c <= "z" else c for c in s)


def paced_login(email, password, source_ip=None, gap=0.105):
    """nginx allows 10 logins/s (burst 20) per client address: keep under it."""
    with _login_lock:
        key = source_ip or "127.0.0.1"
        wait = _last_login.get(key, 0) + gap - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        _last_login[key] = time.monotonic()
    return STACK.login(email, password, source_ip=source_ip)


_admin = {"token": None, "at": 0.0}


def admin_token():
    """An admin access token. The TTL is 10 s, but catalog accepts 30 s of clock leeway: re-login
    when older than 20 s (every 7 s would approach the per-account limit of 10 logins/minute)."""
    if _admin["token"] is None or time.monotonic() - _admin["at"] > 20:
        r = paced_login(STACK.admin_email, STACK.admin_password)
        assert r.status == 200, f"admin login: {r!r}"
        _admin["token"], _admin["at"] = r.json()["access_token"], time.monotonic()
    return _admin["token"]


def new_user(prefix="user"):
    """Registers a user; returns (email, password, user_id)."""
    email, password = f"{uniq(prefix)}@example.com", "pw-" + uuid.uuid4().hex
    r = STACK.register(email, password)
    assert r.status == 201, f"register {email}: {r!r}"
    return email, password, r.json()["user_id"]


def user_token(email, password):
    r = paced_login(email, password)
    assert r.status == 200, f"login {email}: {r!r}"
    return r.json()["access_token"]


def product_body(**over):
    body = {"sku": uniq("SKU-").upper(), "name": "e2e product " + uniq(), "description": "made by the e2e tests",
            "price_minor": 1234, "currency": "EUR", "stock": 7}
    body.update(over)
    return body


def create_product(**over):
    body = product_body(**over)
    r = STACK.request("POST", "/api/catalog/products", json_body=body, token=admin_token())
    assert r.status == 201, f"create product: {r!r}"
    return r.json()


def setUpModule():
    global STACK
    STACK = Stack(extra_env={
        "AUTH_ACCESS_TTL_S": ACCESS_TTL_S,
        "LOGIN_LIMIT_PER_IP": LOGIN_LIMIT_PER_IP,
        "LOGIN_LIMIT_PER_ACCOUNT": LOGIN_LIMIT_PER_ACCOUNT,
        "DRAIN_TIMEOUT_MS": DRAIN_TIMEOUT_S * 1000,
        "LOG_LEVEL": "info",
    })
    try:
        STACK.up()
    except BaseException:
        print(STACK.log_tails(), file=sys.stderr)
        STACK.down()
        raise
    print(f"\n[e2e] stack up in {STACK.startup_seconds:.1f}s, var dir {STACK.var_dir}, "
          f"gateway http://127.0.0.1:{STACK.gateway_port}", file=sys.stderr)
    # An admin token whose expiry the late test waits for (a genuinely expired token).
    r = STACK.login(STACK.admin_email, STACK.admin_password)
    assert r.status == 200, f"admin login: {r!r}"
    EARLY["admin_token"] = r.json()["access_token"]
    EARLY["exp"] = jwt_parts(EARLY["admin_token"])[1]["exp"]
    r = STACK.request("POST", "/api/catalog/products", json_body=product_body(), token=EARLY["admin_token"])
    assert r.status == 201, f"the fresh admin token must work: {r!r}"


def tearDownModule():
    if STACK is not None:
        print(f"\n[e2e] logins through the gateway: {STACK.logins}", file=sys.stderr)
        STACK.down()


class E2ETestCase(unittest.TestCase):
    maxDiff = 4000

    def assertProblem(self, r, status=None, min_status=400, max_status=499):
        """A 4xx (or the given status) RFC 9457 problem+json."""
        if status is not None:
            self.assertEqual(r.status, status, f"expected {status}: {r!r}")
        else:
            self.assertTrue(min_status <= r.status <= max_status, f"expected {min_status}..{max_status}: {r!r}")
        self.assertEqual(r.content_type, "application/problem+json", f"content type: {r!r}")
        body = r.json()
        for k in ("type", "title", "status", "detail"):
            self.assertIn(k, body, f"problem member {k}: {r!r}")
        self.assertEqual(body["status"], r.status, f"problem status: {r!r}")
        return body

    def snapshot(self, witness):
        """Everything bad input must not change: the full product list and a login of an existing user."""
        products = sorted(STACK.all_products(), key=lambda p: p["id"])
        r = paced_login(*witness)
        self.assertEqual(r.status, 200, f"witness login: {r!r}")
        return products

    def assertUnchanged(self, before, witness):
        after = self.snapshot(witness)
        self.assertEqual(len(after), len(before), "the number of products changed")
        self.assertEqual(after, before, "the product list changed")


# ------------------------------------------------------------------------------------------
class A_Gateway(E2ETestCase):
    def test_unknown_paths_are_404_problems(self):
        for path in ("/", "/nope", "/api/nope/x", "/api/catalog/nope", "/api/auth/nope", "/metrics",
                     "/api/catalog/metrics"):
            with self.subTest(path=path):
                self.assertProblem(STACK.request("GET", path), 404)

    def test_internal_paths_are_never_routed(self):
        token = admin_token()
        for path in ("/internal/products?ids=00000000-0000-4000-8000-000000000001",
                     "/api/catalog/internal/products", "/api/catalog/internal", "/api/auth/internal/x"):
            for hdrs in ({}, {"Authorization": f"Bearer {token}"}):
                with self.subTest(path=path, auth=bool(hdrs)):
                    self.assertProblem(STACK.request("GET", path, headers=hdrs), 404)

    def test_access_log_is_json_and_request_id_round_trips(self):
        rid = "e2e-" + uuid.uuid4().hex
        r = STACK.request("GET", "/api/catalog/products?limit=1", headers={"X-Request-Id": rid})
        self.assertEqual(r.status, 200, repr(r))
        values = r.header_all("X-Request-Id")
        self.assertTrue(values, "no X-Request-Id in the response")
        self.assertEqual(set(values), {rid}, f"X-Request-Id came back as {values}")
        # an unusable id is replaced by nginx's own
        r2 = STACK.request("GET", "/api/catalog/products?limit=1", headers={"X-Request-Id": "bad id " + "x" * 200})
        self.assertTrue(all(re.fullmatch(r"[0-9a-f]{32}", v) for v in r2.header_all("X-Request-Id")),
                        r2.header_all("X-Request-Id"))
        # the access log line
        deadline, line = time.monotonic() + 5, None
        while time.monotonic() < deadline and line is None:
            with open(STACK.access_log_path()) as f:
                lines = f.read().splitlines()
            for ln in lines:
                if rid in ln:
                    line = ln
            time.sleep(0.05)
        self.assertIsNotNone(line, "the request id is not in the nginx access log")
        for ln in lines:
            rec = json.loads(ln)   # every line is JSON
            for k in ("time", "request_id", "method", "uri", "status", "upstream", "request_time"):
                self.assertIn(k, rec, ln)
        rec = json.loads(line)
        self.assertEqual((rec["request_id"], rec["method"], rec["uri"], rec["status"]),
                         (rid, "GET", "/api/catalog/products?limit=1", 200))
        # and the service that answered logged it under the same id
        logs = ""
        for n in (1, 2):
            with open(os.path.join(STACK.var_dir, "log", f"catalog-{n}.log"), errors="replace") as f:
                logs += f.read()
        self.assertIn(f'"request_id":"{rid}"', logs, "the catalog log does not have the client's request id")

    def test_response_has_a_single_x_request_id_header(self):
        rid = "e2e-" + uuid.uuid4().hex
        r = STACK.request("GET", "/api/catalog/products?limit=1", headers={"X-Request-Id": rid})
        self.assertEqual(r.header_all("X-Request-Id"), [rid],
                         "nginx adds X-Request-Id (add_header) on top of the upstream's own header")

    def test_access_log_records_the_client_method_of_a_rejected_post(self):
        rid = "e2e-" + uuid.uuid4().hex
        r = STACK.request("POST", "/api/auth/register", body=b"{" + b" " * (1024 * 1024 + 10) + b"}",
                          headers={"X-Request-Id": rid})
        self.assertProblem(r, 413)
        time.sleep(0.2)
        with open(STACK.access_log_path()) as f:
            rec = [json.loads(ln) for ln in f if rid in ln]
        self.assertEqual(len(rec), 1, rec)
        self.assertEqual((rec[0]["method"], rec[0]["status"]), ("POST", 413), f"access log line: {rec[0]}")

    def test_health_ready_and_metrics_on_every_instance(self):
        for svc in ("auth", "catalog"):
            for rep in STACK.state()["services"][svc]["replicas"]:
                port = rep["port"]
                with self.subTest(instance=rep["label"]):
                    self.assertEqual(STACK.request("GET", "/healthz", port=port).status, 200)
                    r = STACK.request("GET", "/readyz", port=port)
                    self.assertEqual(r.status, 200, repr(r))
                    m = STACK.request("GET", "/metrics", port=port)
                    self.assertEqual(m.status, 200)
                    self.assertTrue(m.content_type.startswith("text/plain"), m.content_type)
                    self.assertRegex(m.body.decode(), r'(?m)^http_requests_total\{route="[^"]+",method="[A-Z]+",'
                                                      r'status="\d{3}"\} \d+')
        # a request through the gateway is counted by exactly one catalog instance
        pid = "00000000-0000-4000-8000-000000000005"

        def count():
            total = 0
            for rep in STACK.state()["services"]["catalog"]["replicas"]:
                text = STACK.request("GET", "/metrics", port=rep["port"]).body.decode()
                for m in re.finditer(r'(?m)^http_requests_total\{route="/api/catalog/products/\{id\}",'
                                     r'method="GET",status="200"\} (\d+)', text):
                    total += int(m.group(1))
            return total
        before = count()
        self.assertEqual(STACK.request("GET", f"/api/catalog/products/{pid}").status, 200)
        self.assertEqual(count(), before + 1)

    def test_jwks(self):
        r = STACK.request("GET", "/api/auth/.well-known/jwks.json")
        self.assertEqual(r.status, 200, repr(r))
        keys = r.json()["keys"]
        self.assertTrue(keys)
        for k in keys:
            self.assertEqual((k["kty"], k["crv"], k["alg"], k["use"]), ("OKP", "Ed25519", "EdDSA", "sig"), k)
            self.assertTrue(k["kid"])
            self.assertEqual(len(base64_decode(k["x"])), 32, k)


def base64_decode(s):
    import base64
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


# ------------------------------------------------------------------------------------------
class B_Auth(E2ETestCase):
    def test_register_login_refresh_reuse_logout(self):
        local = uniq("Flow.User")
        email, password = f"{local}@Example.COM", "correct horse battery"
        r = STACK.register(email, password)
        self.assertEqual(r.status, 201, repr(r))
        user_id = r.json()["user_id"]
        self.assertProblem(STACK.register(email.lower(), "another password"), 409)
        self.assertProblem(STACK.register(email.upper(), "another password"), 409)

        r = paced_login(email.lower(), password)
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(r.header("Cache-Control"), "no-store")
        tok = r.json()
        self.assertEqual(tok["token_type"], "Bearer")
        self.assertEqual(tok["expires_in"], ACCESS_TTL_S, "AUTH_ACCESS_TTL_S did not reach auth")
        header, claims, sig = jwt_parts(tok["access_token"])
        self.assertEqual((header["alg"], header["typ"]), ("EdDSA", "JWT"))
        kids = {k["kid"] for k in STACK.request("GET", "/api/auth/.well-known/jwks.json").json()["keys"]}
        self.assertIn(header["kid"], kids)
        self.assertEqual((claims["sub"], claims["role"], claims["iss"], claims["aud"]),
                         (user_id, "user", "keel-auth", "keel"))
        self.assertEqual(claims["exp"] - claims["iat"], ACCESS_TTL_S)
        self.assertLessEqual(claims["nbf"], claims["iat"])
        self.assertLess(abs(claims["iat"] - time.time()), 30)
        self.assertTrue(claims["jti"])
        self.assertTrue(sig)

        # rotation
        r1 = STACK.request("POST", "/api/auth/refresh", json_body={"refresh_token": tok["refresh_token"]})
        self.assertEqual(r1.status, 200, repr(r1))
        new = r1.json()
        self.assertNotEqual(new["refresh_token"], tok["refresh_token"])
        self.assertNotEqual(new["access_token"], tok["access_token"])
        self.assertEqual(jwt_parts(new["access_token"])[1]["sub"], user_id)
        self.assertNotEqual(jwt_parts(new["access_token"])[1]["jti"], claims["jti"])
        # the old token is refused, and presenting it revoked the family: the newest is refused too
        self.assertProblem(STACK.request("POST", "/api/auth/refresh", json_body={"refresh_token": tok["refresh_token"]}), 401)
        self.assertProblem(STACK.request("POST", "/api/auth/refresh", json_body={"refresh_token": new["refresh_token"]}), 401)

        # a new login is a new family, unaffected; logout ends it
        r = paced_login(email, password)
        self.assertEqual(r.status, 200, repr(r))
        rt = r.json()["refresh_token"]
        r2 = STACK.request("POST", "/api/auth/refresh", json_body={"refresh_token": rt})
        self.assertEqual(r2.status, 200, repr(r2))
        rt2 = r2.json()["refresh_token"]
        r = STACK.request("POST", "/api/auth/logout", json_body={"refresh_token": rt2})
        self.assertEqual(r.status, 204, repr(r))
        self.assertEqual(r.body, b"")
        self.assertProblem(STACK.request("POST", "/api/auth/refresh", json_body={"refresh_token": rt2}), 401)
        self.assertProblem(STACK.request("POST", "/api/auth/refresh", json_body={"refresh_token": "no-such-token"}), 401)

    def test_password_length_and_wrong_credentials(self):
        base = uniq("pwlen")
        self.assertProblem(STACK.register(f"{base}a@example.com", "x" * 7), 422)
        self.assertProblem(STACK.register(f"{base}b@example.com", "x" * 129), 422)
        self.assertEqual(STACK.register(f"{base}c@example.com", "x" * 8).status, 201)
        self.assertEqual(STACK.register(f"{base}d@example.com", "é" * 64).status, 201)  # 128 bytes
        self.assertProblem(STACK.register(f"{base}e@example.com", "é" * 65), 422)       # 130 bytes
        # the short-password attempts created nothing
        self.assertEqual(STACK.register(f"{base}a@example.com", "x" * 8).status, 201)
        self.assertEqual(paced_login(f"{base}d@example.com", "é" * 64).status, 200)
        self.assertProblem(paced_login(f"{base}c@example.com", "x" * 9), 401)
        self.assertProblem(paced_login(f"{base}zz@example.com", "x" * 8), 401)

    def test_login_limit_per_account(self):
        email, password, _ = new_user("limited")
        ip = "127.0.0.4"
        statuses = []
        for i in range(LOGIN_LIMIT_PER_ACCOUNT):
            statuses.append(paced_login(email, "wrong-password", source_ip=ip).status)
        self.assertEqual(statuses, [401] * LOGIN_LIMIT_PER_ACCOUNT)
        r = paced_login(email, password, source_ip=ip)
        body = self.assertProblem(r, 429)
        retry = r.header("Retry-After")
        self.assertIsNotNone(retry, "429 without Retry-After")
        self.assertTrue(retry.isdigit() and 1 <= int(retry) <= 60, retry)
        self.assertIn("login", body["detail"])
        # other accounts are not affected (from another address)
        e2, p2, _ = new_user("notlimited")
        self.assertEqual(paced_login(e2, p2, source_ip="127.0.0.5").status, 200)


# ------------------------------------------------------------------------------------------
class C_Catalog(E2ETestCase):
    def test_list_and_search_pagination(self):
        tag = uniq("pg")
        made = [create_product(name=f"Item {i} {tag.upper()}") for i in range(3)]
        made += [create_product(description=f"about {tag} #{i}") for i in range(2)]
        ids = {p["id"] for p in made}
        seen, cursor, pages = [], None, 0
        while True:
            path = f"/api/catalog/products?q={tag}&limit=2" + (f"&cursor={cursor}" if cursor else "")
            r = STACK.request("GET", path)
            self.assertEqual(r.status, 200, repr(r))
            page = r.json()
            self.assertLessEqual(len(page["items"]), 2)
            seen += page["items"]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
            self.assertEqual(cursor, page["items"][-1]["id"])
        self.assertEqual(pages, 3)
        self.assertEqual([p["id"] for p in seen], sorted(ids), "search (name or description, any case) by cursor")
        self.assertEqual({p["id"]: p for p in seen}, {p["id"]: p for p in made})
        # the whole list: small pages walk the same set as one big page, no duplicates
        small, big = STACK.all_products(limit=3), STACK.all_products(limit=100)
        self.assertEqual(len({p["id"] for p in small}), len(small), "duplicates across pages")
        self.assertEqual([p["id"] for p in small], [p["id"] for p in big])
        self.assertGreaterEqual(len(big), 12 + 5)
        seeded = {"KEEL-MUG-01", "KEEL-BOOK-DS", "KEEL-PEN"}
        self.assertTrue(seeded <= {p["sku"] for p in big}, "the seed products are listed")
        # default limit and a no-match search
        r = STACK.request("GET", "/api/catalog/products")
        self.assertEqual(r.status, 200)
        self.assertEqual(len(r.json()["items"]), min(20, len(big)))
        r = STACK.request("GET", f"/api/catalog/products?q={uniq('nomatch')}")
        self.assertEqual(r.json(), {"items": [], "next_cursor": None})

    def test_search_does_not_match_across_name_and_description(self):
        tag = uniq("xf")
        create_product(name=f"alpha {tag}", description="omega beta")
        r = STACK.request("GET", "/api/catalog/products?q=" + quote(f"{tag} omega"))
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(r.json()["items"], [],
                         f"q='{tag} omega' is a substring of neither the name nor the description")

    def test_list_parameter_errors(self):
        for qs in ("limit=0", "limit=101", "limit=-1", "limit=abc", "limit=", "limit=1.5", "limit=99999999999",
                   "cursor=not-a-uuid", "cursor=%27%3B--", "q=" + "a" * 201, "q=a%00b"):
            with self.subTest(qs=qs):
                self.assertProblem(STACK.request("GET", f"/api/catalog/products?{qs}"), 400)
        for qs in ("limit=1", "limit=100", "q=" + "a" * 200):
            with self.subTest(qs=qs):
                self.assertEqual(STACK.request("GET", f"/api/catalog/products?{qs}").status, 200)

    def test_get_errors(self):
        self.assertProblem(STACK.request("GET", "/api/catalog/products/not-a-uuid"), 400)
        self.assertProblem(STACK.request("GET", "/api/catalog/products/" + quote("'; DROP TABLE products; --")), 400)
        self.assertProblem(STACK.request("GET", f"/api/catalog/products/{uuid.uuid4()}"), 404)

    def test_user_gets_403_on_writes_and_anonymous_401(self):
        p = create_product()
        email, password, _ = new_user()
        tok = user_token(email, password)
        path = f"/api/catalog/products/{p['id']}"
        changed = dict(product_body(), name="hacked")
        self.assertProblem(STACK.request("POST", "/api/catalog/products", json_body=product_body(), token=tok), 403)
        self.assertProblem(STACK.request("PUT", path, json_body=changed, token=tok), 403)
        self.assertProblem(STACK.request("DELETE", path, token=tok), 403)
        for method, body in (("POST", product_body()), ("PUT", changed), ("DELETE", None)):
            with self.subTest(method=method):
                r = STACK.request(method, path if method != "POST" else "/api/catalog/products", json_body=body)
                self.assertProblem(r, 401)
                self.assertTrue(r.header("WWW-Authenticate", ) and r.header("WWW-Authenticate").startswith("Bearer"),
                                repr(r.headers.items()))
        r = STACK.request("GET", path)
        self.assertEqual(r.json(), p, "the product changed")

    def test_admin_write_invalidates_the_cache_and_delete(self):
        p = create_product()
        path = f"/api/catalog/products/{p['id']}"
        r1, r2 = STACK.request("GET", path), STACK.request("GET", path)
        self.assertEqual((r1.status, r2.status), (200, 200))
        self.assertEqual(r1.json(), p)
        self.assertEqual(r2.json(), p)
        self.assertEqual(r2.header("X-Cache"), "hit", f"second GET: {r2.headers.items()}")
        self.assertIn(r1.header("X-Cache"), ("miss", "hit"))
        new = dict(sku=p["sku"] + "-V2", name="renamed " + uniq(), description="new description",
                   price_minor=999, currency="USD", stock=0)
        r = STACK.request("PUT", path, json_body=new, token=admin_token())
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(r.json(), dict(new, id=p["id"]))
        r3, r4 = STACK.request("GET", path), STACK.request("GET", path)
        self.assertEqual(r3.json(), dict(new, id=p["id"]), "stale product after PUT")
        self.assertEqual(r3.header("X-Cache"), "miss")
        self.assertEqual((r4.json(), r4.header("X-Cache")), (dict(new, id=p["id"]), "hit"))
        # description is optional on PUT (full replacement): it becomes ""
        body = {k: v for k, v in new.items() if k != "description"}
        r = STACK.request("PUT", path, json_body=body, token=admin_token())
        self.assertEqual((r.status, r.json()["description"]), (200, ""), repr(r))
        self.assertEqual(STACK.request("GET", path).json()["description"], "")
        # delete: 204, then 404 everywhere
        r = STACK.request("DELETE", path, token=admin_token())
        self.assertEqual((r.status, r.body), (204, b""), repr(r))
        for _ in range(3):   # both instances, cache and database
            self.assertProblem(STACK.request("GET", path), 404)
        self.assertProblem(STACK.request("DELETE", path, token=admin_token()), 404)
        self.assertProblem(STACK.request("PUT", path, json_body=new, token=admin_token()), 404)
        self.assertNotIn(p["id"], {x["id"] for x in STACK.all_products()})

    def test_duplicate_sku_and_currency(self):
        a, b = create_product(), create_product()
        self.assertProblem(STACK.request("POST", "/api/catalog/products", json_body=product_body(sku=a["sku"]),
                                         token=admin_token()), 409)
        r = STACK.request("PUT", f"/api/catalog/products/{b['id']}",
                          json_body=product_body(sku=a["sku"]), token=admin_token())
        self.assertProblem(r, 409)
        self.assertEqual(STACK.request("GET", f"/api/catalog/products/{b['id']}").json(), b)
        for cur in ("usd", "US", "USDX", "U$D", "", "€€€"[:1], 123):
            with self.subTest(currency=cur):
                body = self.assertProblem(STACK.request("POST", "/api/catalog/products",
                                                        json_body=product_body(currency=cur), token=admin_token()), 422)
                self.assertIn("currency", {e["field"] for e in body["errors"]})


# ------------------------------------------------------------------------------------------
class D_BadInput(E2ETestCase):
    """Every bad request: a 4xx problem+json, and the product list / an existing login unchanged."""

    @classmethod
    def setUpClass(cls):
        cls.product = create_product()

    def setUp(self):
        # one witness account per test: the per-account login limit is 10 per minute
        self.witness = new_user("witness")[:2]

    def targets(self):
        pid = self.product["id"]
        return [("POST", "/api/auth/register", None), ("POST", "/api/auth/login", None),
                ("POST", "/api/auth/refresh", None), ("POST", "/api/auth/logout", None),
                ("POST", "/api/catalog/products", "admin"), ("PUT", f"/api/catalog/products/{pid}", "admin")]

    def send(self, method, path, auth, **kw):
        if path == "/api/auth/login":
            time.sleep(0.105)   # nginx limits /api/auth/login to 10 r/s per client
        return STACK.request(method, path, token=admin_token() if auth else None, **kw)

    def test_malformed_json(self):
        before = self.snapshot(self.witness)
        bodies = [b'{"email":', b"{email: 1}", b"{'a': 1}", b'{"a":1,}', b"", b"nul", b"[]", b"null", b"42",
                  b'"text"', b'{"email":"\xff\xfe@example.com","password":"12345678"}', b"{}}", b"\x00"]
        for method, path, auth in self.targets():
            for body in bodies:
                with self.subTest(path=path, body=body):
                    r = self.send(method, path, auth, body=body)
                    self.assertProblem(r, 400)
        self.assertUnchanged(before, self.witness)

    def test_non_json_content_type(self):
        before = self.snapshot(self.witness)
        for method, path, auth in self.targets():
            for ctype in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
                with self.subTest(path=path, ctype=ctype):
                    body = json.dumps({"email": f"{uniq()}@example.com", "password": "12345678"})
                    self.assertProblem(self.send(method, path, auth, body=body, content_type=ctype), 415)
        self.assertUnchanged(before, self.witness)

    def test_oversize_body(self):
        before = self.snapshot(self.witness)
        email = f"{uniq('big')}@example.com"
        huge = json.dumps({"email": email, "password": "p" * (1024 * 1024 + 1)})
        big_product = json.dumps(product_body(description="d" * (1024 * 1024 + 1)))
        for method, path, auth in self.targets():
            body = big_product if "catalog" in path else huge
            with self.subTest(path=path):
                self.assertProblem(self.send(method, path, auth, body=body), 413)
        # just under nginx's 1 MiB: the service's own limits answer, with a 4xx, never 5xx
        under = json.dumps(product_body(description="d" * (1024 * 1024 - 300)))
        self.assertLessEqual(len(under), 1024 * 1024)
        r = self.send("POST", "/api/catalog/products", "admin", body=under)
        self.assertProblem(r, 422)
        self.assertUnchanged(before, self.witness)
        self.assertEqual(STACK.register(email, "12345678").status, 201, "the oversize register created the user")

    def test_unknown_fields_wrong_types_missing_fields(self):
        before = self.snapshot(self.witness)
        email = f"{uniq('shape')}@example.com"
        cred_cases = [
            ({"email": email, "password": "12345678", "role": "admin"}, {"role"}),
            ({"email": email, "password": "12345678", "is_admin": True}, {"is_admin"}),
            ({"email": 123, "password": "12345678"}, {"email"}),
            ({"email": email, "password": 12345678}, {"password"}),
            ({"email": [email], "password": "12345678"}, {"email"}),
            ({"email": email, "password": {"a": 1}}, {"password"}),
            ({"email": email, "password": True}, {"password"}),
            ({"email": email}, {"password"}),
            ({"password": "12345678"}, {"email"}),
            ({"email": None, "password": None}, {"email", "password"}),
            ({}, {"email", "password"}),
            ({"email": "not-an-email", "password": "12345678"}, {"email"}),
        ]
        for path in ("/api/auth/register", "/api/auth/login"):
            for body, fields in cred_cases:
                with self.subTest(path=path, body=body):
                    r = self.send("POST", path, None, json_body=body)
                    problem = self.assertProblem(r, 422)
                    self.assertTrue(fields <= {e["field"] for e in problem["errors"]}, problem)
                    for e in problem["errors"]:
                        self.assertEqual(set(e), {"field", "problem"}, e)
        for path in ("/api/auth/refresh", "/api/auth/logout"):
            for body in ({}, {"refresh_token": 123}, {"refresh_token": None}, {"refresh_token": ""},
                         {"refresh_token": "x", "extra": 1}, {"token": "x"}, {"refresh_token": "x" * 257}):
                with self.subTest(path=path, body=body):
                    self.assertProblem(self.send("POST", path, None, json_body=body), 422)
        good = product_body()
        product_cases = [
            (dict(good, id=str(uuid.uuid4())), {"id"}),
            (dict(good, extra="x"), {"extra"}),
            (dict(good, price_minor="1234"), {"price_minor"}),
            (dict(good, price_minor=12.5), {"price_minor"}),
            (dict(good, price_minor=True), {"price_minor"}),
            (dict(good, price_minor=-1), {"price_minor"}),
            (dict(good, price_minor=2 ** 64), {"price_minor"}),
            (dict(good, price_minor=1e300), {"price_minor"}),
            (dict(good, stock=-5), {"stock"}),
            (dict(good, stock="7"), {"stock"}),
            (dict(good, stock=None), {"stock"}),
            (dict(good, sku=123), {"sku"}),
            (dict(good, sku=""), {"sku"}),
            (dict(good, sku="s" * 65), {"sku"}),
            (dict(good, name=["x"]), {"name"}),
            (dict(good, name=""), {"name"}),
            (dict(good, description=5), {"description"}),
            (dict(good, description="x\u0000y"), {"description"}),
            ({k: v for k, v in good.items() if k != "sku"}, {"sku"}),
            ({k: v for k, v in good.items() if k != "price_minor"}, {"price_minor"}),
            ({}, {"sku", "name", "price_minor", "currency", "stock"}),
        ]
        for method, path, _ in self.targets()[4:]:
            for body, fields in product_cases:
                with self.subTest(method=method, body=body):
                    problem = self.assertProblem(self.send(method, path, "admin", json_body=body), 422)
                    self.assertTrue(fields <= {e["field"] for e in problem["errors"]}, problem)
        self.assertUnchanged(before, self.witness)
        self.assertEqual(STACK.register(email, "12345678").status, 201, "a rejected register created the user")

    def test_bad_tokens_are_401(self):
        before = self.snapshot(self.witness)
        admin = admin_token()
        email, password, _ = new_user("tok")
        user = user_token(email, password)
        ah, ac, asig = jwt_parts(admin)
        uh, uc, usig = jwt_parts(user)
        none_header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        cases = {
            "exp changed (expired, bad signature)": jwt_replace(admin, payload=dict(ac, exp=ac["iat"] - 3600)),
            "exp extended": jwt_replace(admin, payload=dict(ac, exp=ac["exp"] + 86400)),
            "role user->admin": jwt_replace(user, payload=dict(uc, role="admin")),
            "sub changed": jwt_replace(admin, payload=dict(ac, sub=str(uuid.uuid4()))),
            "alg none, empty signature": f"{none_header}.{admin.split('.')[1]}.",
            "alg none, user->admin": f"{none_header}.{b64url(json.dumps(dict(uc, role='admin')).encode())}.",
            "alg none in header, kid kept": jwt_replace(admin, header=dict(ah, alg="none"), signature=""),
            "alg HS256": jwt_replace(admin, header=dict(ah, alg="HS256")),
            "unknown kid": jwt_replace(admin, header=dict(ah, kid="e2e-unknown-" + uuid.uuid4().hex[:8])),
            "no kid": jwt_replace(admin, header={"alg": "EdDSA", "typ": "JWT"}),
            "signature of another token": jwt_replace(admin, signature=usig),
            "wrong audience": jwt_replace(admin, payload=dict(ac, aud="other")),
            "garbage": "garbage",
            "three dots": "a.b.c",
            "empty parts": "..",
            "four parts": admin + ".x",
            "huge": "A" * 4000,
            "non-ascii": "t\u00f6ken",
        }
        # These must not even reach the API as admin. ("huge"/"non-ascii" may be refused earlier: 4xx)
        for name, tok in cases.items():
            for method, path in (("POST", "/api/catalog/products"),
                                 ("PUT", f"/api/catalog/products/{self.product['id']}"),
                                 ("DELETE", f"/api/catalog/products/{self.product['id']}")):
                with self.subTest(token=name, method=method):
                    body = product_body(name="via bad token") if method != "DELETE" else None
                    hdr = {"Authorization": "Bearer " + tok}
                    if name == "non-ascii":
                        hdr = {"Authorization": ("Bearer " + tok).encode("utf-8")}
                    r = STACK.request(method, path, json_body=body, headers=hdr)
                    if name in ("huge", "non-ascii") and r.status != 401:
                        self.assertProblem(r)
                    else:
                        self.assertProblem(r, 401)
                        self.assertTrue((r.header("WWW-Authenticate") or "").startswith("Bearer"), repr(r))
        for hdr in ("Bearer", "Bearer ", "Basic YWRtaW46YWRtaW4=", admin, "bearer" + admin, "Token " + admin):
            with self.subTest(authorization=hdr[:20]):
                r = STACK.request("POST", "/api/catalog/products", json_body=product_body(),
                                  headers={"Authorization": hdr})
                self.assertProblem(r, 401)
        # the good tokens still work (the unknown kid did not break key lookup)
        r = STACK.request("GET", f"/api/catalog/products/{self.product['id']}")
        self.assertEqual(r.json(), self.product)
        self.assertUnchanged(before, self.witness)
        self.assertEqual(STACK.request("POST", "/api/catalog/products", json_body=product_body(),
                                       token=admin_token()).status, 201)

    def test_sql_metacharacters_are_literal(self):
        payloads = ["'; DROP TABLE products; --", '" OR 1=1 --', "\\", "%", "_", "' OR '1'='1",
                    "\\'; DELETE FROM users; --", "a%b_c\\d", "Ünïcødé ✓ 日本語 🚀 Ω", "$1", "${x}", "%%", "__"]
        before = self.snapshot(self.witness)
        tag = uniq("sq")
        created = []
        # product create: every string field, read back literally
        for i, p in enumerate(payloads):
            with self.subTest(field="product", payload=p):
                body = product_body(sku=f"{tag}-{i}-{p}"[:64], name=f"{p} {tag}", description=f"{tag} {p} {tag}")
                r = STACK.request("POST", "/api/catalog/products", json_body=body, token=admin_token())
                self.assertEqual(r.status, 201, repr(r))
                got = r.json()
                self.assertEqual({k: got[k] for k in body}, body)
                g = STACK.request("GET", f"/api/catalog/products/{got['id']}")
                self.assertEqual(g.json(), got)
                created.append(got)
        everything = STACK.all_products()
        # q: exactly the products that contain the literal, case-insensitively
        for p in payloads + ["'", '"', ";", "--", "\\\\", "%_", "DROP TABLE", "ünïcødé"]:
            with self.subTest(field="q", payload=p):
                r = STACK.request("GET", "/api/catalog/products?limit=100&q=" + quote(p, safe=""))
                self.assertEqual(r.status, 200, repr(r))
                got = {x["id"] for x in STACK.all_products(q=p)}
                want = {x["id"] for x in everything
                        if p.lower() in x["name"].lower() or p.lower() in x["description"].lower()}
                self.assertEqual(got, want, f"q={p!r}")
        # register / login: email and password
        pw_emails = []
        for i, p in enumerate(payloads):
            with self.subTest(field="email", payload=p):
                r = STACK.register(p, "password-123")
                self.assertProblem(r)          # none of them is an email address
                local = f"{tag}.{i}" + "".join(c for c in p if c > " " and c not in '<>"\\')
                email = f"{local}@example.com"
                r = STACK.register(email, "password-123")
                self.assertIn(r.status, (201, 422), repr(r))
                if r.status == 201:   # stored once, under the literal address
                    self.assertProblem(STACK.register(email, "password-123"), 409)
            with self.subTest(field="password", payload=p):
                email, pw = f"{local}.pw@example.com", (p + "-padding-")[:128]
                r = STACK.register(email, pw)
                self.assertEqual(r.status, 201, repr(r))
                r = paced_login(ascii_upper(email), pw)
                self.assertEqual(r.status, 200, f"login {ascii_upper(email)!r} / {pw!r}: {r!r}")
                pw_emails.append(email)
        self.assertProblem(paced_login(pw_emails[0], "' OR '1'='1"), 401)
        for email in ("admin@keel.local'--", "admin@keel.local' OR '1'='1", "' OR 1=1 --", "%@keel.local",
                      "_dmin@keel.local", "admin@keel.loca_", "ADMIN@KEEL.LOCAL\\"):
            with self.subTest(field="login email", payload=email):
                r = paced_login(email, "anything-at-all")
                self.assertIn(r.status, (401, 422), repr(r))
                self.assertProblem(r)
        self.assertProblem(STACK.register("a@b.c", "x\u0000" * 5), 422)
        # nothing else changed: the product list is before + the created ones
        after = self.snapshot(self.witness)
        created_ids = {p["id"] for p in created}
        self.assertEqual([p for p in after if p["id"] not in created_ids], before)
        self.assertEqual(len(after), len(before) + len(created))
        for p in created:  # clean up, and deletion is literal too
            self.assertEqual(STACK.request("DELETE", f"/api/catalog/products/{p['id']}", token=admin_token()).status, 204)
        self.assertEqual(self.snapshot(self.witness), before)


# ------------------------------------------------------------------------------------------
class Stream:
    """N threads doing requests until stopped; records every failure."""

    def __init__(self, make_request, threads=4):
        self.make_request, self.n = make_request, threads
        self.stop = threading.Event()
        self.ok = 0
        self.failures = []
        self.lock = threading.Lock()

    def _run(self, k):
        i = 0
        while not self.stop.is_set():
            i += 1
            t = time.monotonic()
            try:
                r, expected = self.make_request(k, i)
                good = r.status in expected
                err = None if good else repr(r)
            except Exception as e:  # noqa: BLE001
                good, err = False, f"{type(e).__name__}: {e}"
            with self.lock:
                if good:
                    self.ok += 1
                else:
                    self.failures.append((round(t, 3), err))

    def __enter__(self):
        self.threads = [threading.Thread(target=self._run, args=(k,), daemon=True) for k in range(self.n)]
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(30)


class E_Resilience(E2ETestCase):
    def get_stream(self):
        ids = ["00000000-0000-4000-8000-00000000000%d" % d for d in range(1, 10)]

        def req(k, i):
            return STACK.request("GET", f"/api/catalog/products/{ids[(k + i) % len(ids)]}", timeout=10), (200,)
        return Stream(req)

    def test_sigkill_catalog_instance_during_gets(self):
        old = STACK.replica("catalog", 1)
        healthy_after = None
        with self.get_stream() as s:
            time.sleep(1)
            STACK.cli("kill", "catalog#1")
            t_kill = time.monotonic()
            while time.monotonic() - t_kill < 4:
                if healthy_after is None:
                    r = STACK.replica("catalog", 1)
                    if r["pid"] and r["pid"] != old["pid"] and r["health"] == "healthy":
                        healthy_after = time.monotonic() - t_kill
                time.sleep(0.05)
        self.assertFalse(STACK.pid_alive(old["pid"]), "catalog#1 still runs after SIGKILL")
        self.assertGreater(s.ok, 50)
        self.assertEqual(s.failures, [], f"{len(s.failures)} failed of {s.ok + len(s.failures)}")
        new = STACK.wait_replica("catalog", 1, lambda r: r["pid"] and r["pid"] != old["pid"]
                                 and r["health"] == "healthy", timeout=15)
        healthy_after = healthy_after or time.monotonic() - t_kill
        print(f"\n[e2e] SIGKILL catalog#1: {s.ok} GETs ok, 0 failed; pid {old['pid']} -> {new['pid']}, "
              f"healthy again {healthy_after:.2f}s after the kill", file=sys.stderr)
        self.assertLess(healthy_after, 5, "the killed instance took too long to come back")
        self.assertEqual(new["restarts"], old["restarts"] + 1)
        self.assertRegex(STACK.supervisor_log(), r"catalog#1 exited with -9")
        self.assertEqual(STACK.request("GET", "/readyz", port=new["port"]).status, 200)

    def _sigterm(self, svc, n, stream):
        old = STACK.wait_replica(svc, n, lambda r: r["health"] == "healthy" and r["pid"])
        log_before = len(STACK.supervisor_log())
        exited = {}
        with stream as s:
            time.sleep(1)
            t_sig = time.monotonic()
            os.kill(old["pid"], signal.SIGTERM)
            while STACK.pid_alive(old["pid"]) and time.monotonic() - t_sig < DRAIN_TIMEOUT_S + 5:
                time.sleep(0.02)
            exited["after"] = time.monotonic() - t_sig
            time.sleep(max(0.0, 4 - exited["after"]))
        self.assertFalse(STACK.pid_alive(old["pid"]), f"{svc}#{n} still runs {exited['after']:.1f}s after SIGTERM")
        self.assertLess(exited["after"], DRAIN_TIMEOUT_S + 1, "exceeded the drain deadline")
        self.assertGreater(s.ok, 30)
        self.assertEqual(s.failures, [], f"{len(s.failures)} failed of {s.ok + len(s.failures)}")
        deadline = time.monotonic() + 5
        while f"{svc}#{n} exited with" not in STACK.supervisor_log()[log_before:] and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertRegex(STACK.supervisor_log()[log_before:], rf"{svc}#{n} exited with 0;",
                         f"exit status; log tail:\n{STACK.supervisor_log()[log_before:][-800:]}")
        new = STACK.wait_replica(svc, n, lambda r: r["pid"] and r["pid"] != old["pid"]
                                 and r["health"] == "healthy", timeout=15)
        print(f"\n[e2e] SIGTERM {svc}#{n}: {s.ok} requests ok, 0 failed; exited 0 after {exited['after']:.2f}s; "
              f"pid {old['pid']} -> {new['pid']}", file=sys.stderr)
        return s

    def test_sigterm_catalog_instance_during_gets(self):
        self._sigterm("catalog", 2, self.get_stream())

    def test_sigterm_auth_instance_during_registers_and_gets(self):
        run = uniq("drain")

        def req(k, i):
            if k % 2 == 0:
                return STACK.request("GET", "/api/auth/.well-known/jwks.json", timeout=10), (200,)
            return STACK.register(f"{run}.{k}.{i}@example.com", "password-123", timeout=10), (201,)
        self._sigterm("auth", 1, Stream(req))


# ------------------------------------------------------------------------------------------
class F_StackTool(E2ETestCase):
    def test_up_with_admin_password_from_the_environment(self):
        """The documented way (README, brief): AUTH_ADMIN_PASSWORD=<known> keel-stack up -d."""
        other = Stack(admin_password_via_env=True)
        try:
            p = other.cli("up", "-d", "--quiet", "--timeout", "60", check=False)
            log = other.supervisor_log()
            self.assertEqual(p.returncode, 0, f"keel-stack up failed:\n{p.stdout.strip()}\n{p.stderr.strip()}\n"
                                              f"keel-stack.log tail:\n{log[-1500:]}")
            r = other.login(other.admin_email, other.admin_password)
            self.assertEqual(r.status, 200, repr(r))
        finally:
            other.started = True
            other.down()
            other.cleanup()


# ------------------------------------------------------------------------------------------
class Z_Late(E2ETestCase):
    """Last: the expired token waits for time to pass; the per-IP login limit may lock logins."""

    def test_a_genuinely_expired_token_is_401(self):
        tok = EARLY["admin_token"]
        wait = EARLY["exp"] + JWT_LEEWAY_S + 2 - time.time()
        if wait > 0:
            print(f"\n[e2e] waiting {wait:.0f}s for the admin token from the start to expire "
                  f"(ttl {ACCESS_TTL_S}s + leeway {JWT_LEEWAY_S}s)", file=sys.stderr)
            time.sleep(wait)
        body = product_body()
        r = STACK.request("POST", "/api/catalog/products", json_body=body, token=tok)
        self.assertProblem(r, 401)
        self.assertIn("Bearer", r.header("WWW-Authenticate") or "")
        self.assertEqual([p for p in STACK.all_products() if p["sku"] == body["sku"]], [])

    def test_b_login_limit_per_client_ip(self):
        """LOGIN_LIMIT_PER_IP counts the client's address (nginx's $remote_addr), not the gateway's."""
        ip_a, ip_b = "127.0.0.2", "127.0.0.3"
        statuses = []
        for i in range(LOGIN_LIMIT_PER_IP + 1):
            r = paced_login(f"{uniq('ipl')}@example.com", "wrong-password", source_ip=ip_a)
            statuses.append(r.status)
            if r.status == 429:
                break
        first_429 = statuses.index(429) + 1 if 429 in statuses else None
        rb = paced_login(STACK.admin_email, STACK.admin_password, source_ip=ip_b)
        self.assertEqual(rb.status, 200,
                         f"client {ip_b} never logged in before, yet got {rb!r} after client {ip_a} made "
                         f"{len(statuses)} attempts (first 429 at attempt {first_429}, limit {LOGIN_LIMIT_PER_IP}); "
                         f"the suite made {STACK.logins} logins in total")
        self.assertEqual(first_429, LOGIN_LIMIT_PER_IP + 1,
                         f"{ip_a}: first 429 at attempt {first_429}, expected {LOGIN_LIMIT_PER_IP + 1}")


def load_tests(loader, tests, pattern):
    suite = unittest.TestSuite()
    for cls in (A_Gateway, B_Auth, C_Catalog, D_BadInput, E_Resilience, F_StackTool, Z_Late):
        suite.addTests(loader.loadTestsFromTestCase(cls))
    return suite


def main():
    t0 = time.monotonic()
    prog = unittest.main(module=__name__, exit=False, verbosity=2 if "-v" in sys.argv else 1)
    result = prog.result
    print(f"\n[e2e] total {time.monotonic() - t0:.1f}s", file=sys.stderr)
    if STACK is not None:
        if not result.wasSuccessful():
            print("\n[e2e] service log tails:\n" + STACK.log_tails(), file=sys.stderr)
        if os.environ.get("E2E_KEEP"):
            print(f"[e2e] kept {STACK.var_dir}", file=sys.stderr)
        else:
            STACK.cleanup()
    sys.exit(0 if result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
