#!/usr/bin/python3
"""An unchanged oslo.messaging notification listener, for the RabbitMQ notifier test.

Listens on --topic (default versioned_notifications) on --exchange, and prints one JSON line per
notification received: {"priority", "publisher_id", "event_type", "payload", "message_id"}.
The executor pool has one thread, so endpoints run in delivery order (oslo's default of 64
threads may call them out of order). Prints "READY" on
stderr once consuming, and exits 0 after --count notifications, or 3 after --timeout seconds.
Run it with Debian's /usr/bin/python3 and python3-oslo.messaging.
"""
import argparse
import json
import sys
import threading

from oslo_config import cfg
import oslo_messaging


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--exchange", required=True)
    parser.add_argument("--topic", default="versioned_notifications")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()

    conf = cfg.ConfigOpts()
    conf([], project="vpmu-test")
    transport = oslo_messaging.get_notification_transport(conf, url=args.url)
    received = []
    done = threading.Event()
    lock = threading.Lock()

    class Endpoint:
        def _record(self, priority, publisher_id, event_type, payload, metadata):
            with lock:
                received.append(priority)
                line = {"priority": priority, "publisher_id": publisher_id,
                        "event_type": event_type, "payload": payload,
                        "message_id": metadata.get("message_id")}
                sys.stdout.write(json.dumps(line) + "\n")
                sys.stdout.flush()
                if len(received) >= args.count:
                    done.set()

        def info(self, ctxt, publisher_id, event_type, payload, metadata):
            self._record("info", publisher_id, event_type, payload, metadata)

        def error(self, ctxt, publisher_id, event_type, payload, metadata):
            self._record("error", publisher_id, event_type, payload, metadata)

    targets = [oslo_messaging.Target(topic=args.topic, exchange=args.exchange)]
    listener = oslo_messaging.get_notification_listener(
        transport, targets, [Endpoint()], executor="threading")
    conf.set_override("executor_thread_pool_size", 1)
    listener.start()
    sys.stderr.write("READY\n")
    sys.stderr.flush()
    ok = done.wait(args.timeout)
    listener.stop()
    listener.wait()
    transport.cleanup()
    return 0 if ok else 3


if __name__ == "__main__":
    sys.exit(main())
