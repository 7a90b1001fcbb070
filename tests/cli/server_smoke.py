"""Talks to a running `opendms server` the way its banner tells a user to: the shared
credentials file and profile it wrote. Usage: server_smoke.py <endpoint>.
A signed ListBuckets succeeds (the signature verified: the bucket list comes back); the same
request signed with the wrong secret gets 403 SignatureDoesNotMatch."""
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint = sys.argv[1]
config = Config(retries={"max_attempts": 1, "mode": "standard"})


def error_of(call):
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    return None


s3 = boto3.Session().client("s3", endpoint_url=endpoint, config=config)
got = error_of(s3.list_buckets)
assert got is None, got
assert "Buckets" in s3.list_buckets(), "ListBuckets answered without a bucket list"
bad = boto3.client("s3", endpoint_url=endpoint, config=config, region_name="us-east-1",
                   aws_access_key_id=boto3.Session().get_credentials().access_key,
                   aws_secret_access_key="not-the-secret")
got = error_of(bad.list_buckets)
assert got == ("SignatureDoesNotMatch", 403), got
print("ok")
