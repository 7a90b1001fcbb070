"""The lab's Secrets Manager and SSM calls, made by the real aws CLI and boto3 against an opendms
api Server that http_test.cc starts over the real services.
Usage: lab_calls.py <endpoint> <access key> <secret key>.
Exits 0 when every check holds; otherwise prints what differed and exits 1."""
import json
import os
import subprocess
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint, access_key, secret_key = sys.argv[1:4]
NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})
SECRET = '{"username":"dms_user","password":"L4b-Pa55word!","engine":"postgres","port":5432}'


def check(cond, what):
    if not cond:
        print("FAILED:", what)
        sys.exit(1)


def client(service):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                        config=NO_RETRIES)


def aws(*args):
    """Runs the aws CLI; returns (exit code, parsed stdout or stderr text)."""
    env = dict(os.environ, AWS_ACCESS_KEY_ID=access_key, AWS_SECRET_ACCESS_KEY=secret_key,
               AWS_DEFAULT_REGION="us-east-1", AWS_MAX_ATTEMPTS="1")
    env.pop("AWS_PROFILE", None)
    p = subprocess.run(["aws", "--endpoint-url", endpoint, "--output", "json", *args],
                       capture_output=True, text=True, env=env, timeout=60)
    if p.returncode != 0:
        return p.returncode, p.stderr
    return 0, json.loads(p.stdout) if p.stdout.strip() else {}


def expect_error(call, code):
    try:
        call()
    except ClientError as e:
        got = e.response["Error"]["Code"]
        check(got == code and e.response["ResponseMetadata"]["HTTPStatusCode"] == 400,
              f"expected {code}/400, got {got}: {e.response}")
        return e.response["Error"]["Message"]
    check(False, f"expected {code}, the call succeeded")


# The lab's three commands, with the aws CLI.
rc, out = aws("secretsmanager", "create-secret", "--name", "Acme/Orders/dev/DbSecret",
              "--secret-string", SECRET)
check(rc == 0, f"create-secret: {out}")
arn = out["ARN"]
check(arn.startswith("arn:aws:secretsmanager:us-east-1:000000000000:secret:Acme/Orders/dev/DbSecret-"),
      out)
check(len(out["VersionId"]) == 36, out)  # the CLI's own ClientRequestToken
rc, out = aws("ssm", "put-parameter", "--name", "/Acme/Orders/dev/DbUser", "--type", "String",
              "--value", "dms_user")
check(rc == 0 and out == {"Version": 1, "Tier": "Standard"}, f"put-parameter: {out}")
rc, out = aws("ssm", "get-parameter", "--name",
              "/aws/reference/secretsmanager/Acme/Orders/dev/DbSecret", "--with-decryption")
check(rc == 0, f"get-parameter (reference): {out}")
check(out["Parameter"]["Value"] == SECRET and out["Parameter"]["ARN"] == arn, out)
rc, out = aws("ssm", "put-parameter", "--name", "Acme/Orders/dev/DbUser", "--type", "String",
              "--value", "x")
check(rc == 255 and "(ValidationException)" in out and "fully qualified" in out, out)
rc, out = aws("secretsmanager", "get-secret-value", "--secret-id", "Acme/Orders/dev/Nope")
check(rc == 255 and "(ResourceNotFoundException)" in out, out)

# boto3: what the DMS endpoint and a rotation read and write.
sm = client("secretsmanager")
got = sm.get_secret_value(SecretId=arn)
check(got["SecretString"] == SECRET and got["VersionStages"] == ["AWSCURRENT"], got)
check(hasattr(got["CreatedDate"], "year"), got)  # epoch number parsed as a datetime
put = sm.put_secret_value(SecretId="Acme/Orders/dev/DbSecret", SecretString="{}",
                          VersionStages=["AWSPENDING"])
sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT",
                               MoveToVersionId=put["VersionId"],
                               RemoveFromVersionId=got["VersionId"])
stages = sm.describe_secret(SecretId=arn)["VersionIdsToStages"]
check(sorted(stages[put["VersionId"]]) == ["AWSCURRENT", "AWSPENDING"], stages)
check(stages[got["VersionId"]] == ["AWSPREVIOUS"], stages)
sm.create_secret(Name="bin", SecretBinary=b"\x00\x01\xfe")
check(sm.get_secret_value(SecretId="bin")["SecretBinary"] == b"\x00\x01\xfe", "SecretBinary")
pages = list(sm.get_paginator("list_secrets").paginate(PaginationConfig={"PageSize": 1}))
check(sum(len(p["SecretList"]) for p in pages) == 2 and len(pages) >= 2, pages)
check(len(sm.get_random_password(PasswordLength=20)["RandomPassword"]) == 20, "password")
sm.delete_secret(SecretId="bin", RecoveryWindowInDays=7)
msg = expect_error(lambda: sm.get_secret_value(SecretId="bin"), "InvalidRequestException")
check("marked for deletion" in msg, msg)

ssm = client("ssm")
ssm.put_parameter(Name="/Acme/Orders/dev/DbPassword", Type="SecureString", Value="pw-123")
p = ssm.get_parameter(Name="/Acme/Orders/dev/DbPassword")["Parameter"]
check(p["Value"] != "pw-123", p)
p = ssm.get_parameter(Name="/Acme/Orders/dev/DbPassword", WithDecryption=True)["Parameter"]
check(p["Value"] == "pw-123" and p["Version"] == 1, p)
names = [p["Name"] for page in ssm.get_paginator("get_parameters_by_path").paginate(
    Path="/Acme", Recursive=True, PaginationConfig={"PageSize": 1}) for p in page["Parameters"]]
check(names == ["/Acme/Orders/dev/DbPassword", "/Acme/Orders/dev/DbUser"], names)
expect_error(lambda: ssm.get_parameter(Name="/nope"), "ParameterNotFound")
expect_error(lambda: ssm.put_parameter(Name="/Acme/Orders/dev/DbUser", Type="String", Value="v"),
             "ParameterAlreadyExists")
expect_error(lambda: ssm.get_parameter(Name="/aws/reference/secretsmanager/Acme/Orders/dev/DbSecret"),
             "ValidationException")
print("ok")
