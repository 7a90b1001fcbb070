#!/usr/bin/env python3
"""Runs one boto3 script against moto_server and against opendms and compares the response
shapes (keys and value types), call by call.

    compat_shapes.py --opendms URL --access-key K --secret-key S [--moto URL] [--report FILE]

Without --moto it starts moto_server on a free port itself. Exit 0 when every difference is one
of the documented ones (DOCUMENTED below, also in docs/compatibility.md): places where opendms
follows AWS rather than moto. Any other difference — a key moto returns that opendms lacks, or a
value of another type — fails, naming the call and the key path.
"""
import argparse
import datetime
import json
import os
import socket
import subprocess
import sys
import time
import uuid

import boto3
import botocore.config
import botocore.exceptions

# (service, operation, key path) → why opendms differs from moto on purpose.
DOCUMENTED = {
    ("s3", "complete_multipart_upload", "VersionId"):
        "moto sends x-amz-version-id on a bucket without versioning; AWS (and opendms) do not",
    ("secretsmanager", "list_secret_version_ids", "NextToken"):
        "moto always sends NextToken; AWS (and opendms) only when there are more versions",
    ("dms", "create_replication_task", "ReplicationTask.ReplicationTaskStats"):
        "moto hard-codes stats; AWS (and opendms) have none for a task that never started",
    ("dms", "describe_replication_tasks", "ReplicationTasks[].ReplicationTaskStats"):
        "as above",
    ("dms", "delete_replication_task", "ReplicationTask.ReplicationTaskStats"):
        "as above",
}

# Members whose keys are data (ids, metadata names), not field names: compared as maps.
MAP_MEMBERS = {"VersionIdsToStages", "SecretVersionsToStages", "Metadata"}

# Keys opendms returns that moto does not are reported, not failed: AWS returns more than moto.


def shape(value):
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in MAP_MEMBERS and isinstance(v, dict):
                merged = {}
                for item in v.values():
                    merged = shape(item)
                out[k] = {"<map>": merged} if v else {}
            else:
                out[k] = shape(v)
        return out
    if isinstance(value, list):
        merged = {}
        scalar = None
        for item in value:
            s = shape(item)
            if isinstance(s, dict):
                merged.update(s)
            else:
                scalar = s
        return [merged if merged or scalar is None else scalar]
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, datetime.datetime):
        return "timestamp"
    if isinstance(value, (bytes, bytearray)):
        return "blob"
    if hasattr(value, "read"):
        return "stream"
    return type(value).__name__


def compare(call, moto_shape, ours, path, problems, extras):
    if isinstance(moto_shape, dict):
        if not isinstance(ours, dict):
            problems.append(f"{call} {path or '<root>'}: moto has an object, opendms {ours!r}")
            return
        for k, v in moto_shape.items():
            p = f"{path}.{k}" if path else k
            if k not in ours:
                problems.append(f"{call} {p}: returned by moto, missing from opendms")
                continue
            compare(call, v, ours[k], p, problems, extras)
        for k in ours:
            if k not in moto_shape:
                extras.append(f"{call} {path + '.' if path else ''}{k}")
    elif isinstance(moto_shape, list):
        if not isinstance(ours, list):
            problems.append(f"{call} {path}: moto has a list, opendms {ours!r}")
            return
        if moto_shape and ours:
            compare(call, moto_shape[0], ours[0], path + "[]", problems, extras)
    elif moto_shape != ours:
        problems.append(f"{call} {path}: moto {moto_shape}, opendms {ours}")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_moto():
    port = free_port()
    proc = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, url
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("moto_server did not start")


def script(endpoint, key, secret, tag, is_moto):
    """The calls both servers answer. Returns [(call name, response)]. `tag` keeps names unique."""
    cfg = botocore.config.Config(retries={"max_attempts": 1})
    def client(service):
        return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                            aws_access_key_id=key, aws_secret_access_key=secret, config=cfg)
    out = []
    def call(c, op, **kw):
        resp = getattr(c, op)(**kw)
        resp.pop("ResponseMetadata", None)
        if "Body" in resp:
            resp["Body"] = resp["Body"].read()
        out.append((f"{c.meta.service_model.service_name}.{op}", resp))
        return resp

    s3 = client("s3")
    bucket = f"compat-{tag}"
    call(s3, "create_bucket", Bucket=bucket)
    call(s3, "put_object", Bucket=bucket, Key="sales/a.csv", Body=b"id,name\n1,foo\n",
         ContentType="text/csv", Metadata={"origin": "compat"})
    call(s3, "put_object", Bucket=bucket, Key="sales/sub/b.csv", Body=b"x\n")
    call(s3, "head_object", Bucket=bucket, Key="sales/a.csv")
    call(s3, "get_object", Bucket=bucket, Key="sales/a.csv")
    call(s3, "get_object", Bucket=bucket, Key="sales/a.csv", Range="bytes=0-3")
    call(s3, "list_objects_v2", Bucket=bucket, Prefix="sales/", Delimiter="/")
    call(s3, "list_objects_v2", Bucket=bucket, MaxKeys=1)
    call(s3, "list_objects", Bucket=bucket, Prefix="sales/")
    call(s3, "copy_object", Bucket=bucket, Key="copy.csv",
         CopySource={"Bucket": bucket, "Key": "sales/a.csv"})
    mpu = call(s3, "create_multipart_upload", Bucket=bucket, Key="big.bin")
    part = call(s3, "upload_part", Bucket=bucket, Key="big.bin", UploadId=mpu["UploadId"],
                PartNumber=1, Body=b"z" * 1024)
    call(s3, "list_parts", Bucket=bucket, Key="big.bin", UploadId=mpu["UploadId"])
    call(s3, "list_multipart_uploads", Bucket=bucket)
    call(s3, "complete_multipart_upload", Bucket=bucket, Key="big.bin", UploadId=mpu["UploadId"],
         MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]})
    call(s3, "list_buckets")
    call(s3, "delete_objects", Bucket=bucket, Delete={"Objects": [
        {"Key": "sales/a.csv"}, {"Key": "sales/sub/b.csv"}, {"Key": "copy.csv"},
        {"Key": "big.bin"}]})
    call(s3, "delete_object", Bucket=bucket, Key="absent")
    call(s3, "delete_bucket", Bucket=bucket)

    sm = client("secretsmanager")
    name = f"Acme/Orders/{tag}/DbSecret"
    created = call(sm, "create_secret", Name=name,
                   SecretString=json.dumps({"username": "dms_user", "password": "pw-1"}))
    call(sm, "get_secret_value", SecretId=name)
    put = call(sm, "put_secret_value", SecretId=created["ARN"],
               SecretString=json.dumps({"username": "dms_user", "password": "pw-2"}))
    call(sm, "describe_secret", SecretId=name)
    call(sm, "list_secrets", Filters=[{"Key": "name", "Values": [name]}])
    call(sm, "list_secret_version_ids", SecretId=name)
    call(sm, "update_secret", SecretId=name, Description="orders database")
    call(sm, "update_secret_version_stage", SecretId=name, VersionStage="AWSPENDING",
         MoveToVersionId=put["VersionId"])
    call(sm, "get_random_password", PasswordLength=20, ExcludePunctuation=True)
    call(sm, "tag_resource", SecretId=name, Tags=[{"Key": "env", "Value": "dev"}])
    call(sm, "untag_resource", SecretId=name, TagKeys=["env"])
    call(sm, "delete_secret", SecretId=name, RecoveryWindowInDays=7)
    call(sm, "restore_secret", SecretId=name)
    call(sm, "delete_secret", SecretId=name, ForceDeleteWithoutRecovery=True)

    ssm = client("ssm")
    base = f"/Acme/Orders/{tag}"
    call(ssm, "put_parameter", Name=f"{base}/DbUser", Type="String", Value="dms_user")
    call(ssm, "put_parameter", Name=f"{base}/DbUser", Type="String", Value="dms_user2",
         Overwrite=True)
    call(ssm, "put_parameter", Name=f"{base}/DbPassword", Type="SecureString", Value="pw")
    call(ssm, "get_parameter", Name=f"{base}/DbUser")
    call(ssm, "get_parameter", Name=f"{base}/DbPassword", WithDecryption=True)
    call(ssm, "get_parameters", Names=[f"{base}/DbUser", f"{base}/Nope"])
    call(ssm, "get_parameters_by_path", Path=base, Recursive=True, WithDecryption=True)
    call(ssm, "describe_parameters",
         ParameterFilters=[{"Key": "Name", "Option": "BeginsWith", "Values": [base]}])
    call(ssm, "get_parameter_history", Name=f"{base}/DbUser")
    call(ssm, "label_parameter_version", Name=f"{base}/DbUser", ParameterVersion=1,
         Labels=["first"])
    call(ssm, "delete_parameter", Name=f"{base}/DbUser")
    call(ssm, "delete_parameters", Names=[f"{base}/DbPassword", f"{base}/Nope"])

    dms = client("dms")
    group = f"subnets-{tag}".lower()
    call(dms, "create_replication_subnet_group", ReplicationSubnetGroupIdentifier=group,
         ReplicationSubnetGroupDescription="lab", SubnetIds=["subnet-0a1b2c3d", "subnet-0b1b2c3d"])
    call(dms, "describe_replication_subnet_groups",
         Filters=[{"Name": "replication-subnet-group-id", "Values": [group]}])
    call(dms, "delete_replication_subnet_group", ReplicationSubnetGroupIdentifier=group)
    inst = call(dms, "create_replication_instance", ReplicationInstanceIdentifier=f"ri-{tag}",
                ReplicationInstanceClass="dms.t3.medium", AllocatedStorage=50)
    inst_arn = inst["ReplicationInstance"]["ReplicationInstanceArn"]
    call(dms, "describe_replication_instances",
         Filters=[{"Name": "replication-instance-arn", "Values": [inst_arn]}])
    src = call(dms, "create_endpoint", EndpointIdentifier=f"src-{tag}", EndpointType="source",
               EngineName="s3", S3Settings={
                   "BucketName": "landing", "BucketFolder": "sales",
                   "ServiceAccessRoleArn": "arn:aws:iam::000000000000:role/dms-s3",
                   "ExternalTableDefinition": json.dumps({"TableCount": "1", "Tables": [{
                       "TableName": "t", "TablePath": "public/t/", "TableOwner": "public",
                       "TableColumns": [{"ColumnName": "id", "ColumnType": "INT4",
                                         "ColumnIsPk": "true"}],
                       "TableColumnsTotal": "1"}]})})
    tgt = call(dms, "create_endpoint", EndpointIdentifier=f"tgt-{tag}", EndpointType="target",
               EngineName="aurora-postgresql", ServerName="127.0.0.1", Port=5432,
               DatabaseName="orders", Username="dms_user", Password="pw")
    call(dms, "describe_endpoints",
         Filters=[{"Name": "endpoint-arn", "Values": [tgt["Endpoint"]["EndpointArn"]]}])
    task = call(dms, "create_replication_task", ReplicationTaskIdentifier=f"task-{tag}",
                SourceEndpointArn=src["Endpoint"]["EndpointArn"],
                TargetEndpointArn=tgt["Endpoint"]["EndpointArn"],
                ReplicationInstanceArn=inst_arn, MigrationType="full-load",
                TableMappings=json.dumps({"rules": [{
                    "rule-type": "selection", "rule-id": "1", "rule-name": "1",
                    "object-locator": {"schema-name": "%", "table-name": "%"},
                    "rule-action": "include"}]}))
    task_arn = task["ReplicationTask"]["ReplicationTaskArn"]
    # A task is "creating" for a moment, on AWS as here, and can be deleted once ready (moto's
    # stays "creating" forever and deletes at once).
    if not is_moto:
        dms.get_waiter("replication_task_ready").wait(
            Filters=[{"Name": "replication-task-arn", "Values": [task_arn]}],
            WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    call(dms, "describe_replication_tasks",
         Filters=[{"Name": "replication-task-arn", "Values": [task_arn]}])
    call(dms, "delete_replication_task", ReplicationTaskArn=task_arn)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--opendms", required=True)
    ap.add_argument("--access-key", required=True)
    ap.add_argument("--secret-key", required=True)
    ap.add_argument("--moto")
    ap.add_argument("--report")
    args = ap.parse_args()

    moto_proc = None
    moto_url = args.moto
    if not moto_url:
        moto_proc, moto_url = start_moto()
    tag = uuid.uuid4().hex[:8]
    try:
        theirs = script(moto_url, "testing", "testing", tag, is_moto=True)
        ours = script(args.opendms, args.access_key, args.secret_key, tag, is_moto=False)
    finally:
        if moto_proc:
            moto_proc.kill()
            moto_proc.wait()

    problems, extras = [], []
    for (call, m), (call2, o) in zip(theirs, ours):
        assert call == call2, (call, call2)
        before = len(problems)
        compare(call, shape(m), shape(o), "", problems, extras)
        service, op = call.split(".")
        problems[before:] = [p for p in problems[before:]
                             if (service, op, p.split(" ")[1].rstrip(":")) not in DOCUMENTED]
    report = {"calls": len(ours), "problems": problems, "opendms_only_keys": extras}
    text = json.dumps(report, indent=2)
    if args.report:
        with open(args.report, "w") as f:
            f.write(text)
    print(text)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
