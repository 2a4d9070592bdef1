#!/usr/bin/python3
"""gRPC calls from outside the runtime root, for deploy/check/rootfs.sh.

Speaks to a server started in the root file system the Dockerfile describes, as
kubelet and a client would: grpc.health.v1 Check, and a write and a read of the
series service, in plaintext or TLS, with or without a bearer token. Each
action prints one line and exits 0 when it holds, 1 when it does not.

  grpc_probe.py --target 127.0.0.1:PORT [TLS options] ACTION

  ready                wait (bounded) until Health/Check("") answers SERVING
  roundtrip            CreateSeries, then GetSeries returns the same record
  unauthenticated      CreateSeries without a token gets UNAUTHENTICATED
  await-token TOKEN    wait (bounded) until calls with TOKEN are accepted
  refused-token TOKEN  calls with TOKEN get UNAUTHENTICATED

Message classes are generated with the system protoc (tests/e2e/aw_testlib.py),
into --gen-dir, which is reused between runs. Needs Debian's python3-grpcio,
which loads only in /usr/bin/python3.
"""
import argparse
import os
import sys
import time

import grpc

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(SRC, "tests", "e2e"))
from aw_testlib import generate  # noqa: E402

SERIES = "aniworld.v1.AnimeSeriesService"
WAIT_S = 30


def channel_for(args):
    if not args.ca:
        return grpc.insecure_channel(args.target)
    with open(args.ca, "rb") as f:
        root = f.read()
    key = chain = None
    if args.cert:
        with open(args.key, "rb") as f:
            key = f.read()
        with open(args.cert, "rb") as f:
            chain = f.read()
    creds = grpc.ssl_channel_credentials(root_certificates=root, private_key=key,
                                         certificate_chain=chain)
    return grpc.secure_channel(args.target, creds)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True)
    ap.add_argument("--gen-dir", required=True)
    ap.add_argument("--grpc-proto-dir", default="/usr/share/grpc-proto")
    ap.add_argument("--wkt-dir", default="/usr/include")
    ap.add_argument("--ca", help="CA file: speak TLS and trust this CA")
    ap.add_argument("--cert", help="client certificate (mutual TLS)")
    ap.add_argument("--key", help="client key (mutual TLS)")
    ap.add_argument("--token", help="bearer token for the series calls")
    ap.add_argument("action", choices=["ready", "roundtrip", "unauthenticated", "await-token",
                                       "refused-token"])
    ap.add_argument("value", nargs="?")
    args = ap.parse_args()

    health_pb2 = generate(args.gen_dir, [args.grpc_proto_dir], "grpc/health/v1/health.proto")
    series_pb2 = generate(args.gen_dir, [os.path.join(SRC, "proto"), args.wkt_dir],
                          "aniworld/v1/anime_series.proto")
    channel = channel_for(args)
    check = channel.unary_unary("/grpc.health.v1.Health/Check",
                                request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                                response_deserializer=health_pb2.HealthCheckResponse.FromString)
    create = channel.unary_unary(f"/{SERIES}/CreateSeries",
                                 request_serializer=series_pb2.CreateSeriesRequest.SerializeToString,
                                 response_deserializer=series_pb2.AnimeSeries.FromString)
    get = channel.unary_unary(f"/{SERIES}/GetSeries",
                              request_serializer=series_pb2.GetSeriesRequest.SerializeToString,
                              response_deserializer=series_pb2.AnimeSeries.FromString)

    def create_one(token):
        key = f"deploy-check-{os.getpid()}-{time.monotonic_ns()}"
        md = [("authorization", f"Bearer {token}")] if token else None
        req = series_pb2.CreateSeriesRequest(series=series_pb2.AnimeSeries(key=key, name="Deploy check"))
        return create(req, timeout=5, metadata=md), md

    def code_of(fn):
        try:
            fn()
            return grpc.StatusCode.OK
        except grpc.RpcError as e:
            return e.code()

    deadline = time.monotonic() + WAIT_S
    if args.action == "ready":
        last = None
        while time.monotonic() < deadline:
            try:
                reply = check(health_pb2.HealthCheckRequest(service=""), timeout=2)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    print(f"health: SERVING on {args.target}")
                    return 0
                last = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
            except grpc.RpcError as e:
                last = e.code().name
            time.sleep(0.1)
        print(f"health: not SERVING within {WAIT_S}s (last: {last})", file=sys.stderr)
        return 1
    if args.action == "roundtrip":
        made, md = create_one(args.token)
        got = get(series_pb2.GetSeriesRequest(id=made.id), timeout=5, metadata=md)
        if got != made:
            print("roundtrip: GetSeries differs from what CreateSeries returned", file=sys.stderr)
            return 1
        print(f"roundtrip: series {made.id} written and read back")
        return 0
    if args.action == "unauthenticated":
        code = code_of(lambda: create_one(None))
        if code != grpc.StatusCode.UNAUTHENTICATED:
            print(f"unauthenticated: a call without a token got {code.name}", file=sys.stderr)
            return 1
        print("unauthenticated: a call without a token is refused")
        return 0
    if args.action == "await-token":
        code = None
        while time.monotonic() < deadline:
            code = code_of(lambda: create_one(args.value))
            if code == grpc.StatusCode.OK:
                print("await-token: the token is accepted")
                return 0
            time.sleep(0.1)
        print(f"await-token: not accepted within {WAIT_S}s (last: {code.name})", file=sys.stderr)
        return 1
    code = code_of(lambda: create_one(args.value))
    if code != grpc.StatusCode.UNAUTHENTICATED:
        print(f"refused-token: a call with the token got {code.name}", file=sys.stderr)
        return 1
    print("refused-token: the token is refused")
    return 0


if __name__ == "__main__":
    sys.exit(main())
