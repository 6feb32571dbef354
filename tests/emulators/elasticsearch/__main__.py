"""`python -m tests.emulators.elasticsearch --port 9200`: serve the emulator until stopped."""

from __future__ import annotations

import argparse
import signal
import threading

from . import ElasticsearchEmulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.emulators.elasticsearch")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9200, help="0 picks a free port")
    parser.add_argument("--api-key", action="append", default=[], help="accepted ApiKey value")
    parser.add_argument("--user", action="append", default=[], help="accepted USER:PASSWORD")
    parser.add_argument("--version", default="8.19.0", help="the version GET / reports")
    args = parser.parse_args(argv)
    users = dict(u.split(":", 1) for u in args.user)
    emulator = ElasticsearchEmulator(
        host=args.host,
        port=args.port,
        api_keys=frozenset(args.api_key),
        users=users,
        version=args.version,
    ).start()
    print(f"elasticsearch emulator listening on {emulator.url}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
