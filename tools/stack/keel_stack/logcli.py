"""The command line of `keel-stack logs` and `keel-stack trace` (cli.py only wires them in)."""
import sys

from . import logs, trace


def add_parsers(sub):
    lg = sub.add_parser("logs", help="every instance's log, merged in time order; filter by trace or "
                        "correlation id (all services when no SVC)")
    lg.add_argument("service", nargs="*", metavar="SVC", help="service (all replicas), SVC-N or SVC#N")
    lg.add_argument("-f", "--follow", action="store_true")
    lg.add_argument("-n", "--lines", type=int, default=None,
                    help="the last N lines of each log (default 100; with --trace/--correlation/--since: all)")
    lg.add_argument("--trace", action="append", default=[], metavar="ID", help="lines with this trace_id")
    lg.add_argument("--correlation", action="append", default=[], metavar="ID",
                    help="lines with this correlation_id (or the gateway's request_id)")
    lg.add_argument("--since", metavar="WHEN", help="only lines from then on: 10m, 2h, 90s, or a time")
    tr = sub.add_parser("trace", help="one trace's HTTP and event hops as a tree, from the logs")
    tr.add_argument("trace_id", metavar="ID", help="trace id (32 hex), or a correlation id")
    tr.add_argument("--json", action="store_true")
    tr.add_argument("--bus", action="store_true",
                    help="add the JetStream trail (keel-bus trail) of the trace's correlation ids")


def _state_reader(var_dir, read_state):
    def read():
        return read_state(var_dir)
    return read


def cmd_logs(args, resolve, read_state, die):
    root, var_dir, files = resolve(args)
    try:
        since = logs.parse_since(args.since) if args.since else None
        flt = logs.Filter(args.trace, args.correlation, since)
        lines = args.lines if args.lines is not None else (None if flt.by_id or since is not None else 100)
        return logs.run(var_dir, args.service, flt, lines, args.follow, _state_reader(var_dir, read_state))
    except logs.LogsError as e:
        die(str(e))


def cmd_trace(args, resolve, read_state, die):
    root, var_dir, files = resolve(args)
    try:
        t = trace.build(var_dir, args.trace_id, read_state(var_dir))
        if args.bus:
            t.add_trail(trace.bus_trail(root, var_dir, t.correlation_ids, read_state(var_dir)))
    except trace.TraceError as e:
        die(str(e))
    if args.json:
        sys.stdout.write(t.to_json() + "\n")
    else:
        sys.stdout.write(t.render() + "\n")
    return 0


def cli_commands(resolve, read_state, die):
    return {"trace": lambda args: cmd_trace(args, resolve, read_state, die)}
