"""PostgreSQL connection budget: every replica's pool together must fit under max_connections with
room left for operators (psql, migrations, the seed). A stack that cannot fit would start and then
fail under load with "too many clients already", so `up` refuses it before anything starts.

Top-level `x-pg-connections` of a compose file (keel-stack only):
  max_connections: ${PG_MAX_CONNECTIONS:-200}   # the server's (its command uses the same variable)
  reserved: ${PG_RESERVED_CONNECTIONS:-10}      # kept free for operators
  pool_size: PG_POOL_SIZE                       # the variable in each client's environment
  pool_size_default: 16                         # what a client uses when it is unset
Clients: the services whose environment has PG_DSN (replicas x pool size each)."""
import re

from .model import ConfigError

_VAR = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


def _int(v, what):
    try:
        n = int(str(v).strip())
    except (TypeError, ValueError):
        raise ConfigError(f"x-pg-connections: {what} must be a number, not {v!r}")
    if n < 0:
        raise ConfigError(f"x-pg-connections: {what} must not be negative")
    return n


def _var(raw, key, fallback):
    m = _VAR.search(str((raw or {}).get(key, "")))
    return m.group(1) if m else fallback


def check(doc, raw_doc, services, order, env):
    """None when the pools fit (or no x-pg-connections), else the message for the user."""
    spec = doc.get("x-pg-connections")
    if not spec:
        return None
    if not isinstance(spec, dict):
        raise ConfigError("x-pg-connections: must be a mapping")
    raw = (raw_doc or {}).get("x-pg-connections") or {}
    max_conn = _int(spec.get("max_connections"), "max_connections")
    reserved = _int(spec.get("reserved", 0), "reserved")
    pool_var = str(spec.get("pool_size") or "PG_POOL_SIZE")
    default = _int(spec.get("pool_size_default", 16), "pool_size_default")
    clients, total = [], 0
    for name in order:
        svc = services[name]
        if "PG_DSN" not in svc.env:
            continue
        value = svc.env.get(pool_var)
        if value is None:
            value = env.get(pool_var)
        pool = default if value in (None, "") else _int(value, f"{pool_var} of {name}")
        clients.append((name, svc.replicas, pool))
        total += svc.replicas * pool
    if total + reserved <= max_conn:
        return None
    max_var = _var(raw, "max_connections", "max_connections")
    res_var = _var(raw, "reserved", "reserved")
    detail = ", ".join(f"{n} {r}x{p}" for n, r, p in clients)
    # The hint is about the pool most replicas share (PG_POOL_SIZE); a service whose compose
    # environment fixes a pool of its own (alert-relay, release-bot) keeps it.
    by_pool = {}
    for _, r, p in clients:
        by_pool[p] = by_pool.get(p, 0) + r
    shared = max(by_pool, key=lambda p: (by_pool[p], p))
    fixed_total = total - shared * by_pool[shared]
    fits = max(0, (max_conn - reserved - fixed_total) // max(1, by_pool[shared]))
    return (f"PostgreSQL connections do not fit: the services' pools need {total} ({detail}) "
            f"+ {reserved} reserved for operators ({res_var}) = {total + reserved} > max_connections "
            f"{max_conn} ({max_var}). Lower {pool_var} (now {shared} per replica; at most {fits} fits), "
            f"run fewer replicas (deploy.replicas, up --scale), or raise {max_var}.")
