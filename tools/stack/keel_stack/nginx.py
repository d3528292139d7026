"""Render the gateway nginx config from its template."""
import re


def upstreams_block(ports_by_service, keepalive=64):
    """ports_by_service: {svc: [port, ...]} -> nginx upstream blocks."""
    out = []
    for svc, ports in ports_by_service.items():
        out.append(f"upstream {svc} {{")
        # Shared memory: every worker sees which replica failed (max_fails), instead of each
        # worker finding out for itself and sending it requests meanwhile.
        out.append(f"        zone upstream_{svc.replace('-', '_')} 64k;")
        for p in ports:
            out.append(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;")
        out.append(f"        keepalive {keepalive};")
        out.append("    }")
    return "\n    ".join(out)


def render(template_text, values):
    """Substitute ${NAME} for the given names only; nginx's own $vars are left alone."""
    def sub(m):
        name = m.group(1)
        return str(values[name]) if name in values else m.group(0)
    return re.sub(r"\$\{([A-Z_][A-Z0-9_]*)\}", sub, template_text)
