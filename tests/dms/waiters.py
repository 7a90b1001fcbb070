#!/usr/bin/env python3
"""boto3's DMS waiters against a real opendms endpoint serving the DMS service.
Usage: waiters.py ENDPOINT ACCESS_KEY SECRET_KEY TARGET_JSON SOURCE_JSON TASK_JSON
Prints the sequence of statuses it waited for; exits non-zero on the first waiter failure."""
import json, sys, time
import boto3
from botocore.config import Config

endpoint, access_key, secret_key, target_file, source_file, task_file = sys.argv[1:7]
dms = boto3.client("dms", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                   config=Config(retries={"max_attempts": 1}))
fast = {"Delay": 1, "MaxAttempts": 30}

try:
    dms.create_replication_subnet_group(ReplicationSubnetGroupIdentifier="one-zone",
                                        ReplicationSubnetGroupDescription="d",
                                        SubnetIds=["subnet-0a1b2c3d"])
    raise SystemExit("a subnet group in one zone was created")
except dms.exceptions.ReplicationSubnetGroupDoesNotCoverEnoughAZs:
    pass
group = dms.create_replication_subnet_group(
    ReplicationSubnetGroupIdentifier="Lab-Subnets", ReplicationSubnetGroupDescription="lab",
    SubnetIds=["subnet-0a1b2c3d", "subnet-0123456789abcdef0"])["ReplicationSubnetGroup"]
assert group["ReplicationSubnetGroupIdentifier"] == "lab-subnets", group
rep = dms.create_replication_instance(ReplicationInstanceIdentifier="rep-waiters",
                                      ReplicationInstanceClass="dms.t3.medium",
                                      ReplicationSubnetGroupIdentifier="lab-subnets")["ReplicationInstance"]
rep_arn = rep["ReplicationInstanceArn"]
assert rep["ReplicationSubnetGroup"] == group, rep
print("subnet_group")
assert rep["ReplicationInstanceStatus"] == "creating", rep
dms.get_waiter("replication_instance_available").wait(
    Filters=[{"Name": "replication-instance-arn", "Values": [rep_arn]}], WaiterConfig=fast)
print("replication_instance_available")

source = dms.create_endpoint(**json.load(open(source_file)))["Endpoint"]
target = dms.create_endpoint(**json.load(open(target_file)))["Endpoint"]
assert "Password" not in json.dumps(target, default=str)
dms.test_connection(ReplicationInstanceArn=rep_arn, EndpointArn=target["EndpointArn"])
dms.get_waiter("test_connection_succeeds").wait(
    Filters=[{"Name": "endpoint-arn", "Values": [target["EndpointArn"]]}], WaiterConfig=fast)
print("test_connection_succeeds")

task_input = json.load(open(task_file))
task_input.update(SourceEndpointArn=source["EndpointArn"], TargetEndpointArn=target["EndpointArn"],
                  ReplicationInstanceArn=rep_arn)
task = dms.create_replication_task(**task_input)["ReplicationTask"]
task_arn = task["ReplicationTaskArn"]
by_arn = [{"Name": "replication-task-arn", "Values": [task_arn]}]
dms.get_waiter("replication_task_ready").wait(Filters=by_arn, WaiterConfig=fast)
print("replication_task_ready")
dms.start_replication_task(ReplicationTaskArn=task_arn, StartReplicationTaskType="start-replication")
dms.get_waiter("replication_task_running").wait(Filters=by_arn, WaiterConfig=fast)
print("replication_task_running")
dms.add_tags_to_resource(ResourceArn=task_arn, Tags=[{"Key": "env", "Value": "dev"}])
tags = dms.list_tags_for_resource(ResourceArnList=[task_arn, rep_arn])["TagList"]
assert tags == [{"Key": "env", "Value": "dev", "ResourceArn": task_arn}], tags
print("tags")
# A reboot stops the running task and resumes it once the instance is available again.
rebooting = dms.reboot_replication_instance(ReplicationInstanceArn=rep_arn)["ReplicationInstance"]
assert rebooting["ReplicationInstanceStatus"] == "rebooting", rebooting
dms.get_waiter("replication_instance_available").wait(
    Filters=[{"Name": "replication-instance-arn", "Values": [rep_arn]}], WaiterConfig=fast)
statuses = []
for _ in range(40):  # not the running waiter: it fails on the "stopped" seen during the reboot
    statuses.append(dms.describe_replication_tasks(Filters=by_arn)["ReplicationTasks"][0]["Status"])
    if statuses[-1] == "running":
        break
    time.sleep(0.25)
assert statuses[-1] == "running", statuses
print("rebooted")
# Datetimes parse: botocore turns the epoch numbers into datetimes.
described = dms.describe_replication_tasks(Filters=by_arn)["ReplicationTasks"][0]
assert hasattr(described["ReplicationTaskCreationDate"], "year"), described
stats = dms.describe_table_statistics(ReplicationTaskArn=task_arn)["TableStatistics"]
assert {t["TableName"] for t in stats} == {"customers", "products"}, stats
dms.stop_replication_task(ReplicationTaskArn=task_arn)
dms.get_waiter("replication_task_stopped").wait(Filters=by_arn, WaiterConfig=fast)
print("replication_task_stopped")
try:
    dms.delete_endpoint(EndpointArn=target["EndpointArn"])
    raise SystemExit("deleting an endpoint in use succeeded")
except dms.exceptions.InvalidResourceStateFault:
    print("InvalidResourceStateFault")
dms.delete_replication_task(ReplicationTaskArn=task_arn)
dms.get_waiter("replication_task_deleted").wait(Filters=by_arn, WaiterConfig=fast)
print("replication_task_deleted")
for ep in (source, target):
    dms.delete_endpoint(EndpointArn=ep["EndpointArn"])
    dms.get_waiter("endpoint_deleted").wait(
        Filters=[{"Name": "endpoint-arn", "Values": [ep["EndpointArn"]]}], WaiterConfig=fast)
print("endpoint_deleted")
dms.delete_replication_instance(ReplicationInstanceArn=rep_arn)
dms.get_waiter("replication_instance_deleted").wait(
    Filters=[{"Name": "replication-instance-arn", "Values": [rep_arn]}], WaiterConfig=fast)
print("replication_instance_deleted")
dms.delete_replication_subnet_group(ReplicationSubnetGroupIdentifier="lab-subnets")
assert dms.describe_replication_subnet_groups()["ReplicationSubnetGroups"] == []
print("subnet_group_deleted")
