#!/usr/bin/python3
"""Server reflection, driven by an independent gRPC implementation (Python grpcio).

For both protocol versions (grpc.reflection.v1 and v1alpha) this test lists the
services, fetches the descriptors of every one of them over reflection alone
(no .proto files of the project on this side), builds a descriptor pool from
them, makes request messages for methods it learned only from reflection,
calls them and checks the replies. It also checks the protocol's error
answers: unknown symbols, files and extensions get an error_response with
NOT_FOUND and the stream goes on.
"""
import argparse
import os
import shutil
import sys
import tempfile

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from aw_testlib import Checker, Server, generate  # noqa: E402

NOT_FOUND = 5
INVALID_ARGUMENT = 3


class Reflection:
    """One reflection stream: send a request, read its one response."""

    def __init__(self, channel, pb, version):
        self.pb = pb
        self.requests = []
        method = f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo"
        self.call = channel.stream_stream(method,
                                          request_serializer=pb.ServerReflectionRequest.SerializeToString,
                                          response_deserializer=pb.ServerReflectionResponse.FromString)
        import queue
        self.queue = queue.Queue()
        self.responses = self.call(iter(self.queue.get, None), timeout=30)

    def ask(self, **kw):
        self.queue.put(self.pb.ServerReflectionRequest(host="", **kw))
        return next(self.responses)

    def close(self):
        self.queue.put(None)
        for _ in self.responses:
            pass


def files_of(resp):
    return [descriptor_pb2.FileDescriptorProto.FromString(b)
            for b in resp.file_descriptor_response.file_descriptor_proto]


def add_files(pool, files, added):
    """Adds FileDescriptorProtos to `pool` dependencies first."""
    pending = {f.name: f for f in files if f.name not in added}
    while pending:
        progress = False
        for name, f in list(pending.items()):
            if all(d in added for d in f.dependency):
                pool.Add(f)
                added.add(name)
                del pending[name]
                progress = True
        if not progress:
            raise RuntimeError(f"unresolved dependencies: {sorted(pending)}")


def run_version(c, channel, pb, version):
    r = Reflection(channel, pb, version)
    resp = r.ask(list_services="")
    services = sorted(s.name for s in resp.list_services_response.service)
    c.check("aniworld.v1.AnimeSeriesService" in services, f"{version}: series service listed: {services}")
    for expected in ("aniworld.admin.v1.AdminService", "grpc.health.v1.Health",
                     "grpc.reflection.v1.ServerReflection",
                     "grpc.reflection.v1alpha.ServerReflection"):
        c.check(expected in services, f"{version}: {expected} listed")

    # Every listed service's descriptors, transitively, from reflection alone.
    pool = descriptor_pool.DescriptorPool()
    added = set()
    for name in services:
        resp = r.ask(file_containing_symbol=name)
        c.check(resp.WhichOneof("message_response") == "file_descriptor_response",
                f"{version}: file_containing_symbol {name}")
        add_files(pool, files_of(resp), added)
    for name in services:
        c.check(pool.FindServiceByName(name) is not None, f"{version}: {name} in the pool")
    c.check("google/protobuf/timestamp.proto" in added, f"{version}: dependencies arrived")

    # Symbols of every kind resolve to their file.
    for symbol in ("aniworld.v1.AnimeSeriesService.CreateSeries", "aniworld.v1.AnimeSeries",
                   "aniworld.v1.AnimeSeries.EpisodeDictEntry", "aniworld.v1.AnimeSeries.key",
                   "grpc.health.v1.HealthCheckResponse.ServingStatus",
                   "grpc.health.v1.HealthCheckResponse.SERVING"):
        resp = r.ask(file_containing_symbol=symbol)
        files = files_of(resp)
        c.check(len(files) > 0, f"{version}: symbol {symbol} found")
    resp = r.ask(file_by_filename="google/protobuf/timestamp.proto")
    c.check([f.name for f in files_of(resp)] == ["google/protobuf/timestamp.proto"],
            f"{version}: file_by_filename")

    # Unknowns are answers on the stream, which goes on.
    for kw in ({"file_containing_symbol": "aniworld.v1.NoSuchThing"},
               {"file_by_filename": "no/such/file.proto"},
               {"file_containing_extension": pb.ExtensionRequest(containing_type="aniworld.v1.AnimeSeries",
                                                                 extension_number=100)},
               {"all_extension_numbers_of_type": "aniworld.v1.NoSuchType"}):
        resp = r.ask(**kw)
        c.check(resp.WhichOneof("message_response") == "error_response"
                and resp.error_response.error_code == NOT_FOUND, f"{version}: NOT_FOUND for {kw}")
    resp = r.ask(all_extension_numbers_of_type="aniworld.v1.AnimeSeries")
    c.check(resp.all_extension_numbers_response.base_type_name == "aniworld.v1.AnimeSeries"
            and len(resp.all_extension_numbers_response.extension_number) == 0,
            f"{version}: no extensions of a known type")
    # A response repeats its request: a huge one (a 3 MB symbol name) is
    # answered without it, so no response grows with the request (issue 16).
    resp = r.ask(file_containing_symbol="aniworld.v1." + "X" * (3 * 1024 * 1024))
    c.check(resp.WhichOneof("message_response") == "error_response"
            and resp.error_response.error_code == INVALID_ARGUMENT
            and resp.ByteSize() < 4096, f"{version}: a huge request gets a short error response")
    resp = r.ask(list_services="")
    c.check(len(resp.list_services_response.service) == len(services), f"{version}: stream still open")
    r.close()
    return pool


def call_from_reflection(c, channel, pool, key):
    """Calls CreateSeries and GetSeries with messages built from reflected descriptors."""
    svc = pool.FindServiceByName("aniworld.v1.AnimeSeriesService")
    factory = message_factory.MessageFactory(pool)

    def method(name):
        m = svc.methods_by_name[name]
        req_cls = factory.GetPrototype(m.input_type)
        resp_cls = factory.GetPrototype(m.output_type)
        return req_cls, resp_cls, channel.unary_unary(f"/{svc.full_name}/{m.name}",
                                                      request_serializer=req_cls.SerializeToString,
                                                      response_deserializer=resp_cls.FromString)

    req_cls, _, create = method("CreateSeries")
    req = req_cls()
    req.series.key = key
    req.series.name = "Learned from reflection"
    req.series.total_episodes = 3
    made = create(req, timeout=10)
    c.check(made.id > 0 and made.key == key and made.total_episodes == 3, "CreateSeries via reflection")
    req_cls, _, get = method("GetSeries")
    got = get(req_cls(id=made.id), timeout=10)
    c.check(got.name == "Learned from reflection", "GetSeries via reflection")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--grpc-proto-dir", required=True)
    args = ap.parse_args()

    gen = tempfile.mkdtemp(prefix="aw-pygen-")
    v1 = generate(gen, [args.grpc_proto_dir], "grpc/reflection/v1/reflection.proto")
    v1alpha = generate(gen, [args.grpc_proto_dir], "grpc/reflection/v1alpha/reflection.proto")
    server = Server(args.server)
    c = Checker()
    try:
        channel = grpc.insecure_channel(server.target)
        server.wait_ready(channel)
        for pb, version in ((v1, "v1"), (v1alpha, "v1alpha")):
            pool = run_version(c, channel, pb, version)
            call_from_reflection(c, channel, pool, f"reflected-{version}")
        channel.close()
    finally:
        rc = server.stop()
        shutil.rmtree(gen, ignore_errors=True)
    c.check(rc == 0, f"server exit code after SIGTERM is {rc}")
    return c.result("python reflection")


if __name__ == "__main__":
    sys.exit(main())
