#!/usr/bin/python3
"""Peak resident memory of the server while it serves big list pages (issue 16).

Creates SERIES series whose episode_dict holds 99 seasons of 2,000 episodes
(about 390 KB each on the wire) through gRPC, then lists them all with
page_size 1000, and reports how far the server's peak RSS rose while it
listed: VmHWM is reset (/proc/PID/clear_refs) after the creates, so the
figure is the listing's own peak above the resident memory before it.

It runs the server twice: with the default --max-reply-bytes (3 MiB), and
with a budget so large that the whole list is one page, which is how every
list was served before the budget existed. Run with Debian's /usr/bin/python3:

    bench/reply_budget.py --server build/server/aniworld-server --proto-dir proto
"""
import argparse
import os
import sys
import tempfile

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from aw_testlib import Server, generate  # noqa: E402

MIB = 1024 * 1024


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def run(binary, pb, series, budget):
    extra = ["--max-reply-bytes", str(budget)] if budget else []
    server = Server(binary, extra_args=extra)
    try:
        opts = [("grpc.max_receive_message_length", -1)]  # the one-page run needs it
        channel = grpc.insecure_channel(server.target, options=opts)
        server.wait_ready(channel)
        S = "/aniworld.v1.AnimeSeriesService/"
        create = channel.unary_unary(S + "CreateSeries",
                                     request_serializer=pb.CreateSeriesRequest.SerializeToString,
                                     response_deserializer=pb.AnimeSeries.FromString)
        list_series = channel.unary_unary(S + "ListSeries",
                                          request_serializer=pb.ListSeriesRequest.SerializeToString,
                                          response_deserializer=pb.ListSeriesResponse.FromString)
        for i in range(series):
            s = pb.AnimeSeries(key=f"big-{i:03d}", name=f"Big {i}")
            for season in range(1, 100):
                s.episode_dict[season].episodes.extend(range(1, 2001))
            create(pb.CreateSeriesRequest(series=s), timeout=60)
        pid = server.proc.pid
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")  # VmHWM := VmRSS
        before = status_kib(pid, "VmRSS")
        pages, largest, seen, token = 0, 0, 0, ""
        while True:
            res = list_series(pb.ListSeriesRequest(page_size=1000, page_token=token), timeout=120)
            pages += 1
            largest = max(largest, res.ByteSize())
            seen += len(res.series)
            token = res.next_page_token
            if not token:
                break
        peak = status_kib(pid, "VmHWM")
        channel.close()
        if seen != series:
            raise RuntimeError(f"listed {seen} of {series} series")
        return {"pages": pages, "largest": largest, "before": before, "peak": peak}
    finally:
        server.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--proto-dir", required=True)
    ap.add_argument("--wkt-dir", default="/usr/include")
    ap.add_argument("--series", type=int, default=40)
    args = ap.parse_args()

    gen = tempfile.mkdtemp(prefix="aw-pygen-")
    pb = generate(gen, [args.proto_dir, args.wkt_dir], "aniworld/v1/anime_series.proto")
    budgeted = run(args.server, pb, args.series, 0)
    one_page = run(args.server, pb, args.series, 1024 * MIB)

    print(f"{args.series} series of 99 seasons x 2,000 episodes, ListSeries page_size 1000, "
          f"one client")
    print(f"{'run':<28}{'pages':>6}{'largest reply':>15}{'RSS before':>12}{'peak':>10}"
          f"{'growth':>10}")
    for name, r in (("--max-reply-bytes 3 MiB", budgeted), ("one page (no budget)", one_page)):
        growth = (r["peak"] - r["before"]) / 1024
        print(f"{name:<28}{r['pages']:>6}{r['largest'] / MIB:>11.1f} MiB"
              f"{r['before'] / 1024:>8.1f} MiB{r['peak'] / 1024:>6.1f} MiB{growth:>6.1f} MiB")
    g_budget = (budgeted["peak"] - budgeted["before"]) / 1024
    g_page = (one_page["peak"] - one_page["before"]) / 1024
    print(f"growth with the budget / growth with one page: {g_budget / g_page:.2f}")
    print(f"growth with the budget / budget: {g_budget / 3:.2f}; "
          f"growth with one page / its reply: {g_page / (one_page['largest'] / MIB):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
