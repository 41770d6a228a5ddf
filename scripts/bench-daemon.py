#!/usr/bin/env python3
"""CPU per MB of `trailpipe run` (SQS + S3 via a local moto server) against `trailpipe ingest`
on the same corpus, in one run.

    cargo build --release -p trailpipe
    .venv/bin/python scripts/bench-daemon.py --corpus-mb 200

Both write a local lake with default settings. The daemon is sent SIGTERM as soon as the
queue has no visible message left; its drain commits the rest and deletes every message (the
script checks the queue is empty), so the two write the same files and the daemon's idle
polling does not count. moto's own CPU is reported apart. Figures are medians of --runs runs.
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3

from benchlib import free_port, start_moto

REPO = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """user + system CPU seconds of a live process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def scrape(port):
    """The daemon's Prometheus metrics as {name: value} (unlabelled series only)."""
    import urllib.request
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and not line.startswith("#") and "{" not in parts[0]:
            out[parts[0]] = float(parts[1])
    return out


def files(root):
    return sorted(p for p in Path(root).rglob("*") if p.is_file())


def merge_logs(corpus, n):
    """Replaces every n log files of a folder by one object holding all their records."""
    import gzip
    for p in files(corpus):
        if "CloudTrail-Digest" in str(p):
            p.unlink()
    by_dir = {}
    for p in files(corpus):
        by_dir.setdefault(p.parent, []).append(p)
    for group in by_dir.values():
        for i in range(0, len(group), n):
            chunk = group[i:i + n]
            records = []
            for p in chunk:
                records += json.loads(gzip.decompress(p.read_bytes()))["Records"]
                p.unlink()
            chunk[0].write_bytes(gzip.compress(json.dumps({"Records": records}).encode(), 6))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=str(REPO / "target/release/trailpipe"))
    ap.add_argument("--corpus-mb", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--merge", type=int, default=1,
                    help="merge every N log files of one folder into one object (bigger "
                         "deliveries, as a busy account writes): separates the per-object "
                         "cost from the per-MB cost")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="trailpipe-bench-daemon-"))
    corpus = work / "corpus"
    subprocess.run(
        [args.bin, "synth", "--out", str(corpus), "--target-mb", str(args.corpus_mb),
         "--seed", str(args.seed)],
        check=True, stdout=subprocess.DEVNULL,
    )
    if args.merge > 1:
        merge_logs(corpus, args.merge)
    logs = [p for p in files(corpus) if "CloudTrail-Digest" not in str(p)]
    gz_bytes = sum(p.stat().st_size for p in logs)

    moto, port = start_moto()
    endpoint = f"http://127.0.0.1:{port}"
    env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing",
               AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1",
               AWS_EC2_METADATA_DISABLED="true", TRAILPIPE_S3_PATH_STYLE="true",
               TRAILPIPE_LOG="warn")
    try:
        kw = dict(endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
        s3, sqs = boto3.client("s3", **kw), boto3.client("sqs", **kw)
        s3.create_bucket(Bucket="trail")
        keys = []
        for p in logs:
            key = str(p.relative_to(corpus))
            s3.upload_file(str(p), "trail", key)
            keys.append(key)

        daemon, ingest, per_job = [], [], []
        for run in range(args.runs):
            url = sqs.create_queue(QueueName=f"q{run}")["QueueUrl"]
            for i in range(0, len(keys), 10):
                sqs.send_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(j), "MessageBody": json.dumps(
                        {"s3Bucket": "trail", "s3ObjectKey": [k]})}
                    for j, k in enumerate(keys[i:i + 10])])

            lake = work / f"lake-run{run}"
            moto_cpu0 = cpu_seconds(moto.pid)
            t0 = time.monotonic()
            mport = free_port()
            proc = subprocess.Popen(
                [args.bin, "run", "--queue-url", url, "--lake", str(lake),
                 "--drain-timeout-secs", "300", "--metrics-addr", f"127.0.0.1:{mport}"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )
            while True:
                # every message received: stop it; the drain commits and deletes the rest
                attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
                    "ApproximateNumberOfMessages"])
                if proc.poll() is not None:
                    sys.exit(f"daemon exited early: {proc.stderr.read().decode()[-2000:]}")
                if int(attrs["Attributes"]["ApproximateNumberOfMessages"]) == 0:
                    break
                time.sleep(0.2)
            # every object handed to the engine (its gzip bytes counted): how many decode
            # jobs they took (objects that arrive faster than they are decoded share one)
            jobs = None
            until = time.time() + 60
            while jobs is None and time.time() < until:
                try:
                    m = scrape(mport)
                    if m.get("trailpipe_bytes_in_total", 0) >= gz_bytes:
                        jobs = m["trailpipe_decode_jobs_total"]
                except OSError:
                    pass
                time.sleep(0.1)
            proc.send_signal(signal.SIGTERM)
            _, status, used = os.wait4(proc.pid, 0)
            proc.returncode = status
            wall = time.monotonic() - t0
            cpu = used.ru_utime + used.ru_stime
            moto_cpu = cpu_seconds(moto.pid) - moto_cpu0
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
                "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
            left = sum(int(v) for v in attrs["Attributes"].values())
            if status != 0 or left != 0:
                sys.exit(f"daemon status {status}, {left} messages left after the drain")
            daemon.append((wall, cpu, moto_cpu))
            if jobs:
                per_job.append(len(logs) / jobs)

            lake2 = work / f"lake-ingest{run}"
            t0 = time.monotonic()
            child = subprocess.Popen([args.bin, "ingest", str(corpus), "--lake", str(lake2),
                                      "--summary-json", str(work / "summary.json")],
                                     env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
            _, status, used = os.wait4(child.pid, 0)
            child.returncode = 0
            ingest.append((time.monotonic() - t0, used.ru_utime + used.ru_stime))
            if status != 0:
                sys.exit("ingest failed")
            for lk in (lake, lake2):
                shutil.rmtree(lk)

        # the same daemon on an empty queue for the same wall time: what waiting costs
        idle_url = sqs.create_queue(QueueName="idle")["QueueUrl"]
        wall_d = statistics.median(w for w, _, _ in daemon)
        proc = subprocess.Popen(
            [args.bin, "run", "--queue-url", idle_url, "--lake", str(work / "lake-idle"),
             "--metrics-addr", "127.0.0.1:0"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        time.sleep(wall_d)
        proc.send_signal(signal.SIGTERM)
        _, _, used = os.wait4(proc.pid, 0)
        idle_cpu = used.ru_utime + used.ru_stime

        summary = json.loads((work / "summary.json").read_text())
        json_mb = summary.get("json_bytes", 0) / 1e6
        print(f"corpus: {len(logs)} log objects, {gz_bytes / 1e6:.1f} MB gzip, "
              f"{json_mb:.1f} MB JSON, {summary.get('records')} records; {args.runs} runs")
        d_wall = statistics.median(w for w, _, _ in daemon)
        d_cpu = statistics.median(c for _, c, _ in daemon)
        m_cpu = statistics.median(m for _, _, m in daemon)
        i_cpu = statistics.median(c for _, c in ingest)
        i_wall = statistics.median(w for w, _ in ingest)
        print(f"{'':24}{'wall s':>9}{'CPU s':>9}{'CPU s/GB':>10}{'MB/s':>8}{'objects/s':>11}")
        for name, wall, cpu in (("trailpipe run (SQS+S3)", d_wall, d_cpu),
                                ("trailpipe ingest", i_wall, i_cpu)):
            print(f"{name:24}{wall:9.2f}{cpu:9.2f}{cpu / json_mb * 1000:10.2f}"
                  f"{json_mb / wall:8.1f}{len(logs) / wall:11.1f}")
        print(f"moto's own CPU during the daemon run: {m_cpu:.2f} s")
        if per_job:
            print(f"objects per decode job in the daemon: {statistics.median(per_job):.2f}")
        print(f"the daemon idle on an empty queue for {wall_d:.0f} s: {idle_cpu:.2f} s CPU")
        print(f"per object, daemon minus ingest: "
              f"{(d_cpu - i_cpu) / len(logs) * 1000:.2f} ms CPU")
        print(f"daemon CPU per MB / ingest CPU per MB: {d_cpu / i_cpu:.2f}x")
    finally:
        moto.kill()
        moto.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
