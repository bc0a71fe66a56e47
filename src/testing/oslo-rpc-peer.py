#!/usr/bin/python3
"""An unchanged oslo.messaging RPC peer, for vpmu's RPC interop tests.

server mode: serves --topic as --server on --exchange with endpoint methods
  echo(ctxt, **kwargs) -> {"args": kwargs, "context": ctxt}
  fail(ctxt, message)  -> raises ValueError(message)
  note(ctxt, **kwargs) -> prints {"note": kwargs, "context": ctxt} on stdout (for casts)
  prints READY on stderr once consuming; exits 0 on SIGTERM, 3 after --timeout seconds.

client mode: against a server of --topic (and --server) on --exchange, runs one scenario and
  prints one JSON line per step on stdout, then exits 0:
  call echo, call echo on the named server, cast note, call fail (a failure), call slow with a
  call monitor (heartbeats), call missing (no such method).

call mode: calls --method with the keyword arguments of --args (a JSON object) on --topic
  (and --server) and prints {"result": ...} or the failure as one JSON line.

Run it with Debian's /usr/bin/python3 and python3-oslo.messaging.
"""
import argparse
import json
import signal
import sys
import threading

from oslo_config import cfg
import oslo_messaging


def out(line):
    sys.stdout.write(json.dumps(line, sort_keys=True) + "\n")
    sys.stdout.flush()


def failure(error):
    return {
        "error": type(error).__name__,
        "exc_type": getattr(error, "exc_type", None),
        "value": getattr(error, "value", None),
    }


def serve(transport, target, timeout):
    class Endpoint:
        def echo(self, ctxt, **kwargs):
            return {"args": kwargs, "context": ctxt}

        def fail(self, ctxt, message):
            raise ValueError(message)

        def note(self, ctxt, **kwargs):
            out({"note": kwargs, "context": ctxt})

    server = oslo_messaging.get_rpc_server(
        transport, target, [Endpoint()], executor="threading")
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    server.start()
    sys.stderr.write("READY\n")
    sys.stderr.flush()
    timed_out = not done.wait(timeout)
    server.stop()
    server.wait()
    return 3 if timed_out else 0


def client(transport, target, timeout):
    ctxt = {"request_id": "req-oslo", "user_id": "u-oslo", "roles": ["reader"]}
    rpc = oslo_messaging.get_rpc_client(transport, target, timeout=timeout)
    out({"step": "echo", "result": rpc.call(ctxt, "echo", a=1, s="x", l=[1, None])})
    named = rpc.prepare(server=target.server)
    out({"step": "echo-server", "result": named.call(ctxt, "echo", b=2)})
    rpc.cast(ctxt, "note", n=3)
    out({"step": "cast"})
    try:
        rpc.call(ctxt, "fail", message="refused by vpmu")
        out({"step": "fail", "result": "no error"})
    except oslo_messaging.RemoteError as error:
        out({"step": "fail", **failure(error)})
    monitored = rpc.prepare(call_monitor_timeout=1)
    out({"step": "slow", "result": monitored.call(ctxt, "slow", ms=1600)})
    try:
        rpc.call(ctxt, "missing")
        out({"step": "missing", "result": "no error"})
    except oslo_messaging.RemoteError as error:
        out({"step": "missing", **failure(error)})
    return 0


def call(transport, target, timeout, method, kwargs):
    ctxt = {"request_id": "req-oslo", "user_id": "u-oslo", "roles": ["admin"]}
    rpc = oslo_messaging.get_rpc_client(transport, target, timeout=timeout)
    try:
        out({"result": rpc.call(ctxt, method, **kwargs)})
    except oslo_messaging.RemoteError as error:
        out(failure(error))
    return 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["server", "client", "call"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--exchange", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--server", required=True)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--method")
    parser.add_argument("--args", default="{}")
    args = parser.parse_args()

    conf = cfg.CONF  # the RPC client reads options registered on the global CONF (metrics)
    conf([], project="vpmu-test")
    transport = oslo_messaging.get_rpc_transport(conf, url=args.url)
    target = oslo_messaging.Target(
        exchange=args.exchange, topic=args.topic, server=args.server)
    try:
        if args.mode == "server":
            return serve(transport, target, args.timeout)
        if args.mode == "call":
            return call(transport, target, args.timeout, args.method, json.loads(args.args))
        return client(transport, target, args.timeout)
    finally:
        transport.cleanup()


if __name__ == "__main__":
    sys.exit(main())
