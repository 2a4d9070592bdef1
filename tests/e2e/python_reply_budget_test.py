#!/usr/bin/python3
"""Python's grpcio, with its default limits (4 MiB received), lists big series.

Issue 16: 40 series of about 390 KB each made ListSeries{page_size: 1000} a
15 MB reply that no default client accepts. Here ten such series (3.9 MB
together) are listed through a server at its default --max-reply-bytes: every
page must arrive, each series exactly once, with total_size right. A series
too large to come back in a reply of its own is refused when written.
"""
import argparse
import sys
import tempfile

import grpc

from aw_testlib import Checker, Server, generate

SERIES = 10
SEASONS = 99
EPISODES = 2000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--proto-dir", required=True)
    ap.add_argument("--wkt-dir", default="/usr/include")
    args = ap.parse_args()

    gen = tempfile.mkdtemp(prefix="aw-pygen-")
    pb = generate(gen, [args.proto_dir, args.wkt_dir], "aniworld/v1/anime_series.proto")

    server = Server(args.server)
    c = Checker()
    try:
        # No channel options: grpcio's defaults, as a new user would have them.
        channel = grpc.insecure_channel(server.target)
        server.wait_ready(channel)
        S = "/aniworld.v1.AnimeSeriesService/"
        create = channel.unary_unary(S + "CreateSeries",
                                     request_serializer=pb.CreateSeriesRequest.SerializeToString,
                                     response_deserializer=pb.AnimeSeries.FromString)
        list_series = channel.unary_unary(S + "ListSeries",
                                          request_serializer=pb.ListSeriesRequest.SerializeToString,
                                          response_deserializer=pb.ListSeriesResponse.FromString)

        created = set()
        for i in range(SERIES):
            s = pb.AnimeSeries(key=f"big-{i:02d}", name=f"Big {i}")
            for season in range(1, SEASONS + 1):
                s.episode_dict[season].episodes.extend(range(1, EPISODES + 1))
            created.add(create(pb.CreateSeriesRequest(series=s), timeout=30).id)
        c.check(len(created) == SERIES, f"{SERIES} series created")

        seen, pages, token = [], 0, ""
        while True:
            res = list_series(pb.ListSeriesRequest(page_size=1000, page_token=token), timeout=30)
            pages += 1
            c.check(len(res.series) >= 1, f"page {pages} holds at least one series")
            c.check(res.ByteSize() <= 3 * 1024 * 1024,
                    f"page {pages} is {res.ByteSize()} bytes, within the default budget")
            c.check(res.total_size == SERIES, f"page {pages}: total_size {res.total_size}")
            c.check(all(len(x.episode_dict) == SEASONS for x in res.series),
                    f"page {pages}: every series whole")
            seen.extend(x.id for x in res.series)
            token = res.next_page_token
            if not token or pages > SERIES:
                break
        c.check(pages > 1, f"the series came in {pages} pages")
        c.check(sorted(seen) == seen and set(seen) == created and len(seen) == SERIES,
                f"every series exactly once, in id order: {seen}")

        # Larger than a reply may be: refused, not stored.
        huge = pb.AnimeSeries(key="huge", name="Huge", description="d" * (3 * 1024 * 1024))
        c.status(lambda: create(pb.CreateSeriesRequest(series=huge), timeout=30),
                 grpc.StatusCode.INVALID_ARGUMENT, "reply", "CreateSeries larger than a reply")
        res = list_series(pb.ListSeriesRequest(page_size=1), timeout=30)
        c.check(res.total_size == SERIES, "the refused series was not stored")
        channel.close()
    finally:
        rc = server.stop()
        c.check(rc == 0, f"server exit code {rc}")
    return c.result("python_reply_budget_test")


if __name__ == "__main__":
    sys.exit(main())
