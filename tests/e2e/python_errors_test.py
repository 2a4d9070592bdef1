#!/usr/bin/python3
"""Error details and the server's log, read from a second language (Python grpcio).

The google.rpc message classes come from the server's own reflection, as
grpcurl gets them: no .proto file of google.rpc on this side. Checks, on the
real binary started with --log-format json:
  - every error status carries a google.rpc.Status in grpc-status-details-bin
    with the status's code and message, an ErrorInfo (reason, domain
    aniworld.v1, metadata), BadRequest naming every invalid field of the
    request, ResourceInfo for NOT_FOUND and ALREADY_EXISTS;
  - a key holding a newline and a fake timestamp comes back escaped from
    CreateSeries and GetSeriesByKey;
  - every line the server logged is one JSON object, a call's line holds time,
    level, message, method, code, duration, peer and request_id, and no line
    is the fake one.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

import grpc
from google.protobuf import descriptor_pool, message_factory

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from aw_testlib import Checker, Server, generate  # noqa: E402
from python_reflection_test import Reflection, add_files, files_of  # noqa: E402

FORGED_KEY = "\n2026-01-01T00:00:00Z INFO fake"
DETAILS_KEY = "grpc-status-details-bin"


def rpc_classes(channel, reflection_pb2):
    """google.rpc.Status and its details, from the server's reflection."""
    r = Reflection(channel, reflection_pb2, "v1")
    pool = descriptor_pool.DescriptorPool()
    added = set()
    for symbol in ("google.rpc.Status", "google.rpc.ErrorInfo"):
        resp = r.ask(file_containing_symbol=symbol)
        add_files(pool, files_of(resp), added)
    r.close()
    factory = message_factory.MessageFactory(pool)
    return {name: factory.GetPrototype(pool.FindMessageTypeByName("google.rpc." + name))
            for name in ("Status", "ErrorInfo", "BadRequest", "ResourceInfo", "RetryInfo")}


def details_of(rpc, err):
    """The Status of a failed call and its details by type name."""
    md = dict(err.trailing_metadata() or ())
    raw = md.get(DETAILS_KEY)
    if raw is None:
        return None, {}
    st = rpc["Status"].FromString(raw)
    found = {}
    for any_ in st.details:
        name = any_.type_url.rsplit("/", 1)[-1].rsplit(".", 1)[-1]
        if name in rpc:
            found[name] = rpc[name].FromString(any_.value)
    return st, found


def fail_with(fn):
    try:
        fn()
    except grpc.RpcError as e:
        return e
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--proto-dir", required=True)
    ap.add_argument("--grpc-proto-dir", required=True)
    ap.add_argument("--wkt-dir", default="/usr/include")
    args = ap.parse_args()

    gen = tempfile.mkdtemp(prefix="aw-pygen-")
    pb = generate(gen, [args.proto_dir, args.wkt_dir], "aniworld/v1/anime_series.proto")
    refl = generate(gen, [args.grpc_proto_dir], "grpc/reflection/v1/reflection.proto")

    server = Server(args.server, ["--log-format", "json", "--log-level", "info"])
    c = Checker()
    try:
        channel = grpc.insecure_channel(server.target)
        server.wait_ready(channel)
        rpc = rpc_classes(channel, refl)

        S = "aniworld.v1.AnimeSeriesService"

        def unary(method, req_cls):
            return channel.unary_unary(f"/{S}/{method}", request_serializer=req_cls.SerializeToString,
                                       response_deserializer=pb.AnimeSeries.FromString)
        create = unary("CreateSeries", pb.CreateSeriesRequest)
        get = unary("GetSeries", pb.GetSeriesRequest)
        get_by_key = unary("GetSeriesByKey", pb.GetSeriesByKeyRequest)

        # INVALID_ARGUMENT: every invalid field in BadRequest.
        e = fail_with(lambda: create(pb.CreateSeriesRequest(
            series=pb.AnimeSeries(key="", name="", total_episodes=-2)), timeout=10))
        c.check(e is not None and e.code() == grpc.StatusCode.INVALID_ARGUMENT, "invalid create refused")
        st, d = details_of(rpc, e)
        c.check(st is not None and st.code == 3 and st.message == e.details(),
                f"Status matches the call's status: {st}")
        info = d.get("ErrorInfo")
        c.check(info is not None and info.reason == "INVALID_ARGUMENT" and info.domain == "aniworld.v1"
                and info.metadata.get("invalid_fields") == "3", f"ErrorInfo: {info}")
        fields = sorted(v.field for v in d["BadRequest"].field_violations) if "BadRequest" in d else []
        c.check(fields == ["series.key", "series.name", "series.total_episodes"],
                f"every violated field: {fields}")

        # NOT_FOUND: reason, metadata and the resource.
        e = fail_with(lambda: get(pb.GetSeriesRequest(id=777), timeout=10))
        st, d = details_of(rpc, e)
        c.check(e.code() == grpc.StatusCode.NOT_FOUND and d["ErrorInfo"].reason == "SERIES_NOT_FOUND"
                and d["ErrorInfo"].metadata.get("id") == "777", f"SERIES_NOT_FOUND: {d}")
        res = d.get("ResourceInfo")
        c.check(res is not None and res.resource_type == "aniworld.v1.AnimeSeries"
                and res.resource_name == "777", f"ResourceInfo: {res}")
        c.check("RetryInfo" not in d, "no RetryInfo for NOT_FOUND")

        # ALREADY_EXISTS.
        create(pb.CreateSeriesRequest(series=pb.AnimeSeries(key="py-dup", name="x")), timeout=10)
        e = fail_with(lambda: create(pb.CreateSeriesRequest(series=pb.AnimeSeries(key="py-dup", name="x")),
                                     timeout=10))
        st, d = details_of(rpc, e)
        c.check(e.code() == grpc.StatusCode.ALREADY_EXISTS and d["ErrorInfo"].reason == "SERIES_KEY_TAKEN"
                and d["ResourceInfo"].resource_name == "py-dup", f"SERIES_KEY_TAKEN: {d}")

        # The forged key comes back escaped from both calls.
        for what, fn in (("CreateSeries", lambda: create(pb.CreateSeriesRequest(
                              series=pb.AnimeSeries(key=FORGED_KEY, name="forged")), timeout=10)),
                         ("GetSeriesByKey", lambda: get_by_key(pb.GetSeriesByKeyRequest(key=FORGED_KEY),
                                                               timeout=10))):
            e = fail_with(fn)
            c.check(e is not None and e.code() == grpc.StatusCode.INVALID_ARGUMENT, f"{what}: refused")
            text = e.details() or ""
            c.check("\n" not in text and "\\n2026-01-01T00:00:00Z INFO fake" in text,
                    f"{what}: escaped in the message: {text!r}")
            st, d = details_of(rpc, e)
            c.check(st is not None and "\n" not in st.message, f"{what}: escaped in Status.message")
        channel.close()
    finally:
        rc = server.stop()
        shutil.rmtree(gen, ignore_errors=True)
    c.check(rc == 0, f"server exit status {rc}")

    # The log: one JSON object a line, call lines whole, nothing forged.
    lines = [ln for ln in server.log_text.split("\n") if ln]
    calls = 0
    for ln in lines:
        try:
            obj = json.loads(ln)
        except ValueError:
            c.check(False, f"not a JSON line: {ln!r}")
            continue
        c.check(isinstance(obj, dict) and {"time", "level", "message"} <= obj.keys(), f"base fields: {ln}")
        if "method" in obj:
            calls += 1
            missing = {"time", "level", "message", "method", "code", "duration", "peer",
                       "request_id"} - obj.keys()
            c.check(not missing, f"call line lacks {missing}: {ln}")
            c.check(obj["duration"].endswith("s") and obj["peer"].startswith("ipv4:127.0.0.1:"),
                    f"duration and peer: {ln}")
        c.check(not ln.startswith("2026-01-01T00:00:00Z"), f"a forged line: {ln!r}")
    c.check(calls >= 6, f"a line per call: {calls}")
    c.check(any(json.loads(ln).get("code") == "NOT_FOUND" for ln in lines), "NOT_FOUND logged")
    c.check(any("\\n2026-01-01T00:00:00Z INFO fake" in json.loads(ln).get("status_message", "")
                for ln in lines), "the forged key logged escaped, inside a JSON string")
    return c.result("python errors")


if __name__ == "__main__":
    sys.exit(main())
