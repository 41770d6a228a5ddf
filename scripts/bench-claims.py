#!/usr/bin/env python3
"""Objects per second of `trailpipe backfill` (or `run`) from S3 into an S3 lake when every
request takes a round trip (a local moto server behind a proxy that delays each request).

    cargo build --release -p trailpipe
    .venv/bin/python scripts/bench-claims.py --corpus-mb 60 --delay-ms 0,20
    .venv/bin/python scripts/bench-claims.py --corpus-mb 60 --delay-ms 0,20 --command run

With an S3 lake each object's rows are claimed with a conditional PUT before they are written
(docs/architecture.md, "Delivery guarantees: claims"), so the round trip, not the CPU, can
bound a process. moto answers `Connection: close`, so every request opens a connection, and
delaying the first bytes a client sends on a connection delays each request by that much (the
TCP handshake itself is not delayed). Every request goes through the proxy: listing, GETs of
the trail's objects, claims and commits. With `--baseline-bin` two builds run alternately on
the same corpus and server, and the report gives their ratio per delay. Figures are medians of
--runs runs; every run's lake is checked for the corpus's record count.
"""

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import boto3

from benchlib import free_port, start_moto

REPO = Path(__file__).resolve().parent.parent


class DelayProxy:
    """A TCP relay on 127.0.0.1 that holds the first bytes of every client connection back
    for `delay` seconds (settable while it runs)."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.delay = 0.0
        self.trace = None  # a list: (time, request line) of each request
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        threading.Thread(target=self._serve, args=(started,), daemon=True).start()
        started.wait()

    def _serve(self, started):
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._client, "127.0.0.1", self.port))
        started.set()
        self.loop.run_until_complete(server.serve_forever())

    async def _client(self, reader, writer):
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return

        async def pipe(src, dst, delay_first):
            try:
                first = True
                while True:
                    data = await src.read(65536)
                    if not data:
                        break
                    if first and delay_first and self.trace is not None:
                        line = data.split(b"\r\n", 1)[0].decode(errors="replace")
                        self.trace.append((time.monotonic(), line))
                    if first and delay_first and self.delay > 0:
                        await asyncio.sleep(self.delay)
                    first = False
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                try:
                    dst.close()
                except (ConnectionError, OSError):
                    pass

        await asyncio.gather(pipe(reader, up_w, True), pipe(up_r, writer, False))


def run_daemon(binary, env, sqs, keys, queue, lake, spool, summary_json):
    """`trailpipe run` over a new queue holding one notification per key, until every message
    was received; then SIGTERM, whose drain commits the files and deletes the rest. Exits if the
    daemon fails or leaves a message behind. Writes a summary of its metrics (claims, writer
    rounds) to `summary_json`."""
    url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    for i in range(0, len(keys), 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(j), "MessageBody": json.dumps({"s3Bucket": "trail", "s3ObjectKey": [k]})}
            for j, k in enumerate(keys[i:i + 10])])
    port = free_port()
    proc = subprocess.Popen(
        [binary, "run", "--queue-url", url, "--lake", lake, "--spool-dir", str(spool),
         "--drain-timeout-secs", "300", "--metrics-addr", f"127.0.0.1:{port}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while True:
        if proc.poll() is not None:
            sys.exit(f"daemon exited early: {proc.stderr.read().decode()[-2000:]}")
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages"])["Attributes"]
        if int(attrs["ApproximateNumberOfMessages"]) == 0:
            break
        time.sleep(0.1)
    metrics = {}
    try:
        import urllib.request
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
        for line in text.decode().splitlines():
            parts = line.split()
            if len(parts) == 2 and not line.startswith("#"):
                metrics[parts[0]] = float(parts[1])
    except OSError:
        pass
    proc.send_signal(signal.SIGTERM)
    if proc.wait(timeout=600) != 0:
        sys.exit(f"daemon failed: {proc.stderr.read().decode()[-2000:]}")
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    if any(int(v) for v in attrs.values()):
        sys.exit(f"messages left after the drain: {attrs}")
    # the claims made after the scrape (the drain's) are not counted: an approximation
    summary_json.write_text(json.dumps({
        "claims": metrics.get("trailpipe_claims_total"),
        "writer_rounds": metrics.get("trailpipe_writer_rounds_total"),
    }))


def lake_records(root):
    """Rows in the lake's Parquet files (a local copy), counted by DuckDB."""
    import duckdb
    files = [str(p) for p in Path(root).rglob("*.parquet")]
    if not files:
        return 0
    return duckdb.sql("select count(*) from read_parquet($files, union_by_name=true)",
                      params={"files": files}).fetchall()[0][0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=str(REPO / "target/release/trailpipe"))
    ap.add_argument("--baseline-bin", help="another build, run alternately with --bin")
    ap.add_argument("--corpus-mb", type=int, default=30)
    ap.add_argument("--delay-ms", default="0,20",
                    help="comma-separated delays added to every request")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--command", choices=["backfill", "run"], default="backfill",
                    help="backfill the bucket, or run the daemon over a queue holding one "
                         "notification per object (until it is drained)")
    ap.add_argument("--trace", type=Path,
                    help="write each run's requests (seconds from its start, request line) here")
    args = ap.parse_args()
    delays = [float(d) for d in args.delay_ms.split(",")]
    builds = [("this build", args.bin)]
    if args.baseline_bin:
        builds.append(("baseline", args.baseline_bin))

    work = Path(tempfile.mkdtemp(prefix="trailpipe-bench-claims-"))
    corpus = work / "corpus"
    subprocess.run(
        [args.bin, "synth", "--out", str(corpus), "--target-mb", str(args.corpus_mb),
         "--seed", str(args.seed)],
        check=True, stdout=subprocess.DEVNULL,
    )
    logs = sorted(p for p in corpus.rglob("*") if p.is_file())
    objects = sum(1 for p in logs if "CloudTrail-Digest" not in str(p))

    moto, port = start_moto()
    try:
        proxy = DelayProxy(port)
        kw = dict(endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
        s3 = boto3.client("s3", **kw)
        s3.create_bucket(Bucket="trail")
        s3.create_bucket(Bucket="lake")
        keys = []
        for p in logs:
            key = str(p.relative_to(corpus))
            s3.upload_file(str(p), "trail", key)
            if "CloudTrail-Digest" not in key:
                keys.append(key)
        sqs = boto3.client("sqs", **kw)
        env = dict(os.environ, AWS_ENDPOINT_URL=f"http://127.0.0.1:{proxy.port}",
                   AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                   AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
                   TRAILPIPE_S3_PATH_STYLE="true", TRAILPIPE_LOG="warn")

        results = {}  # (build, delay) -> [seconds]
        per_round = {}  # (build, delay) -> [claims per writer round]
        expected = None
        n = 0
        for _ in range(args.runs):
            for delay in delays:
                for name, binary in builds:
                    proxy.delay = delay / 1000
                    n += 1
                    prefix = f"run{n}"
                    proxy.trace = [] if args.trace else None
                    t0 = time.monotonic()
                    if args.command == "backfill":
                        out = subprocess.run(
                            [binary, "backfill", "s3://trail", "--lake", f"s3://lake/{prefix}",
                             "--spool-dir", str(work / "spool"),
                             "--summary-json", str(work / "summary.json")],
                            env=env, capture_output=True, text=True)
                        if out.returncode != 0:
                            sys.exit(f"{name}: backfill failed:\n{out.stderr[-3000:]}")
                    else:
                        run_daemon(binary, env, sqs, keys, f"q{n}", f"s3://lake/{prefix}",
                                   work / "spool", work / "summary.json")
                    wall = time.monotonic() - t0
                    if args.trace:
                        with args.trace.open("a") as f:
                            f.write(f"# {prefix}: {name}, {delay:.0f} ms, {wall:.2f} s\n")
                            for t, line in proxy.trace:
                                f.write(f"{t - t0:8.3f} {line}\n")
                    local = work / prefix
                    for page in s3.get_paginator("list_objects_v2").paginate(
                            Bucket="lake", Prefix=f"{prefix}/cloudtrail/"):
                        for o in page.get("Contents", []):
                            dest = local / o["Key"]
                            dest.parent.mkdir(parents=True, exist_ok=True)
                            s3.download_file("lake", o["Key"], str(dest))
                    rows = lake_records(local)
                    shutil.rmtree(local)
                    if expected is None:
                        expected = rows
                    if rows != expected or rows == 0:
                        sys.exit(f"{name} at {delay} ms: {rows} rows, expected {expected}")
                    results.setdefault((name, delay), []).append(wall)
                    summary = json.loads((work / "summary.json").read_text())
                    rounds = summary.get("writer_rounds")  # absent in older builds
                    if rounds:
                        per_round.setdefault((name, delay), []).append(
                            summary["claims"] / rounds)
                    print(f"  {name:11} {delay:5.0f} ms  {wall:6.2f} s", file=sys.stderr)

        print(f"corpus: {objects} log objects, {expected} records, {args.corpus_mb} MB of JSON "
              f"(synth --seed {args.seed}); medians of {args.runs} runs")
        print(f"{'build':12}{'delay ms':>9}{'wall s':>9}{'objects/s':>11}{'claims/round':>14}")
        for delay in delays:
            for name, _ in builds:
                wall = statistics.median(results[(name, delay)])
                pr = per_round.get((name, delay))
                pr = f"{statistics.median(pr):14.1f}" if pr else f"{'':>14}"
                print(f"{name:12}{delay:9.0f}{wall:9.2f}{objects / wall:11.1f}{pr}")
            if len(builds) == 2:
                a = statistics.median(results[(builds[0][0], delay)])
                b = statistics.median(results[(builds[1][0], delay)])
                print(f"{'':12}{delay:9.0f}  this build / baseline, wall: {a / b:.2f}x")
    finally:
        moto.kill()
        moto.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
