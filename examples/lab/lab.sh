#!/usr/bin/env bash
# The reference lab's S3 → Aurora PostgreSQL migration with nothing but the aws CLI, against a
# running `opendms server`: a bucket with five tables of CSV, the database credentials in Secrets
# Manager and SSM Parameter Store, a replication instance, two endpoints, a task, its statistics.
#
#   examples/lab/lab.sh
#
# Environment (defaults in brackets):
#   ENDPOINT_URL     the opendms endpoint [http://127.0.0.1:4566]; credentials come from the usual
#                    AWS_SHARED_CREDENTIALS_FILE / AWS_PROFILE (opendms server prints them)
#   DATA_DIR         where the CSV tree is written [./lab-data]; ORDERS rows of orders [20000]
#   TARGET_HOST TARGET_PORT TARGET_DB TARGET_USER TARGET_PASSWORD
#                    the PostgreSQL the task loads [127.0.0.1 5432 orders dms_user change-me]
#   MIGRATION_TYPE   full-load | full-load-and-cdc [full-load-and-cdc]
#   PREFIX           names resources so several runs can share a server [lab]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ENDPOINT_URL=${ENDPOINT_URL:-http://127.0.0.1:4566}
DATA_DIR=${DATA_DIR:-./lab-data}
ORDERS=${ORDERS:-20000}
TARGET_HOST=${TARGET_HOST:-127.0.0.1} TARGET_PORT=${TARGET_PORT:-5432}
TARGET_DB=${TARGET_DB:-orders} TARGET_USER=${TARGET_USER:-dms_user}
TARGET_PASSWORD=${TARGET_PASSWORD:-change-me}
MIGRATION_TYPE=${MIGRATION_TYPE:-full-load-and-cdc}
PREFIX=${PREFIX:-lab}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
aws() { command aws --endpoint-url "$ENDPOINT_URL" "$@"; }
step() { echo; echo "== $*"; }

step "1. Sample data: five tables in $DATA_DIR/sales"
python3 "$HERE/generate.py" "$DATA_DIR" --orders "$ORDERS"

step "2. A landing bucket, and the CSV objects in it"
aws s3 mb "s3://$PREFIX-landing"
aws s3 cp "$DATA_DIR/sales" "s3://$PREFIX-landing/sales" --recursive --only-show-errors
aws s3 ls "s3://$PREFIX-landing/sales/" --recursive --summarize | tail -2

step "3. The database credentials: Secrets Manager, and SSM parameters (ProductName/AppName/Env/SecretName)"
SECRET_NAME="Acme/Orders/$PREFIX/DbSecret"
SECRET_JSON=$(python3 -c 'import json,sys; print(json.dumps(dict(zip(
  ["engine","host","port","dbname","username","password"], sys.argv[1:]))))' \
  postgres "$TARGET_HOST" "$TARGET_PORT" "$TARGET_DB" "$TARGET_USER" "$TARGET_PASSWORD")
aws secretsmanager create-secret --name "$SECRET_NAME" --secret-string "$SECRET_JSON" \
  --query ARN --output text
aws ssm put-parameter --name "/Acme/Orders/$PREFIX/DbUser" --type String --value "$TARGET_USER" \
  --query Version --output text
aws ssm put-parameter --name "/Acme/Orders/$PREFIX/DbSecretName" --type String \
  --value "$SECRET_NAME" --query Version --output text
# What DMS's endpoint will read: the secret, through the SSM parameter that references it.
aws ssm get-parameter --name "/aws/reference/secretsmanager/$SECRET_NAME" --with-decryption \
  --query 'Parameter.[Name,Type]' --output text

step "4. A replication instance"
RI_ARN=$(aws dms create-replication-instance --replication-instance-identifier "$PREFIX-instance" \
  --replication-instance-class dms.t3.medium --allocated-storage 50 \
  --query ReplicationInstance.ReplicationInstanceArn --output text)
aws dms wait replication-instance-available \
  --filters "Name=replication-instance-arn,Values=$RI_ARN"
echo "$RI_ARN available"

step "5. Endpoints: the bucket (source) and PostgreSQL through the secret (target)"
S3_SETTINGS=$(python3 - "$HERE/table-definition.json" "$PREFIX-landing" <<'PY'
import json, sys
print(json.dumps({"BucketName": sys.argv[2], "BucketFolder": "sales", "CdcPath": "changes",
  "CsvDelimiter": ",", "CsvRowDelimiter": "\\n", "IgnoreHeaderRows": 1,
  "ServiceAccessRoleArn": "arn:aws:iam::000000000000:role/dms-s3-access",
  "ExternalTableDefinition": json.dumps(json.load(open(sys.argv[1])))}))
PY
)
SRC_ARN=$(aws dms create-endpoint --endpoint-identifier "$PREFIX-s3-source" --endpoint-type source \
  --engine-name s3 --s3-settings "$S3_SETTINGS" --query Endpoint.EndpointArn --output text)
TGT_ARN=$(aws dms create-endpoint --endpoint-identifier "$PREFIX-aurora-target" \
  --endpoint-type target --engine-name aurora-postgresql --database-name "$TARGET_DB" \
  --postgre-sql-settings "SecretsManagerSecretId=$SECRET_NAME,SecretsManagerAccessRoleArn=arn:aws:iam::000000000000:role/dms-secrets-access" \
  --query Endpoint.EndpointArn --output text)
aws dms test-connection --replication-instance-arn "$RI_ARN" --endpoint-arn "$TGT_ARN" \
  --query Connection.Status --output text
aws dms wait test-connection-succeeds \
  --filters "Name=endpoint-arn,Values=$TGT_ARN" "Name=replication-instance-arn,Values=$RI_ARN"
echo "target connection: successful"

step "6. A $MIGRATION_TYPE task for the five tables"
TASK_ARN=$(aws dms create-replication-task --replication-task-identifier "$PREFIX-sales" \
  --source-endpoint-arn "$SRC_ARN" --target-endpoint-arn "$TGT_ARN" \
  --replication-instance-arn "$RI_ARN" --migration-type "$MIGRATION_TYPE" \
  --table-mappings "file://$HERE/table-mappings.json" \
  --replication-task-settings "file://$HERE/task-settings.json" \
  --query ReplicationTask.ReplicationTaskArn --output text)
aws dms wait replication-task-ready --filters "Name=replication-task-arn,Values=$TASK_ARN"
aws dms start-replication-task --replication-task-arn "$TASK_ARN" \
  --start-replication-task-type start-replication --query ReplicationTask.Status --output text
if [ "$MIGRATION_TYPE" = full-load ]; then
  aws dms wait replication-task-stopped --filters "Name=replication-task-arn,Values=$TASK_ARN"
else
  aws dms wait replication-task-running --filters "Name=replication-task-arn,Values=$TASK_ARN"
  # The full load is done when every table is completed; CDC goes on.
  for _ in $(seq 600); do
    done_tables=$(aws dms describe-table-statistics --replication-task-arn "$TASK_ARN" \
      --query "length(TableStatistics[?TableState=='Table completed'])" --output text)
    [ "$done_tables" = 5 ] && break
    sleep 0.5
  done
fi
aws dms describe-replication-tasks --filters "Name=replication-task-arn,Values=$TASK_ARN" \
  --query 'ReplicationTasks[0].[Status,StopReason,ReplicationTaskStats.FullLoadProgressPercent]' \
  --output text

step "7. Table statistics"
aws dms describe-table-statistics --replication-task-arn "$TASK_ARN" \
  --query 'TableStatistics[].[SchemaName,TableName,TableState,FullLoadRows,FullLoadErrorRows,Inserts,Updates,Deletes]' \
  --output table
echo "TASK_ARN=$TASK_ARN"
