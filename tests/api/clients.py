"""Real AWS clients (boto3/botocore, urllib) against an opendms api Server started by
server_test.cc. Usage: clients.py <endpoint> <access key> <secret> <scenario>.
Exits 0 when the scenario's checks hold; otherwise prints what differed and exits 1."""
import json
import sys
import time
import urllib.error
import urllib.request

import boto3
import botocore.httpchecksum
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint, access_key, secret_key, scenario = sys.argv[1:5]
NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})


def client(service, key=access_key, secret=secret_key, config=NO_RETRIES):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret, config=config)


def check(cond, what):
    if not cond:
        print("FAILED:", what)
        sys.exit(1)


def expect_error(call, code, status):
    try:
        call()
    except ClientError as e:
        got_code = e.response["Error"]["Code"]
        got_status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        check(got_code == code and got_status == status,
              f"expected {code}/{status}, got {got_code}/{got_status}: {e.response}")
        return e.response
    check(False, f"expected {code}, the call succeeded")


def http(method, url, body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def json_ok():
    sm = client("secretsmanager")
    out = sm.list_secrets(MaxResults=7, NextToken="page-2")
    check(out["NextToken"] == "echo:page-2", out)
    names = {s["Name"]: s["Description"] for s in out["SecretList"]}
    check(names["max-results"] == "7", names)
    check(names["region"] == "us-east-1", names)
    check(names["account"] == "000000000000", names)
    check(names["access-key"] == access_key, names)
    check(names["request-id"] == out["ResponseMetadata"]["RequestId"], (names, out))
    check(len(out["ResponseMetadata"]["RequestId"]) == 36, out["ResponseMetadata"])
    value = sm.get_secret_value(SecretId="db")
    check(value["SecretString"] == "value-of-db", value)
    err = expect_error(lambda: sm.get_secret_value(SecretId="missing"),
                       "ResourceNotFoundException", 400)
    check("missing" in err["Error"]["Message"], err)
    # A large body goes through the buffered path whole.
    big = "x" * 300000
    value = sm.get_secret_value(SecretId=big)
    check(value["SecretString"] == "value-of-" + big, len(value["SecretString"]))
    # An unregistered prefix (SSM): UnknownOperationException, 400.
    expect_error(lambda: client("ssm").get_parameter(Name="/a"), "UnknownOperationException", 400)


def json_wrong_secret():
    sm = client("secretsmanager", secret=secret_key[:-1] + ("A" if secret_key[-1] != "A" else "B"))
    err = expect_error(lambda: sm.list_secrets(), "InvalidSignatureException", 403)
    check(secret_key not in json.dumps(err, default=str), "the secret leaked into the error")


def json_unknown_key():
    sm = client("secretsmanager", key="AKIAUNKNOWNKEY000000")
    expect_error(lambda: sm.list_secrets(), "UnrecognizedClientException", 403)


def json_unsigned():
    status, headers, body = http("POST", endpoint + "/", b"{}", {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "secretsmanager.ListSecrets"})
    check(status == 403, (status, body))
    doc = json.loads(body)
    check(doc["__type"] == "MissingAuthenticationTokenException", doc)
    check(doc["message"], doc)
    check(len(headers.get("x-amzn-RequestId", "")) == 36, headers)


def s3_get():
    s3 = client("s3")
    out = s3.get_object(Bucket="bucket", Key="dir/sp ace+plus.csv")
    check(out["Body"].read() == b"hello /bucket/dir/sp ace+plus.csv", out)
    h = out["ResponseMetadata"]["HTTPHeaders"]
    check(h["x-test-raw-path"] == "/bucket/dir/sp%20ace%2Bplus.csv", h)
    check(len(h["x-amz-request-id"]) == 16 and h["x-amz-id-2"], h)
    out = s3.head_object(Bucket="bucket", Key="sized")
    check(out["ContentLength"] == 1234, out)
    err = expect_error(lambda: s3.get_object(Bucket="bucket", Key="notfound"), "NoSuchKey", 404)
    check(err["Error"].get("Key") == "notfound", err)
    # A streamed (body_source) response.
    out = s3.get_object(Bucket="bucket", Key="stream")
    data = out["Body"].read()
    check(len(data) == 3 * 1024 * 1024 and data[:10] == bytes(range(10)), len(data))
    # list_objects_v2 with a query string that must be signed in canonical order.
    out = s3.list_objects_v2(Bucket="bucket", Prefix="dir/", Delimiter="/")
    h = out["ResponseMetadata"]["HTTPHeaders"]
    check("prefix=dir/" in h["x-test-query"] and "list-type=2" in h["x-test-query"], h)


def s3_put():
    s3 = client("s3")
    body = bytes(range(256)) * 400
    out = s3.put_object(Bucket="bucket", Key="up/obj", Body=body)
    h = out["ResponseMetadata"]["HTTPHeaders"]
    check(h["x-test-bytes"] == str(len(body)), h)
    check(h["x-test-payload-length"] == str(len(body)), h)
    # A wrong CRC32 given by the caller: BadDigest.
    err = expect_error(lambda: s3.put_object(Bucket="bucket", Key="up/obj", Body=b"abc",
                                             ChecksumCRC32="AAAAAA=="), "BadDigest", 400)
    check("CRC32" in err["Error"]["Message"], err)


def s3_put_chunked():
    """botocore's own aws-chunked encoder with a CRC32 trailer (what it does over HTTPS)."""
    original = botocore.httpchecksum.urlparse
    botocore.httpchecksum.urlparse = lambda url: original(url.replace("http://", "https://", 1))
    s3 = client("s3")
    body = b"id,name\n1,foo\n" * 100000
    out = s3.put_object(Bucket="bucket", Key="up/chunked", Body=body, ContentEncoding="gzip")
    h = out["ResponseMetadata"]["HTTPHeaders"]
    check(h["x-test-bytes"] == str(len(body)), h)
    check(h["x-test-content-encoding"] == "gzip", h)
    check(h["x-test-sha256"] == __import__("hashlib").sha256(body).hexdigest(), h)
    check(h["x-test-payload-length"] == str(len(body)), h)
    # Without a user encoding, no Content-Encoding reaches the handler.
    out = s3.put_object(Bucket="bucket", Key="up/chunked", Body=b"small")
    h = out["ResponseMetadata"]["HTTPHeaders"]
    check(h["x-test-content-encoding"] == "(none)", h)


def s3_wrong_secret():
    s3 = client("s3", secret="wrong" + secret_key)
    expect_error(lambda: s3.get_object(Bucket="bucket", Key="k"), "SignatureDoesNotMatch", 403)
    s3 = client("s3", key="AKIAUNKNOWNKEY000000")
    expect_error(lambda: s3.get_object(Bucket="bucket", Key="k"), "InvalidAccessKeyId", 403)
    status, _, body = http("GET", endpoint + "/bucket/k")
    check(status == 403 and b"<Code>AccessDenied</Code>" in body, (status, body))


def s3_presigned():
    # SigV4 query form (botocore presigns S3 with SigV2 unless told otherwise).
    s3 = client("s3", config=Config(signature_version="s3v4", retries={"max_attempts": 1}))
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "bucket", "Key": "p/k 1"},
                                    ExpiresIn=60)
    status, _, body = http("GET", url)
    check(status == 200 and body == b"hello /bucket/p/k 1", (status, body))
    sig_at = url.index("X-Amz-Signature=") + len("X-Amz-Signature=")
    tampered = url[:sig_at] + ("0" if url[sig_at] != "0" else "1") + url[sig_at + 1:]
    status, _, body = http("GET", tampered)
    check(status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body, (status, body))
    tampered = url.replace("p/k%201", "p/k%202")
    status, _, body = http("GET", tampered)
    check(status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body, (status, body))
    short = s3.generate_presigned_url("get_object", Params={"Bucket": "bucket", "Key": "k"},
                                      ExpiresIn=1)
    time.sleep(2.1)
    status, _, body = http("GET", short)
    check(status == 403 and b"<Code>AccessDenied</Code>" in body and
          b"Request has expired" in body, (status, body))
    # boto3's default presigner for S3 in us-east-1 signs with SigV2 (AWSAccessKeyId/Signature/
    # Expires): accepted, checked like SigV4's.
    v2 = client("s3").generate_presigned_url("get_object", Params={"Bucket": "bucket", "Key": "p/k 1"},
                                             ExpiresIn=60)
    check("AWSAccessKeyId=" in v2 and "X-Amz-" not in v2, v2)
    status, _, body = http("GET", v2)
    check(status == 200 and body == b"hello /bucket/p/k 1", (status, body))
    # Sub-resources are signed too (response-content-type here).
    sub = client("s3").generate_presigned_url(
        "get_object", Params={"Bucket": "bucket", "Key": "k", "ResponseContentType": "text/plain"})
    status, _, body = http("GET", sub)
    check(status == 200, (status, body))
    status, _, body = http("GET", sub.replace("text%2Fplain", "text%2Fhtml"))
    check(status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body, (status, body))
    status, _, body = http("GET", v2.replace("p/k%201", "p/k%202"))
    check(status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body, (status, body))
    status, _, body = http("GET", v2.replace("AWSAccessKeyId=", "AWSAccessKeyId=X"))
    check(status == 403 and b"<Code>InvalidAccessKeyId</Code>" in body, (status, body))
    short = client("s3").generate_presigned_url("get_object", Params={"Bucket": "bucket", "Key": "k"},
                                                ExpiresIn=1)
    time.sleep(2.1)
    status, _, body = http("GET", short)
    check(status == 403 and b"Request has expired" in body, (status, body))
    # The header form of SigV2 ("Authorization: AWS key:signature") is refused clearly.
    status, _, body = http("GET", endpoint + "/bucket/k", headers={"Authorization": "AWS AK:c2ln"})
    check(status in (400, 403) and b"AWS4-HMAC-SHA256" in body, (status, body))


scenarios = {f.__name__: f for f in [json_ok, json_wrong_secret, json_unknown_key, json_unsigned,
                                     s3_get, s3_put, s3_put_chunked, s3_wrong_secret,
                                     s3_presigned]}
scenarios[scenario]()
print("ok")
