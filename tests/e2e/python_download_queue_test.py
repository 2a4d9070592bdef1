#!/usr/bin/python3
"""End to end with Python's grpcio: the download queue and its WatchDownloads stream.

Starts the real server binary, then, through grpcio (an independent gRPC
implementation): opens a WatchDownloads stream and checks that its headers come
at once, before any event; walks an item through enqueue, claim, progress and
completion and checks that the stream carries each change in order; checks a
refused status change; checks provider and language (stored, filtered by
ClaimNextDownload and ListDownloads, refused when not printable ASCII) and
GetQueueSummary (counts and bytes, per series); and checks that SIGTERM with a stream still open ends
the stream with UNAVAILABLE and the server with exit code 0.

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
    ap.add_argument("--wkt-dir", default="/usr/include")
    args = ap.parse_args()

    gen = tempfile.mkdtemp(prefix="aw-pygen-")
    series_pb2 = generate(gen, [args.proto_dir, args.wkt_dir], "aniworld/v1/anime_series.proto")
    pb = generate(gen, [args.proto_dir, args.wkt_dir], "aniworld/v1/download_queue.proto")

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
        D = "aniworld.v1.DownloadQueueService"
        create_series = unary(S, "CreateSeries", series_pb2.CreateSeriesRequest,
                              series_pb2.AnimeSeries)
        enqueue = unary(D, "EnqueueDownload", pb.EnqueueDownloadRequest, pb.DownloadQueueItem)
        claim = unary(D, "ClaimNextDownload", pb.ClaimNextDownloadRequest,
                      pb.ClaimNextDownloadResponse)
        report = unary(D, "ReportProgress", pb.ReportProgressRequest, pb.DownloadQueueItem)
        complete = unary(D, "CompleteDownload", pb.CompleteDownloadRequest, pb.DownloadQueueItem)
        watch = channel.unary_stream(f"/{D}/WatchDownloads",
                                     request_serializer=pb.WatchDownloadsRequest.SerializeToString,
                                     response_deserializer=pb.DownloadEvent.FromString)

        series = create_series(series_pb2.CreateSeriesRequest(
            series=series_pb2.AnimeSeries(key="frieren", name="Frieren")), timeout=5)

        # The headers come before any event: the stream is in place.
        stream = watch(pb.WatchDownloadsRequest(series_id=series.id))
        stream.initial_metadata()
        c.check(True, "WatchDownloads headers arrive with no event")

        item = enqueue(pb.EnqueueDownloadRequest(item=pb.DownloadQueueItem(
            series_id=series.id, season=1, episode_number=1,
            priority=pb.DOWNLOAD_PRIORITY_HIGH, download_url="https://example.invalid/1")),
            timeout=5)
        c.check(item.status == pb.DOWNLOAD_STATUS_PENDING, "EnqueueDownload stores PENDING")
        got = claim(pb.ClaimNextDownloadRequest(), timeout=5)
        c.check(got.item.id == item.id and got.item.status == pb.DOWNLOAD_STATUS_DOWNLOADING,
                "ClaimNextDownload takes it")
        p = report(pb.ReportProgressRequest(id=item.id, downloaded_bytes=30, total_bytes=120,
                                            download_speed=10.0), timeout=5)
        c.check(p.progress_percent == 25.0, f"progress_percent 25, got {p.progress_percent}")
        done = complete(pb.CompleteDownloadRequest(id=item.id), timeout=5)
        c.check(done.status == pb.DOWNLOAD_STATUS_COMPLETED and done.progress_percent == 100.0,
                "CompleteDownload")
        c.status(lambda: complete(pb.CompleteDownloadRequest(id=item.id), timeout=5),
                 grpc.StatusCode.FAILED_PRECONDITION,
                 f"download {item.id} is COMPLETED; CompleteDownload needs DOWNLOADING",
                 "CompleteDownload twice")

        want = [(pb.DOWNLOAD_EVENT_TYPE_CREATED, pb.DOWNLOAD_STATUS_PENDING),
                (pb.DOWNLOAD_EVENT_TYPE_UPDATED, pb.DOWNLOAD_STATUS_DOWNLOADING),
                (pb.DOWNLOAD_EVENT_TYPE_UPDATED, pb.DOWNLOAD_STATUS_DOWNLOADING),
                (pb.DOWNLOAD_EVENT_TYPE_UPDATED, pb.DOWNLOAD_STATUS_COMPLETED)]
        seen = []
        for ev in stream:
            seen.append((ev.type, ev.item.status))
            if len(seen) == len(want):
                break
        c.check(seen == want, f"WatchDownloads events in order: {seen}")

        # SIGTERM with the stream still open: the server ends it and exits 0.
        rc = server.stop()
        server = None
        try:
            for _ in stream:
                pass
            c.check(False, "the stream ends with an error status at shutdown")
        except grpc.RpcError as e:
            c.check(e.code() == grpc.StatusCode.UNAVAILABLE and "shutting down" in e.details(),
                    f"stream ended at shutdown: {e.code()} {e.details()}")
        c.check(rc == 0, f"server exit code after SIGTERM with a watcher is {rc}")
        channel.close()

        # Provider, language and the summary, on a fresh server.
        server = Server(args.server)
        channel = grpc.insecure_channel(server.target)
        server.wait_ready(channel)
        create_series = unary(S, "CreateSeries", series_pb2.CreateSeriesRequest,
                              series_pb2.AnimeSeries)
        enqueue = unary(D, "EnqueueDownload", pb.EnqueueDownloadRequest, pb.DownloadQueueItem)
        claim = unary(D, "ClaimNextDownload", pb.ClaimNextDownloadRequest,
                      pb.ClaimNextDownloadResponse)
        report = unary(D, "ReportProgress", pb.ReportProgressRequest, pb.DownloadQueueItem)
        listq = unary(D, "ListDownloads", pb.ListDownloadsRequest, pb.ListDownloadsResponse)
        summary = unary(D, "GetQueueSummary", pb.GetQueueSummaryRequest,
                        pb.GetQueueSummaryResponse)
        s1 = create_series(series_pb2.CreateSeriesRequest(
            series=series_pb2.AnimeSeries(key="mushishi", name="Mushishi")), timeout=5)
        s2 = create_series(series_pb2.CreateSeriesRequest(
            series=series_pb2.AnimeSeries(key="monster", name="Monster")), timeout=5)
        voe = enqueue(pb.EnqueueDownloadRequest(item=pb.DownloadQueueItem(
            series_id=s1.id, season=1, episode_number=1, provider="voe", language="de")),
            timeout=5)
        c.check(voe.provider == "voe" and voe.language == "de" and voe.queue_position > 0,
                "EnqueueDownload stores provider, language and queue_position")
        vidoza = enqueue(pb.EnqueueDownloadRequest(item=pb.DownloadQueueItem(
            series_id=s1.id, season=1, episode_number=2, provider="vidoza",
            language="ja-sub")), timeout=5)
        enqueue(pb.EnqueueDownloadRequest(item=pb.DownloadQueueItem(
            series_id=s2.id, season=1, episode_number=1, provider="voe", language="de")),
            timeout=5)
        lst = listq(pb.ListDownloadsRequest(provider="vidoza"), timeout=5)
        c.check([i.id for i in lst.items] == [vidoza.id] and lst.total_size == 1,
                "ListDownloads filters by provider")
        lst = listq(pb.ListDownloadsRequest(language="de", series_id=s1.id), timeout=5)
        c.check([i.id for i in lst.items] == [voe.id], "ListDownloads filters by language")
        got = claim(pb.ClaimNextDownloadRequest(provider="vidoza", language="ja-sub"),
                    timeout=5)
        c.check(got.item.id == vidoza.id, "ClaimNextDownload takes the worker's provider")
        got = claim(pb.ClaimNextDownloadRequest(provider="vidoza"), timeout=5)
        c.check(not got.HasField("item"), "nothing left for that provider")
        report(pb.ReportProgressRequest(id=vidoza.id, downloaded_bytes=40, total_bytes=100),
               timeout=5)
        c.status(lambda: enqueue(pb.EnqueueDownloadRequest(item=pb.DownloadQueueItem(
            series_id=s1.id, season=1, episode_number=3, provider="vo\x1be")), timeout=5),
            grpc.StatusCode.INVALID_ARGUMENT, "item.provider must be printable ASCII",
            "a provider with an escape character")
        sm = summary(pb.GetQueueSummaryRequest(series_id=s1.id), timeout=5)
        c.check((sm.pending_count, sm.downloading_count, sm.total_count,
                 sm.downloaded_bytes, sm.total_bytes) == (1, 1, 2, 40, 100),
                f"GetQueueSummary of one series: {sm}")
        sm = summary(pb.GetQueueSummaryRequest(), timeout=5)
        c.check(sm.pending_count == 2 and sm.total_count == 3,
                f"GetQueueSummary of every series: {sm}")
        rc = server.stop()
        server = None
        c.check(rc == 0, f"second server exit code is {rc}")
        channel.close()
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(gen, ignore_errors=True)
    return c.result("python downloads")


if __name__ == "__main__":
    sys.exit(main())
