#!/usr/bin/python3
"""End to end with an independent gRPC implementation: Python's grpcio.

Starts the real server binary on a free loopback port and a fresh database,
generates Python message classes from the project's .proto files with the
system protoc, and calls every method of the served services through grpcio,
checking replies and status codes. The server must then stop cleanly on
SIGTERM (exit 0; under the sanitizer build that includes no leak report).

Run by ctest; needs Debian's python3-grpcio and python3-protobuf, which load
only in /usr/bin/python3.
"""
import argparse
import os
import shutil
import sys
import tempfile

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from aw_testlib import Checker, Server, generate  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--proto-dir", required=True)
    ap.add_argument("--grpc-proto-dir", required=True)
    ap.add_argument("--wkt-dir", default="/usr/include")
    args = ap.parse_args()

    gen = tempfile.mkdtemp(prefix="aw-pygen-")
    series_pb2 = generate(gen, [args.proto_dir, args.wkt_dir], "aniworld/v1/anime_series.proto")
    health_pb2 = generate(gen, [args.grpc_proto_dir], "grpc/health/v1/health.proto")
    from google.protobuf import empty_pb2, field_mask_pb2

    server = Server(args.server)
    c = Checker()
    try:
        channel = grpc.insecure_channel(server.target)
        server.wait_ready(channel)

        def unary(service, method, req_cls, resp_cls):
            return channel.unary_unary(f"/{service}/{method}",
                                       request_serializer=req_cls.SerializeToString,
                                       response_deserializer=resp_cls.FromString)

        S = "aniworld.v1.AnimeSeriesService"
        pb = series_pb2
        create = unary(S, "CreateSeries", pb.CreateSeriesRequest, pb.AnimeSeries)
        get = unary(S, "GetSeries", pb.GetSeriesRequest, pb.AnimeSeries)
        get_by_key = unary(S, "GetSeriesByKey", pb.GetSeriesByKeyRequest, pb.AnimeSeries)
        list_ = unary(S, "ListSeries", pb.ListSeriesRequest, pb.ListSeriesResponse)
        update = unary(S, "UpdateSeries", pb.UpdateSeriesRequest, pb.AnimeSeries)
        delete = unary(S, "DeleteSeries", pb.DeleteSeriesRequest, empty_pb2.Empty)
        check = unary("grpc.health.v1.Health", "Check", health_pb2.HealthCheckRequest,
                      health_pb2.HealthCheckResponse)

        h = check(health_pb2.HealthCheckRequest(service=S), timeout=5)
        c.check(h.status == health_pb2.HealthCheckResponse.SERVING, "health SERVING")

        s = pb.AnimeSeries(key="frieren", name="Frieren", site="aniworld.to", total_episodes=28,
                           description="Beyond journey's end")
        s.episode_dict[1].episodes.extend([1, 2, 3])
        s.episode_dict[2].episodes.extend([1])
        made = create(pb.CreateSeriesRequest(series=s), timeout=5)
        c.check(made.id > 0 and made.key == "frieren", "CreateSeries echoes the series")
        c.check(made.created_at.seconds > 0 and made.updated_at == made.created_at, "timestamps set")
        c.check(list(made.episode_dict[1].episodes) == [1, 2, 3], "episode_dict stored")

        got = get(pb.GetSeriesRequest(id=made.id), timeout=5)
        c.check(got == made, "GetSeries returns what was created")
        got = get_by_key(pb.GetSeriesByKeyRequest(key="frieren"), timeout=5)
        c.check(got.id == made.id, "GetSeriesByKey")

        for i in range(7):
            create(pb.CreateSeriesRequest(series=pb.AnimeSeries(key=f"py-{i}", name=f"Py {i}")), timeout=5)
        ids, token = [], ""
        while True:
            page = list_(pb.ListSeriesRequest(page_size=3, page_token=token), timeout=5)
            c.check(page.total_size == 8, "ListSeries total_size")
            ids += [x.id for x in page.series]
            token = page.next_page_token
            if not token:
                break
        c.check(ids == sorted(ids) and len(ids) == 8, "ListSeries pages in id order")
        page = list_(pb.ListSeriesRequest(name_contains="FRIER"), timeout=5)
        c.check([x.key for x in page.series] == ["frieren"], "ListSeries name filter")

        upd = update(pb.UpdateSeriesRequest(series=pb.AnimeSeries(id=made.id, status="finished"),
                                            update_mask=field_mask_pb2.FieldMask(paths=["status"])),
                     timeout=5)
        c.check(upd.status == "finished" and upd.name == "Frieren", "UpdateSeries with a mask")
        c.check(upd.created_at == made.created_at, "created_at does not move")
        c.check((upd.updated_at.seconds, upd.updated_at.nanos) >
                (made.updated_at.seconds, made.updated_at.nanos), "updated_at moves")

        delete(pb.DeleteSeriesRequest(id=made.id), timeout=5)

        SC = grpc.StatusCode
        c.status(lambda: get(pb.GetSeriesRequest(id=made.id), timeout=5), SC.NOT_FOUND, str(made.id),
                 "GetSeries after delete")
        c.status(lambda: get_by_key(pb.GetSeriesByKeyRequest(key="nope"), timeout=5), SC.NOT_FOUND,
                 "nope", "GetSeriesByKey missing")
        c.status(lambda: create(pb.CreateSeriesRequest(series=pb.AnimeSeries(key="py-1", name="x")),
                                timeout=5), SC.ALREADY_EXISTS, "py-1", "duplicate key")
        c.status(lambda: create(pb.CreateSeriesRequest(series=pb.AnimeSeries(name="x")), timeout=5),
                 SC.INVALID_ARGUMENT, "series.key", "empty key")
        c.status(lambda: create(pb.CreateSeriesRequest(series=pb.AnimeSeries(key="k", name="x",
                                                                             total_episodes=-1)),
                                timeout=5), SC.INVALID_ARGUMENT, "total_episodes", "negative total")
        c.status(lambda: list_(pb.ListSeriesRequest(page_size=-1), timeout=5), SC.INVALID_ARGUMENT,
                 "page_size", "negative page_size")
        c.status(lambda: list_(pb.ListSeriesRequest(page_token="zzz"), timeout=5), SC.INVALID_ARGUMENT,
                 "page_token", "bad page token")
        c.status(lambda: update(pb.UpdateSeriesRequest(
            series=pb.AnimeSeries(id=ids[1], name="y"),
            update_mask=field_mask_pb2.FieldMask(paths=["updated_at"])), timeout=5),
            SC.INVALID_ARGUMENT, "updated_at", "output-only mask path")
        c.status(lambda: delete(pb.DeleteSeriesRequest(id=made.id), timeout=5), SC.NOT_FOUND, None,
                 "DeleteSeries twice")
        c.status(lambda: check(health_pb2.HealthCheckRequest(service="x.Y"), timeout=5), SC.NOT_FOUND,
                 None, "health of an unknown service")
        c.status(lambda: unary(S, "Nope", pb.GetSeriesRequest, pb.AnimeSeries)(
            pb.GetSeriesRequest(id=1), timeout=5), SC.UNIMPLEMENTED, None, "unknown method")

        # Safe retries (AIP-155) from a second language: a repeat of a request_id
        # gets the first answer; the same request_id with another request is refused.
        once = pb.CreateSeriesRequest(series=pb.AnimeSeries(key="py-once", name="Once"),
                                      request_id="3f0c2a4e-9a1b-4c55-8e0f-7d2b1a6c9e01")
        first = create(once, timeout=5)
        again = create(once, timeout=5)
        c.check(again.id == first.id and again.etag == first.etag,
                "CreateSeries repeated with its request_id answers the first series")
        page = list_(pb.ListSeriesRequest(name_contains="Once"), timeout=5)
        c.check(page.total_size == 1, "the repeat created nothing")
        other = pb.CreateSeriesRequest(series=pb.AnimeSeries(key="py-other", name="Other"),
                                       request_id=once.request_id)
        c.status(lambda: create(other, timeout=5), SC.INVALID_ARGUMENT, "request_id",
                 "request_id reused for another request")
        c.status(lambda: create(pb.CreateSeriesRequest(series=pb.AnimeSeries(key="py-x", name="x"),
                                                       request_id="x" * 65), timeout=5),
                 SC.INVALID_ARGUMENT, "request_id", "request_id too long")

        # Concurrency control (AIP-154): the etag read makes a write conditional.
        c.check(first.etag != "", "AnimeSeries carries an etag")
        upd = update(pb.UpdateSeriesRequest(series=pb.AnimeSeries(id=first.id, status="airing",
                                                                  etag=first.etag),
                                            update_mask=field_mask_pb2.FieldMask(paths=["status"])),
                     timeout=5)
        c.check(upd.etag != first.etag, "an update moves the etag")
        c.status(lambda: update(pb.UpdateSeriesRequest(
            series=pb.AnimeSeries(id=first.id, status="stale", etag=first.etag),
            update_mask=field_mask_pb2.FieldMask(paths=["status"])), timeout=5),
            SC.ABORTED, "changed since it was read", "update with a stale etag")
        c.status(lambda: delete(pb.DeleteSeriesRequest(id=first.id, etag=first.etag), timeout=5),
                 SC.ABORTED, f"series {first.id}", "delete with a stale etag")
        delete(pb.DeleteSeriesRequest(id=first.id, etag=upd.etag), timeout=5)
        c.status(lambda: get(pb.GetSeriesRequest(id=first.id), timeout=5), SC.NOT_FOUND, None,
                 "deleted with the current etag")
        channel.close()
    finally:
        rc = server.stop()
        shutil.rmtree(gen, ignore_errors=True)
    c.check(rc == 0, f"server exit code after SIGTERM is {rc}")
    return c.result("python client")


if __name__ == "__main__":
    sys.exit(main())
