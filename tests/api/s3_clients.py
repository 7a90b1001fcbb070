"""The real aws CLI and boto3 against opendms's S3 API (a Server started by s3_e2e_test.cc).
Usage: s3_clients.py <endpoint> <access key> <secret> <work dir> <scenario>.
Exits 0 when the scenario's checks hold; otherwise prints what differed and exits 1."""
import concurrent.futures
from datetime import datetime, timedelta, timezone
import hashlib
import os
import subprocess
import sys
import urllib.request

import urllib3
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint, access_key, secret_key, work, scenario = sys.argv[1:6]
ENV = dict(os.environ, AWS_ACCESS_KEY_ID=access_key, AWS_SECRET_ACCESS_KEY=secret_key,
           AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null",
           AWS_SHARED_CREDENTIALS_FILE="/dev/null")


def check(cond, what):
    if not cond:
        print("FAILED:", what)
        sys.exit(1)


def aws(*args, ok=True):
    done = subprocess.run(["aws", "--endpoint-url", endpoint, *args], env=ENV,
                          capture_output=True, text=True)
    if ok:
        check(done.returncode == 0, f"aws {' '.join(args)} failed: {done.stdout}{done.stderr}")
    return done


def s3():
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                        config=Config(retries={"max_attempts": 1, "mode": "standard"},
                                      max_pool_connections=20))


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cli_basics():
    aws("s3", "mb", "s3://landing")
    check("landing" in aws("s3", "ls").stdout, "ls lists the bucket")
    write(f"{work}/sales/customers/LOAD00000001.csv", b"id,name\n1,foo\n")
    write(f"{work}/sales/orders/LOAD00000001.csv", b"id,total\n1,9.50\n")
    aws("s3", "cp", f"{work}/sales", "s3://landing/sales", "--recursive")
    listing = aws("s3", "ls", "s3://landing/sales/").stdout
    check("PRE customers/" in listing and "PRE orders/" in listing, f"ls prefixes: {listing}")
    recursive = aws("s3", "ls", "s3://landing", "--recursive").stdout
    check("sales/customers/LOAD00000001.csv" in recursive, f"recursive ls: {recursive}")
    aws("s3", "cp", "s3://landing/sales/customers/LOAD00000001.csv", f"{work}/down.csv")
    check(open(f"{work}/down.csv", "rb").read() == b"id,name\n1,foo\n", "downloaded bytes")
    head = s3().head_object(Bucket="landing", Key="sales/customers/LOAD00000001.csv")
    check(head["ContentType"] == "text/csv", f"content type guessed by the CLI: {head}")
    aws("s3", "mv", "s3://landing/sales/orders/LOAD00000001.csv", "s3://landing/moved.csv")
    check("moved.csv" in aws("s3", "ls", "s3://landing").stdout, "mv target")
    missing = aws("s3", "cp", "s3://landing/sales/orders/LOAD00000001.csv", f"{work}/x", ok=False)
    check(missing.returncode != 0 and "does not exist" in missing.stderr,
          f"404 HeadObject message: {missing.stderr}")
    not_empty = aws("s3", "rb", "s3://landing", ok=False)
    check(not_empty.returncode != 0 and "BucketNotEmpty" in not_empty.stderr,
          f"rb on a non-empty bucket: {not_empty.stderr}")
    aws("s3", "rm", "s3://landing/moved.csv")
    aws("s3", "rb", "s3://landing", "--force")
    check("landing" not in aws("s3", "ls").stdout, "bucket removed")


def cli_sync():
    aws("s3", "mb", "s3://syncb")
    for i in range(5):
        write(f"{work}/dir/f{i}.csv", f"row,{i}\n".encode())
    write(f"{work}/dir/sub/deep file+1.csv", b"deep\n")
    first = aws("s3", "sync", f"{work}/dir", "s3://syncb/p").stdout
    check(first.count("upload:") == 6, f"first sync uploads 6: {first}")
    second = aws("s3", "sync", f"{work}/dir", "s3://syncb/p").stdout
    check("upload:" not in second, f"second sync uploads nothing: {second}")
    os.remove(f"{work}/dir/f0.csv")
    third = aws("s3", "sync", f"{work}/dir", "s3://syncb/p", "--delete").stdout
    check("delete: s3://syncb/p/f0.csv" in third, f"--delete: {third}")
    keys = [o["Key"] for o in s3().list_objects_v2(Bucket="syncb")["Contents"]]
    check(sorted(keys) == sorted([f"p/f{i}.csv" for i in range(1, 5)] + ["p/sub/deep file+1.csv"]),
          f"keys after sync: {keys}")
    aws("s3", "rb", "s3://syncb", "--force")


def cli_big():
    aws("s3", "mb", "s3://big")
    path = f"{work}/big.bin"
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for i in range(100):
            f.write(hashlib.sha256(block + bytes([i])).digest() * 32768)
    aws("s3", "cp", path, "s3://big/data/big.bin")
    head = s3().head_object(Bucket="big", Key="data/big.bin")
    check(head["ContentLength"] == 100 << 20, f"size: {head}")
    check(head["ETag"].endswith('-13"'), f"multipart ETag of 13 parts of 8 MiB: {head['ETag']}")
    aws("s3", "cp", "s3://big/data/big.bin", f"{work}/back.bin")
    check(sha256_of(f"{work}/back.bin") == sha256_of(path), "downloaded copy matches")
    aws("s3", "rb", "s3://big", "--force")


def paging():
    client = s3()
    client.create_bucket(Bucket="many")
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: client.put_object(Bucket="many", Key=f"k/{i:05d}.csv", Body=b"x"),
                      range(1100)))
    lines = aws("s3", "ls", "s3://many", "--recursive").stdout.splitlines()
    check(len(lines) == 1100, f"aws s3 ls --recursive counts {len(lines)}")
    pages = list(client.get_paginator("list_objects_v2").paginate(Bucket="many"))
    keys = [o["Key"] for p in pages for o in p.get("Contents", [])]
    check(len(pages) == 2 and keys == [f"k/{i:05d}.csv" for i in range(1100)],
          f"paginator: {len(pages)} pages, {len(keys)} keys")
    aws("s3", "rb", "s3://many", "--force")


def boto3_calls():
    client = s3()
    client.create_bucket(Bucket="bkt3")
    odd = ["with space.csv", "plus+sign.csv", "per%cent.csv", "caf\u00e9/\u00fcnic\u00f8de.csv",
           "a+b c%2Fd.csv"]
    for key in odd:
        client.put_object(Bucket="bkt3", Key=key, Body=key.encode())
    listed = [o["Key"] for o in client.list_objects_v2(Bucket="bkt3")["Contents"]]
    check(sorted(listed) == sorted(odd), f"keys round-trip through encoding-type=url: {listed}")
    for key in odd:
        check(client.get_object(Bucket="bkt3", Key=key)["Body"].read() == key.encode(), key)
    cli_listing = aws("s3", "ls", "s3://bkt3", "--recursive").stdout
    check(all(k in cli_listing for k in odd), f"CLI listing: {cli_listing}")
    prefixes = client.list_objects_v2(Bucket="bkt3", Delimiter="/")["CommonPrefixes"]
    check(prefixes == [{"Prefix": "caf\u00e9/"}], f"common prefixes: {prefixes}")

    write(f"{work}/up.bin", os.urandom(9 << 20))  # over the 8 MiB threshold: multipart
    client.upload_file(f"{work}/up.bin", "bkt3", "up.bin")
    client.download_file("bkt3", "up.bin", f"{work}/down.bin")
    check(sha256_of(f"{work}/up.bin") == sha256_of(f"{work}/down.bin"), "upload/download_file")

    # boto3's default presigner for us-east-1 signs with SigV2 (AWSAccessKeyId/Signature/Expires);
    # odd keys check the canonical resource's encoding. A presigned PUT too.
    for key in odd:
        url = client.generate_presigned_url("get_object", Params={"Bucket": "bkt3", "Key": key})
        check("AWSAccessKeyId=" in url, url)
        check(urllib.request.urlopen(url).read() == key.encode(), f"SigV2 presigned GET {key!r}")
    url = client.generate_presigned_url("put_object", Params={"Bucket": "bkt3", "Key": "via-v2"})
    # (urllib3: urllib.request would add a Content-Type the URL did not sign.)
    put = urllib3.PoolManager().request("PUT", url, body=b"put through SigV2")
    check(put.status == 200, f"SigV2 presigned PUT: {put.status} {put.data!r}")
    check(client.get_object(Bucket="bkt3", Key="via-v2")["Body"].read() == b"put through SigV2",
          "SigV2 presigned PUT")
    client.delete_object(Bucket="bkt3", Key="via-v2")
    # SigV4 presigning asked for explicitly.
    presigner = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                             aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                             config=Config(signature_version="s3v4"))
    url = presigner.generate_presigned_url("get_object",
                                           Params={"Bucket": "bkt3", "Key": odd[0]})
    check(urllib.request.urlopen(url).read() == odd[0].encode(), "presigned GET")

    # The standard headers S3 keeps with an object: PutObject, CopyObject (COPY keeps them,
    # REPLACE takes the new ones), multipart (upload_file above the threshold), and `aws s3 cp`.
    kept = {"CacheControl": "max-age=60", "ContentDisposition": 'attachment; filename="r.csv"',
            "ContentEncoding": "identity", "ContentLanguage": "en"}
    expires = datetime(2026, 10, 21, 7, 28, tzinfo=timezone.utc)

    def headers_of(key):
        head = client.head_object(Bucket="bkt3", Key=key)
        return {k: head.get(k) for k in kept}, head.get("Expires")

    client.put_object(Bucket="bkt3", Key="h1", Body=b"x", Expires=expires, **kept)
    check(headers_of("h1") == (kept, expires), f"PutObject headers: {headers_of('h1')}")
    client.copy_object(Bucket="bkt3", Key="h2", CopySource={"Bucket": "bkt3", "Key": "h1"})
    check(headers_of("h2") == (kept, expires), f"CopyObject COPY: {headers_of('h2')}")
    client.copy_object(Bucket="bkt3", Key="h2", CopySource={"Bucket": "bkt3", "Key": "h1"},
                       MetadataDirective="REPLACE", CacheControl="no-store")
    check(client.head_object(Bucket="bkt3", Key="h2").get("CacheControl") == "no-store" and
          client.head_object(Bucket="bkt3", Key="h2").get("ContentLanguage") is None,
          "CopyObject REPLACE")
    client.upload_file(f"{work}/up.bin", "bkt3", "h3", ExtraArgs=dict(kept))
    check(headers_of("h3")[0] == kept, f"multipart headers: {headers_of('h3')}")
    aws("s3", "cp", f"{work}/up.bin", "s3://bkt3/h4", "--cache-control", "max-age=5",
        "--content-disposition", "inline")
    head = client.head_object(Bucket="bkt3", Key="h4")
    check(head.get("CacheControl") == "max-age=5" and head.get("ContentDisposition") == "inline",
          f"aws s3 cp headers: {head}")
    client.delete_objects(Bucket="bkt3", Delete={"Objects": [{"Key": f"h{i}"} for i in range(1, 5)]})

    # ListBuckets in pages (MaxBuckets + ContinuationToken, through boto3's paginator), by name.
    made = [f"page-{i}" for i in (3, 0, 4, 1, 2)]
    for name in made:
        client.create_bucket(Bucket=name)
    pages = list(client.get_paginator("list_buckets").paginate(Prefix="page-",
                                                               PaginationConfig={"PageSize": 2}))
    check([len(p["Buckets"]) for p in pages] == [2, 2, 1], f"ListBuckets pages: {pages}")
    check([b["Name"] for p in pages for b in p["Buckets"]] == sorted(made), f"pages: {pages}")
    check(client.list_buckets(BucketRegion="eu-west-3", Prefix="page-")["Buckets"] == [],
          "bucket-region filter")
    for name in made:
        client.delete_bucket(Bucket=name)

    # Conditional GET/HEAD, as S3 answers them (botocore raises 304 and 412 as ClientError).
    head = client.head_object(Bucket="bkt3", Key=odd[0])
    etag, modified = head["ETag"], head["LastModified"]
    check(client.get_object(Bucket="bkt3", Key=odd[0], IfMatch=etag)["Body"].read() ==
          odd[0].encode(), "If-Match with the ETag")
    for kwargs, status in [({"IfMatch": '"0123"'}, 412),
                           ({"IfUnmodifiedSince": modified - timedelta(days=1)}, 412),
                           ({"IfNoneMatch": etag}, 304),
                           ({"IfModifiedSince": modified}, 304),
                           ({"IfMatch": etag, "IfUnmodifiedSince": modified - timedelta(days=1)},
                            None),
                           ({"IfNoneMatch": '"0123"', "IfModifiedSince": modified}, None),
                           ({"IfModifiedSince": modified - timedelta(days=1)}, None)]:
        for call in (client.get_object, client.head_object):
            try:
                call(Bucket="bkt3", Key=odd[0], **kwargs)
                check(status is None, f"{call.__name__} {kwargs}: served, wanted {status}")
            except ClientError as e:
                got = e.response["ResponseMetadata"]["HTTPStatusCode"]
                check(got == status, f"{call.__name__} {kwargs}: {got}, wanted {status}")
                if status == 412 and call == client.get_object:
                    check(e.response["Error"]["Code"] == "PreconditionFailed", e.response)

    result = client.delete_objects(Bucket="bkt3", Delete={"Objects": [{"Key": k} for k in odd]})
    check(sorted(d["Key"] for d in result["Deleted"]) == sorted(odd), f"delete_objects: {result}")
    try:
        client.head_object(Bucket="bkt3", Key=odd[0])
        check(False, "head of a deleted key succeeded")
    except ClientError as e:
        check(e.response["Error"]["Code"] == "404", f"HeadObject 404: {e.response}")
    try:
        client.get_object(Bucket="bkt3", Key="a/../../escape")
        check(False, "a key with .. was served")
    except ClientError as e:
        # A key the store cannot hold names no object: a missing key, as on S3.
        check(e.response["Error"]["Code"] == "NoSuchKey", f"..: {e.response}")
    client.delete_object(Bucket="bkt3", Key="up.bin")
    client.delete_bucket(Bucket="bkt3")


{"cli_basics": cli_basics, "cli_sync": cli_sync, "cli_big": cli_big, "paging": paging,
 "boto3": boto3_calls}[scenario]()
