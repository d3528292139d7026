"""Compose-style variable interpolation and env files."""
import re

# Names resolved per replica at run time, never from the environment at load time.
RUNTIME_VARS = ("PORT", "INSTANCE_ID", "REPLICA", "DATA_DIR")

_NAME = re.compile(r"[_A-Za-z][_A-Za-z0-9]*")


class InterpolationError(Exception):
    def __init__(self, name, where, msg=None):
        self.name = name
        self.where = where
        text = msg or f"variable {name} is not set and has no default"
        if where:
            text += f" (in {where})"
        super().__init__(text)


def _find_close(s, i):
    """Index of the '}' matching the '${' whose content starts at i."""
    depth = 1
    while i < len(s):
        if s.startswith("${", i):
            depth += 1
            i += 2
            continue
        if s[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def interpolate(s, env, where="", keep=RUNTIME_VARS):
    """Expand $$, $NAME, ${NAME}, ${NAME:-def}, ${NAME-def}, ${NAME:?err}, ${NAME?err},
    ${NAME:+alt}, ${NAME+alt} like docker compose. Names in `keep` are left untouched."""
    out = []
    i = 0
    n = len(s)
    while i < n:
        c = s[i]
        if c != "$" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        nxt = s[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
            continue
        if nxt == "{":
            j = _find_close(s, i + 2)
            if j < 0:
                raise InterpolationError("", where, f"unterminated '${{' in {s!r}")
            body = s[i + 2:j]
            m = _NAME.match(body)
            if not m:
                raise InterpolationError(body, where, f"invalid interpolation ${{{body}}}")
            name, rest = m.group(0), body[m.end():]
            if name in keep:
                out.append(s[i:j + 1])
                i = j + 1
                continue
            val = env.get(name)
            if rest == "":
                if val is None:
                    raise InterpolationError(name, where)
                out.append(val)
            else:
                for op in (":-", ":?", ":+", "-", "?", "+"):
                    if rest.startswith(op):
                        arg = rest[len(op):]
                        break
                else:
                    raise InterpolationError(name, where, f"invalid interpolation ${{{body}}}")
                unset = val is None or (op.startswith(":") and val == "")
                if op in (":-", "-"):
                    out.append(interpolate(arg, env, where, keep) if unset else val)
                elif op in (":?", "?"):
                    if unset:
                        raise InterpolationError(name, where, f"variable {name} is required: {arg or 'not set'}")
                    out.append(val)
                else:  # :+ / +
                    out.append("" if unset else interpolate(arg, env, where, keep))
            i = j + 1
            continue
        m = _NAME.match(s, i + 1)
        if m:
            name = m.group(0)
            if name in keep:
                out.append(s[i:m.end()])
            else:
                val = env.get(name)
                if val is None:
                    raise InterpolationError(name, where)
                out.append(val)
            i = m.end()
            continue
        out.append(c)
        i += 1
    return "".join(out)


def interpolate_tree(node, env, path="", keep=RUNTIME_VARS):
    """Interpolate every string value (not mapping keys) of a parsed YAML document."""
    if isinstance(node, dict):
        return {k: interpolate_tree(v, env, f"{path}.{k}" if path else str(k), keep) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate_tree(v, env, f"{path}[{i}]", keep) for i, v in enumerate(node)]
    if isinstance(node, str):
        return interpolate(node, env, path, keep)
    return node


_RUNTIME_RE = re.compile(r"\$\{([_A-Za-z][_A-Za-z0-9]*)\}")


def expand_runtime(value, rt):
    """Expand the per-replica names of rt (${PORT}, ${INSTANCE_ID}, ${REPLICA}, ${DATA_DIR}, and the
    names of x-native `ports`) in a string / list / dict; any other ${...} is left alone."""
    if isinstance(value, str):
        return _RUNTIME_RE.sub(lambda m: str(rt.get(m.group(1), m.group(0))), value)
    if isinstance(value, list):
        return [expand_runtime(v, rt) for v in value]
    if isinstance(value, dict):
        return {k: expand_runtime(v, rt) for k, v in value.items()}
    return value


def parse_env_file(path):
    """KEY=VALUE lines; '#' comments, optional 'export ', optional single/double quotes."""
    env = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("export "):
                line = line[7:].lstrip()
            if "=" not in line:
                raise ValueError(f"{path}:{lineno}: expected KEY=VALUE")
            k, v = line.split("=", 1)
            k, v = k.strip(), v.strip()
            if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
                v = v[1:-1]
            env[k] = v
    return env
