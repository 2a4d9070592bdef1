#!/usr/bin/python3
"""Time from exec to SERVING: starts the server on a database file, polls
grpc.health.v1.Health/Check until it answers SERVING, stops it. Prints the
median of several starts in milliseconds. Uses Debian's python3-grpcio; the
health messages are encoded by hand (one string field in, one enum out)."""
import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import time

import grpc


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    times = []
    for _ in range(args.runs):
        port = free_port()
        target = f"127.0.0.1:{port}"
        t0 = time.monotonic()
        proc = subprocess.Popen([args.server, "--listen", target, "--db", args.db,
                                 "--log-level", "warn"], stderr=subprocess.DEVNULL)
        serving = False
        while not serving and time.monotonic() - t0 < 30:
            # Wait for the port first: a gRPC channel that failed to connect
            # backs off for a second before trying again.
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            except OSError:
                time.sleep(0.0005)
                continue
            channel = grpc.insecure_channel(target)
            check = channel.unary_unary("/grpc.health.v1.Health/Check",
                                        request_serializer=lambda x: x,
                                        response_deserializer=lambda x: x)
            try:
                serving = check(b"", timeout=1) == b"\x08\x01"  # status: SERVING
            except grpc.RpcError:
                pass
            channel.close()
        elapsed = (time.monotonic() - t0) * 1000
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        if not serving:
            print("startup: never SERVING", file=sys.stderr)
            return 1
        times.append(elapsed)
    print(f"{statistics.median(times):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
