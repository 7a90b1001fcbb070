#!/usr/bin/env python3
"""Lands change objects for the lab's `orders` table in a bucket, as an application would, and
writes the table's expected final content (the model).

    cdc_writer.py --endpoint URL --bucket B --orders-dir DIR --objects N [--rate R]
                  [--changes C] --expected OUT.csv

The initial rows are read from DIR (the LOAD*.csv objects generate.py wrote). Each object
(sales/changes/CDC%08d.csv) holds C changes: new orders, status updates and deletes of existing
ones, drawn from a fixed seed, so two runs with the same arguments write the same bytes. A put that
fails (the server is down: a test killed it) is retried until it succeeds, for up to 120 s, so
the writer keeps going across a server restart; re-putting the same bytes is harmless (same
ETag). The model (order_id,customer_id,ordered_at,status,total; CSV, no header, sorted) is
written when every object has landed.
"""
import argparse
import csv
import glob
import os
import random
import sys
import time

import boto3
import botocore.config

ap = argparse.ArgumentParser()
ap.add_argument("--endpoint", required=True)
ap.add_argument("--bucket", required=True)
ap.add_argument("--orders-dir", required=True)
ap.add_argument("--objects", type=int, required=True)
ap.add_argument("--changes", type=int, default=40)
ap.add_argument("--rate", type=float, default=10.0, help="objects per second")
ap.add_argument("--expected", required=True)
ap.add_argument("--progress", help="file the count of landed objects is written to")
args = ap.parse_args()

rows = {}
for path in sorted(glob.glob(os.path.join(args.orders_dir, "LOAD*.csv"))):
    with open(path, newline="") as f:
        reader = csv.reader(f)
        next(reader)
        for r in reader:
            rows[int(r[0])] = r

s3 = boto3.client("s3", endpoint_url=args.endpoint, region_name="us-east-1",
                  config=botocore.config.Config(retries={"max_attempts": 1},
                                                connect_timeout=2, read_timeout=30))
rnd = random.Random(7)
next_id = max(rows) + 1
statuses = ["new", "paid", "shipped", "cancelled, refunded", "returned"]


def csv_line(fields):
    out = []
    for v in fields:
        s = str(v)
        if any(c in s for c in ',"\n'):
            s = '"' + s.replace('"', '""') + '"'
        out.append(s)
    return ",".join(out) + "\n"


def put(key, body):
    deadline = time.time() + 120
    while True:
        try:
            s3.put_object(Bucket=args.bucket, Key=key, Body=body)
            return
        except Exception as e:  # the server is down or restarting: try again
            if time.time() > deadline:
                raise SystemExit(f"cdc_writer: cannot put {key}: {e}")
            time.sleep(0.2)


start = time.time()
for n in range(1, args.objects + 1):
    lines = []
    for _ in range(args.changes):
        kind = rnd.random()
        if kind < 0.5 or not rows:
            r = [str(next_id), str(rnd.randint(1, 100)),
                 "2026-11-%02d %02d:%02d:%02d" % (rnd.randint(1, 29), rnd.randint(0, 23),
                                                 rnd.randint(0, 59), rnd.randint(0, 59)),
                 rnd.choice(statuses), "%d.%02d" % (rnd.randint(1, 900), rnd.randint(0, 99))]
            rows[next_id] = r
            next_id += 1
            lines.append(csv_line(["I", "orders", "public"] + r))
        elif kind < 0.85:
            key = rnd.choice(list(rows))
            r = list(rows[key])
            r[3] = rnd.choice(statuses)
            rows[key] = r
            lines.append(csv_line(["U", "orders", "public"] + r))
        else:
            key = rnd.choice(list(rows))
            lines.append(csv_line(["D", "orders", "public"] + rows.pop(key)))
    # The lab's endpoint has IgnoreHeaderRows 1, which applies to change objects too.
    put("sales/changes/CDC%08d.csv" % n,
        ("operation,table,schema,values\n" + "".join(lines)).encode())
    if args.progress:
        with open(args.progress + ".tmp", "w") as f:
            f.write(str(n))
        os.replace(args.progress + ".tmp", args.progress)
    delay = start + n / args.rate - time.time()
    if delay > 0:
        time.sleep(delay)

with open(args.expected, "w", newline="") as f:
    for key in sorted(rows):
        f.write(csv_line(rows[key]))
print(f"cdc_writer: {args.objects} objects, {len(rows)} orders expected", file=sys.stderr)
