// The DMS operations: validate the request as AWS does, read and write the catalog, return the
// AWS shapes. Long work (a task run, a connection test) is handed to runner.cc.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <iterator>
#include <set>

#include "dms/service_impl.h"

namespace opendms::dms {
namespace {

constexpr std::string_view kBase32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
constexpr std::string_view kEngineVersion = "3.5.3";

std::string NewArn(const CallContext& ctx, std::string_view kind, const Json& in) {
  std::string id = in.contains("ResourceIdentifier") && in["ResourceIdentifier"].is_string()
                       ? in["ResourceIdentifier"].get<std::string>()
                       : RandomString(26, kBase32);
  return "arn:aws:dms:" + ctx.region + ":" + ctx.account_id + ":" + std::string(kind) + ":" + id;
}

double NowSeconds() { return ToEpochSeconds(Clock::Now()); }

std::string ToLower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// --- request fields ------------------------------------------------------------------------

Result<std::string> RequiredString(const Json& in, const char* field) {
  auto it = in.find(field);
  if (it == in.end() || it->is_null()) return InvalidParameter(std::string(field) + " is required");
  if (!it->is_string()) return InvalidParameter(std::string(field) + " must be a string");
  if (it->get<std::string>().empty()) {
    return InvalidParameter(std::string(field) + " must not be empty");
  }
  return it->get<std::string>();
}

Result<std::optional<std::string>> OptionalString(const Json& in, const char* field) {
  auto it = in.find(field);
  if (it == in.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) return InvalidParameter(std::string(field) + " must be a string");
  return std::optional<std::string>(it->get<std::string>());
}

Result<std::optional<int64_t>> OptionalInt(const Json& in, const char* field) {
  auto it = in.find(field);
  if (it == in.end() || it->is_null()) return std::optional<int64_t>();
  if (!it->is_number_integer()) return InvalidParameter(std::string(field) + " must be an integer");
  return std::optional<int64_t>(it->get<int64_t>());
}

Result<std::optional<bool>> OptionalBool(const Json& in, const char* field) {
  auto it = in.find(field);
  if (it == in.end() || it->is_null()) return std::optional<bool>();
  if (!it->is_boolean()) return InvalidParameter(std::string(field) + " must be a boolean");
  return std::optional<bool>(it->get<bool>());
}

Status ValidIdentifier(std::string_view id, std::string_view field, size_t max) {
  Status st = engine::ValidateDmsIdentifier(id, field, max);
  return st.ok() ? st : InvalidParameter(st.message());
}

// --- Filters, MaxRecords, Marker -----------------------------------------------------------

struct Filter {
  std::string name;
  std::vector<std::string> values;
};

Result<std::vector<Filter>> ParseFilters(const Json& in, std::initializer_list<std::string_view> names) {
  std::vector<Filter> out;
  auto it = in.find("Filters");
  if (it == in.end() || it->is_null()) return out;
  if (!it->is_array()) return InvalidParameter("Filters must be a list");
  for (const Json& f : *it) {
    if (!f.is_object() || !f.contains("Name") || !f["Name"].is_string() || !f.contains("Values") ||
        !f["Values"].is_array()) {
      return InvalidParameter("each filter needs Name (string) and Values (list of strings)");
    }
    Filter filter{f["Name"].get<std::string>(), {}};
    if (std::find(names.begin(), names.end(), filter.name) == names.end()) {
      std::string allowed;
      for (std::string_view n : names) allowed += (allowed.empty() ? "" : ", ") + std::string(n);
      return InvalidParameter("Invalid filter name " + filter.name + "; valid names: " + allowed);
    }
    for (const Json& v : f["Values"]) {
      if (!v.is_string()) return InvalidParameter("Filter " + filter.name + ": values must be strings");
      filter.values.push_back(v.get<std::string>());
    }
    out.push_back(std::move(filter));
  }
  return out;
}

// Filters AND together; the values of one filter OR. `value_of` gives the record's values for a
// filter name (several for endpoint-arn on tasks: source and target).
bool Matches(const std::vector<Filter>& filters,
             const std::function<std::vector<std::string>(std::string_view)>& value_of,
             bool case_insensitive_values = false) {
  for (const Filter& f : filters) {
    bool any = false;
    for (std::string v : value_of(f.name)) {
      for (std::string want : f.values) {
        if (case_insensitive_values) {
          v = ToLower(v);
          want = ToLower(want);
        }
        if (v == want) any = true;
      }
    }
    if (!any) return false;
  }
  return true;
}

struct Paging {
  size_t offset = 0, limit = 100;
};

Result<Paging> ParsePaging(const Json& in, int64_t max_records = 100) {
  Paging p;
  ASSIGN_OR_RETURN(auto max, OptionalInt(in, "MaxRecords"));
  if (max) {
    if (*max < 20 || *max > max_records) {
      return InvalidParameter("MaxRecords must be between 20 and " + std::to_string(max_records) +
                              "; got " + std::to_string(*max));
    }
    p.limit = static_cast<size_t>(*max);
  }
  ASSIGN_OR_RETURN(auto marker, OptionalString(in, "Marker"));
  if (marker && !marker->empty()) {
    auto decoded = Base64Decode(*marker, "Marker");
    size_t pos = 0;
    if (!decoded.ok() || decoded->rfind("offset:", 0) != 0) {
      return InvalidParameter("Marker " + *marker + " is not a marker this service returned");
    }
    try {
      p.offset = std::stoull(decoded->substr(7), &pos);
    } catch (...) {
      return InvalidParameter("Marker " + *marker + " is not a marker this service returned");
    }
  }
  return p;
}

Json Page(std::vector<Json> items, const Paging& p, const char* member) {
  Json out = Json::object();
  Json list = Json::array();
  for (size_t i = p.offset; i < items.size() && i < p.offset + p.limit; ++i) {
    list.push_back(std::move(items[i]));
  }
  if (p.offset + p.limit < items.size()) {
    out["Marker"] = Base64Encode("offset:" + std::to_string(p.offset + p.limit));
  }
  out[member] = std::move(list);
  return out;
}

// --- endpoints -------------------------------------------------------------------------------

std::string EngineDisplayName(const std::string& engine) {
  if (engine == "s3") return "Amazon S3";
  if (engine == "postgres") return "PostgreSQL";
  if (engine == "aurora-postgresql") return "Amazon Aurora PostgreSQL";
  if (engine == "aurora-postgresql-serverless") return "Amazon Aurora PostgreSQL Serverless";
  return engine;
}

// The engines the engine's endpoint parsers accept (engine/task_config.cc), as
// DescribeEndpointTypes lists them: (EngineName, EndpointType).
constexpr std::pair<const char*, const char*> kSupportedEndpointTypes[] = {
    {"s3", "source"},
    {"postgres", "target"},
    {"aurora-postgresql", "target"},
    {"aurora-postgresql-serverless", "target"}};

// Validates a CreateEndpoint-shaped input with the engine's parsers (the same code that runs the
// task), and builds the Endpoint shape Describe returns. Never carries a password.
Result<Json> EndpointDoc(const std::string& arn, const Json& input) {
  ASSIGN_OR_RETURN(std::string type, RequiredString(input, "EndpointType"));
  type = ToLower(type);
  Json doc;
  doc["EndpointIdentifier"] = input.value("EndpointIdentifier", "");
  doc["EndpointType"] = type == "source" ? "SOURCE" : "TARGET";
  const std::string engine = input.value("EngineName", "");
  doc["EngineName"] = engine;
  doc["EngineDisplayName"] = EngineDisplayName(engine);
  if (type == "source") {
    auto parsed = engine::ParseSourceEndpoint(input);
    if (!parsed.ok()) return InvalidParameter(parsed.status().message());
    const engine::S3SourceSettings& s3 = parsed->s3;
    // A remote S3's connection fields, as for a database endpoint (never the Password).
    if (const engine::S3SourceConnection& c = parsed->connection; c.remote()) {
      doc["ServerName"] = c.server_name;
      if (c.port != 0) doc["Port"] = c.port;
      if (!c.username.empty()) doc["Username"] = c.username;
    }
    if (input.contains("ExtraConnectionAttributes")) {
      doc["ExtraConnectionAttributes"] = input["ExtraConnectionAttributes"];
    }
    doc["Status"] = "active";
    doc["EndpointArn"] = arn;
    doc["SslMode"] = input.value("SslMode", "none");
    doc["ServiceAccessRoleArn"] = s3.service_access_role_arn;
    doc["ExternalTableDefinition"] = s3.external_table_definition;
    Json settings = input.value("S3Settings", Json::object());
    settings["ServiceAccessRoleArn"] = s3.service_access_role_arn;
    settings["ExternalTableDefinition"] = s3.external_table_definition;
    settings["BucketName"] = s3.bucket_name;
    if (!s3.bucket_folder.empty()) settings["BucketFolder"] = s3.bucket_folder;
    if (!s3.cdc_path.empty()) settings["CdcPath"] = s3.cdc_path;
    settings["CsvDelimiter"] = s3.csv_delimiter;
    settings["CsvRowDelimiter"] = s3.csv_row_delimiter;
    settings["IgnoreHeaderRows"] = s3.ignore_header_rows;
    settings["Rfc4180"] = s3.rfc4180;
    doc["S3Settings"] = std::move(settings);
  } else if (type == "target") {
    auto parsed = engine::ParseTargetEndpoint(input);
    if (!parsed.ok()) return InvalidParameter(parsed.status().message());
    const engine::TargetEndpoint& t = *parsed;
    if (!t.username.empty()) doc["Username"] = t.username;
    if (!t.server_name.empty()) doc["ServerName"] = t.server_name;
    if (t.secrets_manager_secret_id.empty() || input.contains("Port")) doc["Port"] = t.port;
    doc["DatabaseName"] = t.database_name;
    if (input.contains("ExtraConnectionAttributes")) {
      doc["ExtraConnectionAttributes"] = input["ExtraConnectionAttributes"];
    }
    doc["Status"] = "active";
    doc["EndpointArn"] = arn;
    doc["SslMode"] = t.ssl_mode;
    Json settings = input.contains("PostgreSQLSettings")   ? input["PostgreSQLSettings"]
                    : input.contains("PostgreSqlSettings") ? input["PostgreSqlSettings"]
                                                           : Json::object();
    settings.erase("Password");
    settings["DatabaseName"] = t.database_name;
    if (t.secrets_manager_secret_id.empty()) {
      settings["Port"] = t.port;
      settings["ServerName"] = t.server_name;
      settings["Username"] = t.username;
    }
    settings["ExecuteTimeout"] = t.execute_timeout_seconds;
    settings["MaxFileSize"] = t.max_file_size_kb;
    settings["MapBooleanAsBoolean"] = t.map_boolean_as_boolean;
    doc["PostgreSQLSettings"] = std::move(settings);
  } else {
    return InvalidParameter("EndpointType must be source or target; got " +
                            input.value("EndpointType", ""));
  }
  return doc;
}

// Deep merge for ModifyEndpoint: settings objects merge key by key unless `exact`.
Json MergeEndpointInput(Json current, const Json& change, bool exact) {
  for (auto& [k, v] : change.items()) {
    if (k == "EndpointArn" || k == "ExactSettings") continue;
    if (v.is_object() && current.contains(k) && current[k].is_object() && !exact) {
      for (auto& [sk, sv] : v.items()) current[k][sk] = sv;
    } else {
      current[k] = v;
    }
  }
  return current;
}

// AWS's Tag rules: Key 1-128 characters, Value up to 256, neither starting with "aws:" or
// "dms:", letters, digits, white space and _ . : / = + - @ only.
Result<std::vector<std::pair<std::string, std::string>>> ParseTags(const Json& in, bool required) {
  std::vector<std::pair<std::string, std::string>> tags;
  auto it = in.find("Tags");
  if (it == in.end() || it->is_null()) {
    if (required) return InvalidParameter("Tags is required");
    return tags;
  }
  if (!it->is_array()) return InvalidParameter("Tags must be a list of {Key, Value}");
  auto valid_text = [](const std::string& text) {
    for (unsigned char c : text) {
      if (c < 0x80 && !std::isalnum(c) && !std::isspace(c) &&
          std::string_view("_.:/=+-@").find(static_cast<char>(c)) == std::string_view::npos) {
        return false;
      }
    }
    return true;
  };
  for (const Json& tag : *it) {
    if (!tag.is_object() || !tag.contains("Key") || !tag["Key"].is_string()) {
      return InvalidParameter("each tag in Tags needs a string Key");
    }
    const std::string key = tag["Key"].get<std::string>();
    if (tag.contains("Value") && !tag["Value"].is_null() && !tag["Value"].is_string()) {
      return InvalidParameter("Tag " + key + ": Value must be a string");
    }
    const std::string value =
        tag.contains("Value") && tag["Value"].is_string() ? tag["Value"].get<std::string>() : "";
    if (key.empty() || key.size() > 128) {
      return InvalidParameter("Tag key must be 1 to 128 characters; got \"" + key + "\"");
    }
    if (value.size() > 256) {
      return InvalidParameter("Tag " + key + ": Value exceeds 256 characters");
    }
    for (std::string_view prefix : {"aws:", "dms:"}) {
      if (ToLower(key).rfind(prefix, 0) == 0) {
        return InvalidParameter("Tag key " + key + " cannot start with " + std::string(prefix));
      }
    }
    if (!valid_text(key) || !valid_text(value)) {
      return InvalidParameter("Tag " + key +
                              ": keys and values hold only letters, digits, white space and "
                              "_ . : / = + - @");
    }
    tags.emplace_back(key, value);
  }
  return tags;
}

// --- replication subnet groups ----------------------------------------------------------------
// There is no VPC here: a group keeps the subnet ids it is given and places them in the region's
// zones in the order given (a, b, c, …), so two or more subnets cover two zones as AWS requires.

const char* kDefaultSubnetGroup = "default";

Status ValidSubnetGroupName(const std::string& name) {
  if (name.size() > 255) {
    return InvalidParameter("ReplicationSubnetGroupIdentifier must have at most 255 characters");
  }
  for (unsigned char c : name) {
    if (!std::isalnum(c) && c != '.' && c != '_' && c != '-' && c != ' ') {
      return InvalidParameter("ReplicationSubnetGroupIdentifier " + name +
                              ": only letters, digits, periods, spaces, underscores and hyphens");
    }
  }
  if (ToLower(name) == kDefaultSubnetGroup) {
    return InvalidParameter("ReplicationSubnetGroupIdentifier must not be \"default\"");
  }
  return Status::Ok();
}

// "subnet-" and 8 or 17 lowercase hexadecimal digits, as EC2 names subnets.
bool IsSubnetId(const std::string& id) {
  if (id.rfind("subnet-", 0) != 0) return false;
  const std::string hex = id.substr(7);
  return (hex.size() == 8 || hex.size() == 17) &&
         std::all_of(hex.begin(), hex.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f'); });
}

// The request's SubnetIds (duplicates dropped), refused as AWS refuses them.
Result<std::vector<std::string>> ParseSubnetIds(const Json& in) {
  auto it = in.find("SubnetIds");
  if (it == in.end() || !it->is_array() || it->empty()) {
    return InvalidParameter("SubnetIds is required: a list of subnet ids");
  }
  std::vector<std::string> ids;
  for (const Json& s : *it) {
    if (!s.is_string()) return InvalidParameter("SubnetIds must hold strings");
    const std::string id = s.get<std::string>();
    if (!IsSubnetId(id)) {
      return Status::Aws(ErrorCode::kInvalidArgument, "InvalidSubnet",
                         "SubnetIds: " + id +
                             " is not a subnet id (subnet- and 8 or 17 hexadecimal digits)");
    }
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  }
  if (ids.size() < 2) {
    return Status::Aws(ErrorCode::kInvalidArgument, "ReplicationSubnetGroupDoesNotCoverEnoughAZs",
                       "The replication subnet group does not cover enough Availability Zones: "
                       "give at least two subnets (opendms places them in zones a, b, … in the "
                       "order given)");
  }
  return ids;
}

// The storage a class includes, and an instance gets when it asks for none: 50 GB for the small
// classes, 100 GB from 4 vCPUs (DescribeOrderableReplicationInstances says so too).
int IncludedStorageGb(const InstanceClass& c) { return c.vcpus >= 4 ? 100 : 50; }

Status CheckSubnetsPerGroup(const std::vector<std::string>& subnets, const Options::Quotas& q) {
  if (static_cast<int64_t>(subnets.size()) <= q.subnets_per_replication_subnet_group) {
    return Status::Ok();
  }
  return QuotaExceededFault("SubnetIds: " + std::to_string(subnets.size()) +
                            " subnets pass the account's SubnetsPerReplicationSubnetGroup quota "
                            "of " + std::to_string(q.subnets_per_replication_subnet_group) +
                            " (see DescribeAccountAttributes)");
}

Json SubnetGroupDoc(const std::string& identifier, const std::string& description,
                    const std::vector<std::string>& subnet_ids, const std::string& region) {
  Json subnets = Json::array();
  for (size_t i = 0; i < subnet_ids.size(); ++i) {
    subnets.push_back({{"SubnetIdentifier", subnet_ids[i]},
                       {"SubnetAvailabilityZone", {{"Name", region + char('a' + i % 6)}}},
                       {"SubnetStatus", "Active"}});
  }
  return {{"ReplicationSubnetGroupIdentifier", identifier},
          {"ReplicationSubnetGroupDescription", description},
          {"VpcId", "vpc-opendms"},
          {"SubnetGroupStatus", "Complete"},
          {"Subnets", subnets},
          {"SupportedNetworkTypes", Json::array({"IPV4"})}};
}

// The group an instance is in when it names none (AWS's default VPC group).
Json DefaultSubnetGroupDoc(const std::string& region) {
  return SubnetGroupDoc(kDefaultSubnetGroup, "default", {"subnet-opendms"}, region);
}

bool TaskIsActive(const std::string& status) {
  return status == "starting" || status == "running" || status == "stopping";
}

// Statistics shapes with epoch-second timestamps, as JSON 1.1 carries them.
}  // namespace

// --- dispatch ---------------------------------------------------------------------------------

Result<Json> DmsService::Impl::Call(std::string_view op, const Json& in, const CallContext& ctx) {
  if (!in.is_object()) return InvalidParameter("the request body must be a JSON object");
  {
    auto lease = catalog_.Acquire();
    if (!lease.ok()) return lease.status();
    RETURN_IF_ERROR(Settle(**lease));
  }
  if (op == "CreateReplicationInstance") return CreateReplicationInstance(in, ctx);
  if (op == "DescribeReplicationInstances") return DescribeReplicationInstances(in);
  if (op == "ModifyReplicationInstance") return ModifyReplicationInstance(in);
  if (op == "DeleteReplicationInstance") return DeleteReplicationInstance(in);
  if (op == "RebootReplicationInstance") return RebootReplicationInstance(in);
  if (op == "DescribeEndpointTypes") return DescribeEndpointTypes(in);
  if (op == "DescribeAccountAttributes") return DescribeAccountAttributes(ctx);
  if (op == "DescribeOrderableReplicationInstances") {
    return DescribeOrderableReplicationInstances(in);
  }
  if (op == "CreateEndpoint") return CreateEndpoint(in, ctx);
  if (op == "DescribeEndpoints") return DescribeEndpoints(in);
  if (op == "ModifyEndpoint") return ModifyEndpoint(in);
  if (op == "DeleteEndpoint") return DeleteEndpoint(in);
  if (op == "CreateReplicationTask") return CreateReplicationTask(in, ctx);
  if (op == "DescribeReplicationTasks") return DescribeReplicationTasks(in);
  if (op == "ModifyReplicationTask") return ModifyReplicationTask(in);
  if (op == "DeleteReplicationTask") return DeleteReplicationTask(in);
  if (op == "StartReplicationTask") return StartReplicationTask(in, ctx);
  if (op == "StopReplicationTask") return StopReplicationTask(in);
  if (op == "MoveReplicationTask") return MoveReplicationTask(in);
  if (op == "ReloadTables") return ReloadTables(in, ctx);
  if (op == "DescribeTableStatistics") return DescribeTableStatistics(in);
  if (op == "DescribeReplicationInstanceTaskLogs") return DescribeReplicationInstanceTaskLogs(in);
  if (op == "TestConnection") return TestConnection(in, ctx);
  if (op == "DescribeConnections") return DescribeConnections(in);
  if (op == "DeleteConnection") return DeleteConnection(in);
  if (op == "RefreshSchemas") return RefreshSchemas(in, ctx);
  if (op == "DescribeRefreshSchemasStatus") return DescribeRefreshSchemasStatus(in);
  if (op == "DescribeSchemas") return DescribeSchemas(in);
  if (op == "CreateReplicationSubnetGroup") return CreateReplicationSubnetGroup(in, ctx);
  if (op == "DescribeReplicationSubnetGroups") return DescribeReplicationSubnetGroups(in);
  if (op == "ModifyReplicationSubnetGroup") return ModifyReplicationSubnetGroup(in, ctx);
  if (op == "DeleteReplicationSubnetGroup") return DeleteReplicationSubnetGroup(in);
  if (op == "AddTagsToResource") return AddTagsToResource(in);
  if (op == "RemoveTagsFromResource") return RemoveTagsFromResource(in);
  if (op == "ListTagsForResource") return ListTagsForResource(in);
  return Status::Aws(ErrorCode::kInvalidArgument, "UnknownOperationException",
                     "opendms does not implement DMS operation " + std::string(op));
}

// --- account quotas ---------------------------------------------------------------------------

namespace {

// The AccountQuotaNames, in the order AWS's sample response lists them.
constexpr std::string_view kQuotaNames[] = {
    "ReplicationInstances", "AllocatedStorage",  "ReplicationSubnetGroups",
    "SubnetsPerReplicationSubnetGroup", "Endpoints", "ReplicationTasks", "EndpointsPerInstance"};

std::vector<int64_t> QuotaMaxima(const Options::Quotas& q) {
  return {q.replication_instances, q.allocated_storage_gb, q.replication_subnet_groups,
          q.subnets_per_replication_subnet_group, q.endpoints, q.replication_tasks,
          q.endpoints_per_instance};
}

// What each quota has used, in kQuotaNames' order, counted as AWS counts it: the per-group and
// per-instance quotas show their largest group or instance.
Result<std::vector<int64_t>> QuotaUsage(pg::Connection& conn) {
  ASSIGN_OR_RETURN(
      auto r,
      conn.Query(
          "SELECT (SELECT count(*) FROM dms.instances), "
          "(SELECT coalesce(sum((doc->>'AllocatedStorage')::bigint), 0) FROM dms.instances), "
          "(SELECT count(*) FROM dms.subnet_groups), "
          "(SELECT coalesce(max(jsonb_array_length(doc->'Subnets')), 0) FROM dms.subnet_groups), "
          "(SELECT count(*) FROM dms.endpoints), (SELECT count(*) FROM dms.tasks), "
          "(SELECT coalesce(max(n), 0) FROM (SELECT count(DISTINCT e) AS n FROM dms.tasks, "
          "LATERAL (VALUES (source_arn), (target_arn)) AS v(e) GROUP BY instance_arn) AS per)",
          {}));
  std::vector<int64_t> used;
  for (int i = 0; i < static_cast<int>(std::size(kQuotaNames)); ++i) {
    used.push_back(std::stoll(std::string(r.Get(0, i))));
  }
  return used;
}

// "c" and 11 digits, the same for an account and region on every call (FNV-1a of both).
std::string UniqueAccountIdentifier(const CallContext& ctx) {
  uint64_t h = 14695981039346656037ull;
  for (char c : ctx.account_id + "/" + ctx.region) {
    h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  }
  char out[16];
  std::snprintf(out, sizeof out, "c%011llu", static_cast<unsigned long long>(h % 100000000000ull));
  return out;
}

}  // namespace

Result<Json> DmsService::Impl::DescribeAccountAttributes(const CallContext& ctx) {
  ASSIGN_OR_RETURN(auto conn, catalog_.Acquire());
  ASSIGN_OR_RETURN(std::vector<int64_t> used, QuotaUsage(*conn));
  const std::vector<int64_t> max = QuotaMaxima(options_.quotas);
  Json quotas = Json::array();
  for (size_t i = 0; i < used.size(); ++i) {
    quotas.push_back({{"AccountQuotaName", kQuotaNames[i]}, {"Used", used[i]}, {"Max", max[i]}});
  }
  return Json{{"AccountQuotas", quotas}, {"UniqueAccountIdentifier", UniqueAccountIdentifier(ctx)}};
}

Status DmsService::Impl::CheckQuota(pg::Connection& conn, std::string_view quota, int64_t adding,
                                    std::string_view what) {
  const size_t i = std::find(std::begin(kQuotaNames), std::end(kQuotaNames), quota) -
                   std::begin(kQuotaNames);
  ASSIGN_OR_RETURN(std::vector<int64_t> used, QuotaUsage(conn));
  const int64_t max = QuotaMaxima(options_.quotas).at(i);
  if (adding <= 0 || used.at(i) + adding <= max) return Status::Ok();
  std::string msg = std::string(what) + " would pass the account's " + std::string(quota) +
                    " quota: " + std::to_string(used[i]) + " of " + std::to_string(max) +
                    " used, " + std::to_string(adding) + " more asked for (see "
                    "DescribeAccountAttributes)";
  return quota == "AllocatedStorage" ? StorageQuotaFault(std::move(msg))
                                     : QuotaExceededFault(std::move(msg));
}

Status DmsService::Impl::CheckEndpointsPerInstance(pg::Connection& conn,
                                                   const std::string& instance_arn,
                                                   const std::string& source_arn,
                                                   const std::string& target_arn,
                                                   const std::string& moving_task) {
  ASSIGN_OR_RETURN(
      auto r, conn.Query("SELECT count(DISTINCT e) FROM (SELECT source_arn AS e FROM dms.tasks "
                         "WHERE instance_arn = $1 AND arn <> $4 UNION SELECT target_arn FROM "
                         "dms.tasks WHERE instance_arn = $1 AND arn <> $4 UNION SELECT $2 UNION "
                         "SELECT $3) AS used",
                         {instance_arn, source_arn, target_arn, moving_task}));
  const int64_t n = std::stoll(std::string(r.Get(0, 0)));
  const int64_t max = options_.quotas.endpoints_per_instance;
  if (n <= max) return Status::Ok();
  return QuotaExceededFault("The replication instance's tasks would use " + std::to_string(n) +
                            " endpoints, past the account's EndpointsPerInstance quota of " +
                            std::to_string(max) + " (see DescribeAccountAttributes)");
}

// --- replication instances --------------------------------------------------------------------

Result<Json> DmsService::Impl::CreateReplicationInstance(const Json& in, const CallContext& ctx) {
  ASSIGN_OR_RETURN(std::string id, RequiredString(in, "ReplicationInstanceIdentifier"));
  RETURN_IF_ERROR(ValidIdentifier(id, "ReplicationInstanceIdentifier", 63));
  id = ToLower(id);
  ASSIGN_OR_RETURN(std::string klass, RequiredString(in, "ReplicationInstanceClass"));
  if (FindInstanceClass(klass) == nullptr) {
    return InvalidParameter("ReplicationInstanceClass " + klass +
                            " is not a replication instance class (see "
                            "DescribeOrderableReplicationInstances)");
  }
  ASSIGN_OR_RETURN(auto storage, OptionalInt(in, "AllocatedStorage"));
  if (storage && (*storage < 5 || *storage > 6144)) {
    return InvalidParameter("AllocatedStorage must be between 5 and 6144 GB; got " +
                            std::to_string(*storage));
  }
  ASSIGN_OR_RETURN(auto multi_az, OptionalBool(in, "MultiAZ"));
  ASSIGN_OR_RETURN(auto az, OptionalString(in, "AvailabilityZone"));
  if (multi_az.value_or(false) && az) {
    return InvalidCombination("AvailabilityZone cannot be given when MultiAZ is true");
  }
  ASSIGN_OR_RETURN(auto version, OptionalString(in, "EngineVersion"));
  ASSIGN_OR_RETURN(auto auto_minor, OptionalBool(in, "AutoMinorVersionUpgrade"));
  ASSIGN_OR_RETURN(auto publicly, OptionalBool(in, "PubliclyAccessible"));
  ASSIGN_OR_RETURN(auto window, OptionalString(in, "PreferredMaintenanceWindow"));
  ASSIGN_OR_RETURN(auto kms, OptionalString(in, "KmsKeyId"));
  ASSIGN_OR_RETURN(auto network, OptionalString(in, "NetworkType"));
  ASSIGN_OR_RETURN(auto resource_id, OptionalString(in, "ResourceIdentifier"));
  if (resource_id) RETURN_IF_ERROR(ValidIdentifier(*resource_id, "ResourceIdentifier", 31));
  RETURN_IF_ERROR(ParseTags(in, /*required=*/false).status());

  const std::string arn = NewArn(ctx, "rep", in);
  Json doc;
  doc["ReplicationInstanceClass"] = klass;
  doc["AllocatedStorage"] = storage.value_or(IncludedStorageGb(*FindInstanceClass(klass)));
  doc["InstanceCreateTime"] = NowSeconds();
  Json groups = Json::array();
  if (in.contains("VpcSecurityGroupIds") && in["VpcSecurityGroupIds"].is_array()) {
    for (const Json& g : in["VpcSecurityGroupIds"]) {
      groups.push_back({{"VpcSecurityGroupId", g}, {"Status", "active"}});
    }
  }
  if (groups.empty()) groups.push_back({{"VpcSecurityGroupId", "sg-opendms"}, {"Status", "active"}});
  doc["VpcSecurityGroups"] = groups;
  doc["AvailabilityZone"] = az.value_or(ctx.region + "a");
  doc["ReplicationSubnetGroup"] = DefaultSubnetGroupDoc(ctx.region);
  doc["PreferredMaintenanceWindow"] = window.value_or("sun:06:00-sun:06:30");
  doc["PendingModifiedValues"] = Json::object();
  doc["MultiAZ"] = multi_az.value_or(false);
  doc["EngineVersion"] = version.value_or(std::string(kEngineVersion));
  doc["AutoMinorVersionUpgrade"] = auto_minor.value_or(true);
  doc["KmsKeyId"] = kms.value_or("arn:aws:kms:" + ctx.region + ":" + ctx.account_id +
                                 ":alias/aws/dms");
  doc["ReplicationInstanceArn"] = arn;
  doc["ReplicationInstancePrivateIpAddress"] = "127.0.0.1";
  doc["ReplicationInstancePublicIpAddresses"] = Json::array();
  doc["ReplicationInstancePrivateIpAddresses"] = Json::array({"127.0.0.1"});
  doc["ReplicationInstanceIpv6Addresses"] = Json::array();
  doc["PubliclyAccessible"] = publicly.value_or(true);
  doc["FreeUntil"] = NowSeconds() + 365 * 86400.0;
  if (in.contains("DnsNameServers")) doc["DnsNameServers"] = in["DnsNameServers"];
  doc["NetworkType"] = network.value_or("IPV4");

  ASSIGN_OR_RETURN(auto conn, catalog_.Acquire());
  ASSIGN_OR_RETURN(auto group_id, OptionalString(in, "ReplicationSubnetGroupIdentifier"));
  if (group_id && ToLower(*group_id) != kDefaultSubnetGroup) {
    ASSIGN_OR_RETURN(auto g, conn->Query("SELECT doc FROM dms.subnet_groups WHERE identifier = $1",
                                         {ToLower(*group_id)}));
    if (g.rows() == 0) {
      return NotFoundFault("Replication subnet group " + *group_id + " not found");
    }
    doc["ReplicationSubnetGroup"] = Json::parse(g.Get(0, 0));
    if (!az) {
      doc["AvailabilityZone"] =
          doc["ReplicationSubnetGroup"]["Subnets"][0]["SubnetAvailabilityZone"]["Name"];
    }
  }
  std::lock_guard quota_lock(quota_mu_);
  RETURN_IF_ERROR(CheckQuota(*conn, "ReplicationInstances", 1, "Replication instance " + id));
  RETURN_IF_ERROR(CheckQuota(*conn, "AllocatedStorage", doc.value("AllocatedStorage", int64_t{0}),
                             "The storage of replication instance " + id));
  auto r = conn->Query(
      "INSERT INTO dms.instances (arn, identifier, status, settle_at, settle_to, doc) VALUES "
      "($1, $2, 'creating', $3, 'available', $4) ON CONFLICT DO NOTHING",
      {arn, id, std::to_string(SettleAt()), doc.dump()});
  if (!r.ok()) return r.status();
  if (r->AffectedRows() == 0) {
    return AlreadyExistsFault("Replication instance " + id + " already exists");
  }
  RETURN_IF_ERROR(SaveTags(*conn, arn, in));
  return Json{{"ReplicationInstance", InstanceShape({arn, id, "creating", doc})}};
}

Result<Json> DmsService::Impl::DescribeReplicationInstances(const Json& in) {
  ASSIGN_OR_RETURN(auto filters, ParseFilters(in, {"replication-instance-arn",
                                                   "replication-instance-id",
                                                   "replication-instance-class",
                                                   "engine-version"}));
  ASSIGN_OR_RETURN(Paging paging, ParsePaging(in));
  ASSIGN_OR_RETURN(auto conn, catalog_.Acquire());
  ASSIGN_OR_RETURN(auto all, LoadInstances(*conn));
  std::vector<Json> items;
  for (const InstanceRecord& r : all) {
    auto value_of = [&](std::string_view name) -> std::vector<std::string> {
      if (name == "replication-instance-arn") return {r.arn};
      if (name == "replication-instance-id") return {r.identifier};
      if (name == "replication-instance-class") return {r.doc.value("ReplicationInstanceClass", "")};
      return {r.doc.value("EngineVersion", "")};
    };
    if (Matches(filters, value_of)) items.push_back(InstanceShape(r));
  }
  if (items.empty() && !filters.empty()) {
    return NotFoundFault("No replication instance matches the filters");
  }
  return Page(std::move(items), paging, "ReplicationInstances");
}

Result<Json> DmsService::Impl::ModifyReplicationInstance(const Json& in) {
  ASSIGN_OR_RETURN(std::string arn, RequiredString(in, "ReplicationInstanceArn"));
  ASSIGN_OR_RETURN(auto conn, catalog_.Acquire());
  ASSIGN_OR_RETURN(InstanceRecord rec, LoadInstance(*conn, arn));
  if (rec.status != "available") {
    return InvalidStateFault("Replication instance " + rec.identifier + " is " + rec.status +
                             "; it can be modified only when available");
  }
  ASSIGN_OR_RETURN(auto klass, OptionalString(in, "ReplicationInstanceClass"));
  if (klass && FindInstanceClass(*klass) == nullptr) {
    return InvalidParameter("ReplicationInstanceClass " + *klass +
                            " is not a replication instance class");
  }
  ASSIGN_OR_RETURN(auto storage, OptionalInt(in, "AllocatedStorage"));
  if (storage && (*storage < 5 || *storage > 6144)) {
    return InvalidParameter("AllocatedStorage must be between 5 and 6144 GB");
  }
  ASSIGN_OR_RETURN(auto apply_now, OptionalBool(in, "ApplyImmediately"));
  ASSIGN_OR_RETURN(auto new_id, OptionalString(in, "ReplicationInstanceIdentifier"));
  if (new_id) {
    RETURN_IF_ERROR(ValidIdentifier(*new_id, "ReplicationInstanceIdentifier", 63));
    *new_id = ToLower(*new_id);
  }
  std::unique_lock quota_lock(quota_mu_, std::defer_lock);
  if (storage) {
    quota_lock.lock();
    RETURN_IF_ERROR(CheckQuota(*conn, "AllocatedStorage",
                               *storage - rec.doc.value("AllocatedStorage", int64_t{0}),
                               "The storage of replication instance " + rec.identifier));
  }
  // Changes that need the instance replaced wait for the maintenance window unless
  // ApplyImmediately; the rest apply at once, as on AWS.
  Json pending = rec.doc.value("PendingModifiedValues", Json::object());
  Json changes;
  if (klass) changes["ReplicationInstanceClass"] = *klass;
  if (storage) changes["AllocatedStorage"] = *storage;
  for (const char* k : {"MultiAZ", "EngineVersion", "NetworkType"}) {
    if (in.contains(k)) changes[k] = in[k];
  }
  bool modifying = false;
  const std::string old_class = rec.doc.value("ReplicationInstanceClass", "");
  if (apply_now.value_or(false)) {
    for (auto& [k, v] : pending.items()) rec.doc[k] = v;
    for (auto& [k, v] : changes.items()) rec.doc[k] = v;
    pending = Json::object();
    modifying = !changes.empty();
  } else {
    for (auto& [k, v] : changes.items()) pending[k] = v;
  }
  rec.doc["PendingModifiedValues"] = pending;
  for (const char* k : {"AutoMinorVersionUpgrade", "PreferredMaintenanceWindow"}) {
    if (in.contains(k)) rec.doc[k] = in[k];
  }
  if (new_id) rec.identifier = *new_id;
  const std::string status = modifying ? "modifying" : rec.status;
  const double available_at = SettleAt();
  auto r = conn->Query(
      "UPDATE dms.instances SET identifier = $2, doc = $3, status = $4, settle_at = $5, "
      "settle_to = $6 WHERE arn = $1",
      {arn, rec.identifier, rec.doc.dump(), status,
       modifying ? std::optional<std::string>(std::to_string(available_at)) : std::nullopt,
       modifying ? std::optional<std::string>("available") : std::nullopt});
  if (!r.ok()) {
    if (pg::SqlState(r.status()) == "23505") {
      return AlreadyExistsFault("Replication instance " + rec.identifier + " already exists");
    }
    return r.status();
  }
  rec.status = status;
  if (apply_now.value_or(false)) {
    const std::string new_class = rec.doc.value("ReplicationInstanceClass", "");
    {
      // The pool follows the class at once.
      const InstanceClass* now = FindInstanceClass(new_class);
      std::lock_guard lock(mu_);
      if (now != nullptr) slot_limits_[arn] = now->concurrent_tasks;
      cv_.notify_all();
    }
    // A new class replaces the instance, as on AWS: its tasks stop at a checkpoint and resume
    // once it is available, with the new class's subtasks and buffers.
    if (new_class != old_class) {
      RebootRuns(arn, available_at,
                 "the class change of its replication instance (" + old_class + " to " +
                     new_class + ")");
    }
  }
  return Json{{"ReplicationInstance", InstanceShape(rec)}};
}

Result<Json> DmsService::Impl::DeleteReplicationInstance(const Json& in) {
  ASSIGN_OR_RETURN(std::string arn, RequiredString(in, "ReplicationInstanceArn"));
  ASSIGN_OR_RETURN(auto conn, catalog_.Acquire());
  ASSIGN_OR_RETURN(InstanceRecord rec, LoadInstance(*conn, arn));
  ASSIGN_OR_RETURN(auto tasks, LoadTasks(*conn, "instance_arn = $1 OR target_instance_arn = $1",
                                         {arn}));
  if (!tasks.empty()) {
    return InvalidStateFault("Replication instance " + rec.identifier + " has " +
                             std::to_string(tasks.size()) +
                             " replication task(s) (e.g. " + tasks[0].identifier +
                             "); delete them first");
  }
  if (rec.status == "deleting") {
    return InvalidStateFault("Replication instance " + rec.identifier + " is already deleting");
  }
  RETURN_IF_ERROR(conn->Query("UPDATE dms.instances SET status = 'deleting', settle_at = $2, "
                              "settle_to = 'deleted' WHERE arn = $1",
                              {arn, std::to_string(SettleAt())})
                      .status());
  RETURN_IF_ERROR(
      conn->Query("DELETE FROM dms.connections WHERE instance_arn = $1", {arn}).status());
  rec.status = "deleting";
  return Json{{"ReplicationInstance", InstanceShape(rec)}};
}

Result<Json> DmsService::Impl::RebootReplicationInstance(const Json& in) {
  ASSIGN_OR_RETURN(std::string arn, RequiredString(in, "ReplicationInstanceArn"));
  ASSIGN_OR_RETURN(auto force, OptionalBool(in, "ForceFailover"));
  ASSIGN_OR_RETURN(auto force_planned, OptionalBool(in, "ForcePlannedFailover"));
  ASSIGN_OR_RETURN(auto conn, catalog_.Acquire());
  ASSIGN_OR_RETURN(InstanceRecord rec, LoadInstance(*conn, arn));
  if (force.value_or(false) && force_planned.value_or(false)) {
    return InvalidCombination("ForceFailover and ForcePlannedFailover cannot both be true");
  }
  // AWS: "If the instance isn't configured for Multi-AZ, then you can't specify true."
  if ((force.value_or(false) || force_planned.value_or(false)) &&
      !rec.doc.value("MultiAZ", false)) {
    return InvalidCombination(
        std::string(force.value_or(false) ? "ForceFailover" : "ForcePlannedFailover") +
        " needs a MultiAZ replication instance; " + rec.identifier + " is single-AZ");
  }
  if (rec.status != "available") {
    return InvalidStateFault("Replication instance " + rec.identifier + " is " + rec.status +
                             "; it can be rebooted only when available");
  }
  // Modifications deferred with ApplyImmediately=false are applied by the reboot (AWS applies
  // them in the maintenance window or at a reboot); the resumed tasks run with them.
  Json pending = rec.doc.value("PendingModifiedValues", Json::object());
  for (auto& [k, v] : pending.items()) rec.doc[k] = v;
  rec.doc["PendingModifiedValues"] = Json::object();
  const double available_at = SettleAt();
  RETURN_IF_ERROR(conn->Query("UPDATE dms.instances SET status = 'rebooting', doc = $3, "
                              "settle_at = $2, settle_to = 'available' WHERE arn = $1",
                              {arn, std::to_string(available_at), rec.doc.dump()})
                      .status());
  {
    std::lock_guard lock(mu_);
    if (const InstanceClass* klass =
            FindInstanceClass(rec.doc.value("ReplicationInstanceClass", ""))) {
      slot_limits_[arn] = klass->concurrent_tasks;
    }
  }
  RebootRuns(arn, available_at, "the reboot of its replication instance");
  rec.status = "rebooting";
  return Json{{"ReplicationInstance", InstanceShape(rec)}};
}

Result<Json> DmsService::Impl::DescribeOrderableReplicationInstances(const Json& in) {
  ASSIGN_OR_RETURN(Paging paging, ParsePaging(in, 1000));
  std::vector<Json> items;
  for (const InstanceClass& c : InstanceClasses()) {
    const int included = IncludedStorageGb(c);
    items.push_back({{"EngineVersion", kEngineVersion},
                     {"ReplicationInstanceClass", c.name},
                     {"StorageType", "gp2"},
                     {"MinAllocatedStorage", 5},
                     {"MaxAllocatedStorage", 6144},
                     {"DefaultAllocatedStorage", included},
                     {"IncludedAllocatedStorage", included},
                     {"AvailabilityZones", Json::array({options_.context.region + "a",
                                                        options_.context.region + "b",
                                                        options_.context.region + "c"})}});
  }
  return Page(std::move(items), paging, "OrderableReplicationInstances");
}

// --- endpoints --------------------------------------------------------------------------------

Result<Json> DmsService::Impl::CreateEndpoint(const Json& in, const CallContext& ctx) {
  ASSIGN_OR_RETURN(std::string id, RequiredString(in, "EndpointIdentifier"));
  RETURN_IF_ERROR(ValidIdentifier(id, "EndpointIdentifier", 255));
  ASSIGN_OR_RETURN(std::string type, RequiredString(in, "EndpointType"));
  ASSIGN_OR_RETURN(std::string engine_name, RequiredString(in, "EngineName"));
  ASSIGN_OR_RETURN(auto resource_id, OptionalString(in, "ResourceIdentifier"));
  if (resource_id) RETURN_IF_ERROR(ValidIdentifier(*resource_id, "ResourceIdentifier", 31));
  RETURN_IF_ERROR(ParseTags(in, /*required=*/false).status());
  const std::string arn = NewArn(ctx, "endpoint", in);
  ASSIGN_OR_RETURN(Json doc, EndpointDoc(arn, in));
  Json input = in;
  input.erase("Tags");
  ASSIGN_OR_RETURN(Json sealed, SealInput(arn, input, Json::object()));
  ASSIGN_OR_RETURN(auto conn, catalog_.Acquire());
  std::lock_guard quota_lock(quota_mu_);
  RETURN_IF_ERROR(CheckQuota(*conn, "Endpoints", 1, "Endpoint " + id));
  auto r = conn->Query(
      "INSERT INTO dms.endpoints (arn, identifier, doc, input, "
      "sealed_passwords) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
      {arn, id, doc.dump(), input.dump(), sealed.dump()});
  if (!r.ok()) return r.status();
  if (r->AffectedRows() == 0) return AlreadyExistsFault("Endpoint " + id + " already exists");
  RETURN_IF_ERROR(SaveTags(*conn, arn, in));
  return Json{{"Endpoint", doc}};
}

Result<Json> DmsService::Impl::DescribeEndpointTypes(const Json& in) {
  ASSIGN_OR_RETURN(auto filters, ParseFilters(in, {"engine-name", "endpoint-type"}));
  ASSIGN_OR_RETURN(Paging paging, ParsePaging(in));
  std::vector<Json> items;
  for (const auto& [engine, type] : kSupportedEndpointTypes) {
    auto value_of = [&](std::string_view name) {
      return std::vector<std::string>{name == "engine-name" ? engine : type};
    };
    if (!Matches(filters, value_of, /*case_insensitive_values=*/true)) continue;
    items.push_back({{"EngineName", engine},
                     // S3 sources replicate change files; targets apply changes.
                     {"SupportsCDC", true},
                     {"EndpointType", type},
                     {"ReplicationInstanceEngineMinimumVersion", kEngineVersion},
                     {"EngineDisplayName", EngineDisplayName(engine)}});
  }
  return Page(std::move(items), paging, "SupportedEndpointTypes");
}

Result<Json> DmsService::Impl::DescribeEndpoints(const Json& in) {
  ASSIGN_OR_RETURN(auto filters,
                   ParseFilters(in, {"endpoint-arn", "endpoint-type", "endpoint-id", "engine-name"}));
  ASSIGN_OR_RETURN(Paging paging, ParsePaging(in));
  ASSIGN_OR_RETURN(auto conn, catalog_.Acquire());
  ASSIGN_OR_RETURN(auto all, LoadEndpoints(*conn));
  std::vector<Json> items;
  for (const EndpointRecord& r : all) {
    auto value_of = [&](std::string_view name) -> std::vector<std::string> {
      if (name == "endpoint-arn") return {r.arn};
      if (name == "endpoint-type") return {r.doc.value("EndpointType", "")};
      if (name == "endpoint-id") return {r.identifier};
      return {r.doc.value("EngineName", "")};
    };
    if (Matches(filters, value_of, /*case_insensitive_values=*/true)) items.push_back(r.doc);
  }
  if (items.empty() && !filters.empty()) return NotFoundFault("No endpoint matches the filters");
  return Page(std::move(items), paging, "Endpoints");
}

Result<Json> DmsService::Impl::ModifyEndpoint(const Json& in) {
  ASSIGN_OR_RETURN(std::string arn, RequiredString(in, "EndpointArn"));
  ASSIGN_OR_RETURN(auto exact, OptionalBool(in, "ExactSettings"));
  ASSIGN_OR_RETURN(auto conn, catalog_.Acquire());
  ASSIGN_OR_RETURN(EndpointRecord rec, LoadEndpoint(*conn, arn));
  ASSIGN_OR_RETURN(auto users,
                   LoadTasks(*conn, "(source_arn = $1 OR target_arn = $1) AND status IN "
                                    "('starting', 'running', 'stopping')",
                             {arn}));
  if (!users.empty()) {
    return InvalidStateFault("Endpoint " + rec.identifier + " is used by running task " +
                             users[0].identifier + "; stop it first");
  }
  Json input = MergeEndpointInput(rec.input, in, exact.value_or(false));
  Json sealed = rec.sealed_passwords;
  if (exact.value_or(false) && sealed.contains("Fields")) {
    // Settings replaced whole: a sealed password of a replaced settings object goes with it.
    for (auto& [k, v] : in.items()) {
      if (v.is_object()) sealed["Fields"].erase(k + "/Password");
    }
  }
  if (input.contains("EndpointIdentifier")) {
    ASSIGN_OR_RETURN(std::string id, RequiredString(input, "EndpointIdentifier"));
    RETURN_IF_ERROR(ValidIdentifier(id, "EndpointIdentifier", 255));
  }
  // Validated with the sealed passwords present but not opened: an endpoint whose master key
  // was lost can still be given a new password.
  ASSIGN_OR_RETURN(Json doc, EndpointDoc(arn, WithSealedPlaceholders(input, sealed)));
  ASSIGN_OR_RETURN(sealed, SealInput(arn, input, sealed));
  auto r = conn->Query(
      "UPDATE dms.endpoints SET identifier = $2, doc = $3, input = $4, "
      "sealed_passwords = $5 WHERE arn = $1",
      {arn, input.value("EndpointIdentifier", rec.identifier), doc.dump(), input.dump(),
       sealed.dump()});
  if (!r.ok()) {
    if (pg::SqlState(r.status()) == "23505") {
      return AlreadyExistsFault("Endpoint " + input.value("EndpointIdentifier", "") +
                                " already exists");
    }
    return r.status();
  }
  return Json{{"Endpoint", doc}};
}

Result<Json> DmsService::Impl::DeleteEndpoint(const Json& in) {
  ASSIGN_OR_RETURN(std::string arn, RequiredString(in, "EndpointArn"));
  ASSIGN_OR_RETURN(auto conn, catalog_.Acquire());
  ASSIGN_OR_RETURN(EndpointRecord rec, LoadEndpoint(*conn, arn));
  ASSIGN_OR_RETURN(auto users, LoadTasks(*conn, "source_arn = $1 OR target_arn = $1", {arn}));
  if (!users.empty()) {
    return InvalidStateFault("Endpoint " + rec.identifier + " is used by replication task " +
                             users[0].identifier + "; delete the task first");
  }
  RETURN_IF_ERROR(conn->Execute("BEGIN"));
  Status st = conn->Query("DELETE FROM dms.endpoints WHERE arn = $1", {arn}).status();
  if (st.ok()) st = conn->Query("DELETE FROM dms.connections WHERE endpoint_arn = $1", {arn}).status();
  if (st.ok()) st = conn->Query("DELETE FROM dms.schemas WHERE endpoint_arn = $1", {arn}).status();
  if (st.ok()) st = conn->Query("DELETE FROM dms.tags WHERE resource_arn = $1", {arn}).status();
  if (st.ok()) st = conn->Execute("COMMIT");
  if (!st.ok()) {
    (void)conn->Execute("ROLLBACK");
    return st;
  }
  rec.doc["Status"] = "deleting";
  return Json{{"Endpoint", rec.doc}};
}

// --- replication tasks ------------------------------------------------------------------------

Result<Json> DmsService::Impl::CreateReplicationTask(const Json& in, const CallContext& ctx) {
  ASSIGN_OR_RETURN(std::string id, RequiredString(in, "ReplicationTaskIdentifier"));
  RETURN_IF_ERROR(ValidIdentifier(id, "ReplicationTaskIdentifier", 255));
  ASSIGN_OR_RETURN(std::string source_arn, RequiredString(in, "SourceEndpointArn"));
  ASSIGN_OR_RETURN(std::string target_arn, RequiredString(in, "TargetEndpointArn"));
  ASSIGN_OR_RETURN(std::string instance_arn, RequiredString(in, "ReplicationInstanceArn"));
  ASSIGN_OR_RETURN(std::string migration_type, RequiredString(in, "MigrationType"));
  ASSIGN_OR_RETURN(std::string mappings, RequiredString(in, "TableMappings"));
  ASSIGN_OR_RETURN(auto resource_id, OptionalString(in, "ResourceIdentifier"));
  if (resource_id) RETURN_IF_ERROR(ValidIdentifier(*resource_id, "ResourceIdentifier", 31));

  ASSIGN_OR_RETURN(auto conn, catalog_.Acquire());
  ASSIGN_OR_RETURN(EndpointRecord source, LoadEndpoint(*conn, source_arn));
  ASSIGN_OR_RETURN(EndpointRecord target, LoadEndpoint(*conn, target_arn));
  ASSIGN_OR_RETURN(InstanceRecord instance, LoadInstance(*conn, instance_arn));
  if (source.doc.value("EndpointType", "") != "SOURCE") {
    return InvalidParameter("SourceEndpointArn " + source_arn + " is a target endpoint");
  }
  if (target.doc.value("EndpointType", "") != "TARGET") {
    return InvalidParameter("TargetEndpointArn " + target_arn + " is a source endpoint");
  }
  if (instance.status == "deleting") {
    return InvalidStateFault("Replication instance " + instance.identifier + " is deleting");
  }
  RETURN_IF_ERROR(ParseTags(in, /*required=*/false).status());
  std::lock_guard quota_lock(quota_mu_);
  RETURN_IF_ERROR(CheckQuota(*conn, "ReplicationTasks", 1, "Replication task " + id));
  RETURN_IF_ERROR(CheckEndpointsPerInstance(*conn, instance_arn, source_arn, target_arn, ""));
  Json spec = in;
  spec.erase("Tags");
  spec.erase("ResourceIdentifier");
  auto def = engine::LoadTaskDefinition(
      WithSealedPlaceholders(source.input, source.sealed_passwords), target.input, spec);
  if (!def.ok()) return InvalidParameter(def.status().message());
  spec["TableMappings"] = def->task.table_mappings_json;
  if (def->task.user_settings_document.is_null()) {
    spec.erase("ReplicationTaskSettings");
  } else {
    spec["ReplicationTaskSettings"] = def->task.user_settings_document.dump();
  }
  const std::string arn = NewArn(ctx, "task", in);
  TaskRecord rec;
  rec.arn = arn;
  rec.identifier = id;
  rec.instance_arn = instance_arn;
  rec.source_arn = source_arn;
  rec.target_arn = target_arn;
  rec.status = "creating";
  rec.spec = spec;
  rec.settings_document = def->task.settings_document;
  rec.created = NowSeconds();
  auto r = conn->Query(
      "INSERT INTO dms.tasks (arn, identifier, instance_arn, source_arn, target_arn, status, "
      "settle_at, settle_to, spec, settings_document, created) VALUES ($1, $2, $3, $4, $5, "
      "'creating', $6, 'ready', $7, $8, $9) ON CONFLICT DO NOTHING",
      {arn, id, instance_arn, source_arn, target_arn, std::to_string(SettleAt()), spec.dump(),
       rec.settings_document.dump(), std::to_string(rec.created)});
  if (!r.ok()) return r.status();
  if (r->AffectedRows() == 0) {
    return AlreadyExistsFault("Replication task " + id + " already exists");
  }
  RETURN_IF_ERROR(SaveTags(*conn, arn, in));
  return Json{{"ReplicationTask", TaskShape(rec)}};
}

Result<Json> DmsService::Impl::DescribeReplicationTasks(const Json& in) {
  ASSIGN_OR_RETURN(auto filters,
                   ParseFilters(in, {"replication-task-arn", "replication-task-id",
                                     "migration-type", "endpoint-arn", "replication-instance-arn"}));
  ASSIGN_OR_RETURN(Paging paging, ParsePaging(in));
  ASSIGN_OR_RETURN(auto without_settings, OptionalBool(in, "WithoutSettings"));
  ASSIGN_OR_RETURN(auto conn, catalog_.Acquire());
  ASSIGN_OR_RETURN(auto all, LoadTasks(*conn));
  std::vector<Json> items;
  for (const TaskRecord& r : all) {
    auto value_of = [&](std::string_view name) -> std::vector<std::string> {
      if (name == "replication-task-arn") return {r.arn};
      if (name == "replication-task-id") return {r.identifier};
      if (name == "migration-type") return {r.spec.value("MigrationType", "")};
      if (name == "endpoint-arn") return {r.source_arn, r.target_arn};
      return {r.instance_arn};
    };
    if (Matches(filters, value_of)) items.push_back(TaskShape(r, !without_settings.value_or(false)));
  }
  if (items.empty() && !filters.empty()) {
    return NotFoundFault("No replication task matches the filters");
  }
  return Page(std::move(items), paging, "ReplicationTasks");
}

Result<Json> DmsService::Impl::ModifyReplicationTask(const Json& in) {
  ASSIGN_OR_RETURN(std::string arn, RequiredString(in, "ReplicationTaskArn"));
  ASSIGN_OR_RETURN(auto conn, catalog_.Acquire());
  ASSIGN_OR_RETURN(TaskRecord rec, LoadTask(*conn, arn));
  if (rec.status != "ready" && rec.status != "stopped" && rec.status != "failed") {
    return InvalidStateFault("Replication task " + rec.identifier + " is " + rec.status +
                             "; it can be modified only when ready, stopped or failed");
  }
  Json spec = rec.spec;
  for (const char* k : {"ReplicationTaskIdentifier", "MigrationType", "TableMappings",
                        "CdcStartPosition", "CdcStopPosition", "TaskData"}) {
    if (in.contains(k)) spec[k] = in[k];
  }
  if (in.contains("CdcStartTime")) {
    spec["CdcStartTime"] = in["CdcStartTime"];
    spec.erase("CdcStartPosition");
  }
  if (in.contains("CdcStartPosition")) spec.erase("CdcStartTime");
  if (in.contains("ReplicationTaskSettings")) {
    // The given settings merge over the task's current settings, as DMS does.
    ASSIGN_OR_RETURN(std::string text, RequiredString(in, "ReplicationTaskSettings"));
    ASSIGN_OR_RETURN(Json change, ParseJson(text, "ReplicationTaskSettings"));
    Json current = spec.contains("ReplicationTaskSettings")
                       ? ParseJson(spec["ReplicationTaskSettings"].get<std::string>(),
                                   "stored ReplicationTaskSettings")
                             .value()
                       : Json::object();
    current.merge_patch(change);
    spec["ReplicationTaskSettings"] = current.dump();
  }
  ASSIGN_OR_RETURN(std::string id, RequiredString(spec, "ReplicationTaskIdentifier"));
  RETURN_IF_ERROR(ValidIdentifier(id, "ReplicationTaskIdentifier", 255));
  ASSIGN_OR_RETURN(EndpointRecord source, LoadEndpoint(*conn, rec.source_arn));
  ASSIGN_OR_RETURN(EndpointRecord target, LoadEndpoint(*conn, rec.target_arn));
  auto def = engine::LoadTaskDefinition(
      WithSealedPlaceholders(source.input, source.sealed_passwords), target.input, spec);
  if (!def.ok()) return InvalidParameter(def.status().message());
  spec["TableMappings"] = def->task.table_mappings_json;
  auto r = conn->Query(
      "UPDATE dms.tasks SET identifier = $2, spec = $3, settings_document = $4, status = "
      "'modifying', settle_at = $5, settle_to = status WHERE arn = $1",
      {arn, id, spec.dump(), def->task.settings_document.dump(), std::to_string(SettleAt())});
  if (!r.ok()) {
    if (pg::SqlState(r.status()) == "23505") {
      return AlreadyExistsFault("Replication task " + id + " already exists");
    }
    return r.status();
  }
  rec.identifier = id;
  rec.spec = spec;
  rec.settings_document = def->task.settings_document;
  rec.status = "modifying";
  return Json{{"ReplicationTask", TaskShape(rec)}};
}

Result<Json> DmsService::Impl::DeleteReplicationTask(const Json& in) {
  ASSIGN_OR_RETURN(std::string arn, RequiredString(in, "ReplicationTaskArn"));
  ASSIGN_OR_RETURN(auto conn, catalog_.Acquire());
  ASSIGN_OR_RETURN(TaskRecord rec, LoadTask(*conn, arn));
  if (TaskIsActive(rec.status) || rec.status == "deleting" || rec.status == "modifying" ||
      rec.status == "creating") {
    return InvalidStateFault("Replication task " + rec.identifier + " is " + rec.status +
                             "; stop it before deleting it");
  }
  RETURN_IF_ERROR(conn->Query("UPDATE dms.tasks SET status = 'deleting', settle_at = $2, "
                              "settle_to = 'deleted', run_desired = false WHERE arn = $1",
                              {arn, std::to_string(SettleAt())})
                      .status());
  rec.status = "deleting";
  return Json{{"ReplicationTask", TaskShape(rec)}};
}

Result<Json> DmsService::Impl::StartReplicationTask(const Json& in, const CallContext& ctx) {
  ASSIGN_OR_RETURN(std::string arn, RequiredString(in, "ReplicationTaskArn"));
  ASSIGN_OR_RETURN(std::string type_text, RequiredString(in, "StartReplicationTaskType"));
  auto type = engine::ParseStartType(type_text);
  if (!type.ok()) return InvalidParameter(type.status().message());
  ASSIGN_OR_RETURN(auto conn, catalog_.Acquire());
  ASSIGN_OR_RETURN(TaskRecord rec, LoadTask(*conn, arn));
  if (rec.status != "ready" && rec.status != "stopped" && rec.status != "failed") {
    return InvalidStateFault("Replication task " + rec.identifier + " is " + rec.status +
                             "; it can be started only when ready, stopped or failed");
  }
  if (!rec.ever_started && *type != engine::StartType::kStartReplication) {
    return InvalidCombination("Start Type : " + type_text +
                              ", valid only for tasks that ran before; start task " +
                              rec.identifier + " with start-replication");
  }
  if (rec.ever_started && *type == engine::StartType::kStartReplication) {
    return InvalidCombination(
        "Start Type : START_REPLICATION, valid only for tasks running for the first time; "
        "use resume-processing or reload-target for task " + rec.identifier);
  }
  ASSIGN_OR_RETURN(InstanceRecord instance, LoadInstance(*conn, rec.instance_arn));
  if (instance.status != "available") {
    return InvalidStateFault("Replication instance " + instance.identifier + " is " +
                             instance.status + "; tasks start only on an available instance");
  }
  // The start call's CDC positions replace the task's, and Describe shows them from now on.
  Json spec = rec.spec;
  if (in.contains("CdcStartTime") && in.contains("CdcStartPosition")) {
    return InvalidCombination("CdcStartTime and CdcStartPosition cannot both be given");
  }
  if (in.contains("CdcStartTime")) {
    spec["CdcStartTime"] = in["CdcStartTime"];
    spec.erase("CdcStartPosition");
  }
  if (in.contains("CdcStartPosition")) {
    spec["CdcStartPosition"] = in["CdcStartPosition"];
    spec.erase("CdcStartTime");
  }
  if (in.contains("CdcStopPosition")) spec["CdcStopPosition"] = in["CdcStopPosition"];
  if (spec != rec.spec) {
    ASSIGN_OR_RETURN(EndpointRecord source, LoadEndpoint(*conn, rec.source_arn));
    ASSIGN_OR_RETURN(EndpointRecord target, LoadEndpoint(*conn, rec.target_arn));
    auto def = engine::LoadTaskDefinition(
      WithSealedPlaceholders(source.input, source.sealed_passwords), target.input, spec);
    if (!def.ok()) return InvalidParameter(def.status().message());
  }
  Json run = Json::object();
  run["ReplicationTaskStartDate"] = NowSeconds();
  if (rec.run.contains("RecoveryCheckpoint")) run["RecoveryCheckpoint"] = rec.run["RecoveryCheckpoint"];
  if (rec.run.contains("ReplicationTaskStats")) {
    run["ReplicationTaskStats"] = rec.run["ReplicationTaskStats"];
  }
  RETURN_IF_ERROR(conn->Query("UPDATE dms.tasks SET status = 'starting', spec = $2, run = $3, "
                              "ever_started = true, run_desired = true, last_start_type = $4 "
                              "WHERE arn = $1 AND status = $5",
                              {arn, spec.dump(), run.dump(), type_text, rec.status})
                      .status());
  rec.spec = spec;
  rec.run = run;
  rec.status = "starting";
  rec.ever_started = true;
  RETURN_IF_ERROR(AppendLog(*conn, arn,
                            {LogLine("TASK_MANAGER", 'I',
                                     "Task '" + rec.identifier + "' starting (" + type_text +
                                         ") on replication instance " + instance.identifier)}));
  Status st = Launch(rec, *type, std::nullopt, ctx);
  if (!st.ok()) return st;
  return Json{{"ReplicationTask", TaskShape(rec)}};
}

Result<Json> DmsService::Impl::StopReplicationTask(const Json& in) {
  ASSIGN_OR_RETURN(std::string arn, RequiredString(in, "ReplicationTaskArn"));
  ASSIGN_OR_RETURN(auto conn, catalog_.Acquire());
  ASSIGN_OR_RETURN(TaskRecord rec, LoadTask(*conn, arn));
  if (rec.status != "running" && rec.status != "starting") {
    return InvalidStateFault("Replication task " + rec.identifier + " is " + rec.status +
                             "; only a running task can be stopped");
  }
  Run* run = nullptr;
  {
    std::lock_guard lock(mu_);
    auto it = runs_.find(arn);
    if (it != runs_.end() && !it->second->finished) run = it->second.get();
    if (run != nullptr) {
      std::lock_guard publish(run->publish_mu);
      run->stop_requested = true;
      if (run->task) run->task->RequestStop();
      run->wake->Notify();
      cv_.notify_all();  // a run waiting for a slot gives up
      // Written under publish_mu so a monitor publish cannot put "running" back after it.
      RETURN_IF_ERROR(conn->Query("UPDATE dms.tasks SET status = 'stopping', run_desired = false "
                                  "WHERE arn = $1 AND status IN ('starting', 'running')",
                                  {arn})
                          .status());
    }
  }
  if (run == nullptr) {
    // The catalog says running but nothing runs here (the server died and Start() was not
    // called): record the stop.
    RETURN_IF_ERROR(conn->Query("UPDATE dms.tasks SET status = 'stopped', run_desired = false, "
                                "run = run || '{\"StopReason\": \"Stop Reason NORMAL\"}' WHERE "
                                "arn = $1",
                                {arn})
                        .status());
    rec.status = "stopped";
  } else {
    rec.status = "stopping";
  }
  RETURN_IF_ERROR(AppendLog(*conn, arn, {LogLine("TASK_MANAGER", 'I',
                                                 "Task '" + rec.identifier +
                                                     "' stop requested by StopReplicationTask")}));
  return Json{{"ReplicationTask", TaskShape(rec)}};
}

Result<Json> DmsService::Impl::MoveReplicationTask(const Json& in) {
  ASSIGN_OR_RETURN(std::string arn, RequiredString(in, "ReplicationTaskArn"));
  ASSIGN_OR_RETURN(std::string target_instance, RequiredString(in, "TargetReplicationInstanceArn"));
  ASSIGN_OR_RETURN(auto conn, catalog_.Acquire());
  ASSIGN_OR_RETURN(TaskRecord rec, LoadTask(*conn, arn));
  ASSIGN_OR_RETURN(InstanceRecord instance, LoadInstance(*conn, target_instance));
  if (rec.status != "ready" && rec.status != "stopped" && rec.status != "failed" &&
      rec.status != "failed-move") {
    return InvalidStateFault("Replication task " + rec.identifier + " is " + rec.status +
                             "; stop it before moving it");
  }
  if (instance.status != "available") {
    return InvalidStateFault("Replication instance " + instance.identifier + " is " +
                             instance.status);
  }
  if (target_instance == rec.instance_arn) {
    return InvalidParameter("Replication task " + rec.identifier + " is already on " +
                            instance.identifier);
  }
  std::lock_guard quota_lock(quota_mu_);
  RETURN_IF_ERROR(CheckEndpointsPerInstance(*conn, target_instance, rec.source_arn,
                                            rec.target_arn, rec.arn));
  const std::string settle_to = rec.status == "failed-move" ? "stopped" : rec.status;
  RETURN_IF_ERROR(conn->Query("UPDATE dms.tasks SET status = 'moving', settle_at = $2, "
                              "settle_to = $3, target_instance_arn = $4 WHERE arn = $1",
                              {arn, std::to_string(SettleAt()), settle_to, target_instance})
                      .status());
  rec.status = "moving";
  rec.target_instance_arn = target_instance;
  return Json{{"ReplicationTask", TaskShape(rec)}};
}

Result<Json> DmsService::Impl::ReloadTables(const Json& in, const CallContext& ctx) {
  (void)ctx;
  ASSIGN_OR_RETURN(std::string arn, RequiredString(in, "ReplicationTaskArn"));
  if (auto it = in.find("ReloadOption"); it != in.end() && !it->is_null()) {
    if (!it->is_string()) return InvalidParameter("ReloadOption must be a string");
    const std::string option = it->get<std::string>();
    if (option == "validate-only") {
      return InvalidParameter(
          "ReloadOption validate-only is not supported: opendms does not validate data "
          "(ValidationSettings); use data-reload");
    }
    if (option != "data-reload") {
      return InvalidParameter("ReloadOption must be data-reload or validate-only, got '" + option +
                              "'");
    }
  }
  auto list = in.find("TablesToReload");
  if (list == in.end() || list->is_null()) return InvalidParameter("TablesToReload is required");
  if (!list->is_array() || list->empty()) {
    return InvalidParameter("TablesToReload must be a non-empty list of {SchemaName, TableName}");
  }
  std::vector<engine::TableToReload> tables;
  for (size_t i = 0; i < list->size(); ++i) {
    const Json& item = (*list)[i];
    const std::string where = "TablesToReload[" + std::to_string(i) + "]";
    if (!item.is_object()) return InvalidParameter(where + " must be {SchemaName, TableName}");
    engine::TableToReload t;
    for (auto [field, value] :
         {std::pair{"SchemaName", &t.schema_name}, std::pair{"TableName", &t.table_name}}) {
      auto f = item.find(field);
      if (f == item.end() || !f->is_string() || f->get<std::string>().empty()) {
        return InvalidParameter(where + "." + field + " is required (a non-empty string)");
      }
      *value = f->get<std::string>();
    }
    tables.push_back(std::move(t));
  }
  ASSIGN_OR_RETURN(auto conn, catalog_.Acquire());
  ASSIGN_OR_RETURN(TaskRecord rec, LoadTask(*conn, arn));
  const std::string not_running = "Replication task " + rec.identifier + " is " + rec.status +
                                  "; tables can be reloaded only while it runs";
  if (rec.status != "running") return InvalidStateFault(not_running);
  Status st = InvalidStateFault(not_running);
  {
    std::lock_guard lock(mu_);
    auto it = runs_.find(arn);
    if (it != runs_.end()) {
      std::lock_guard publish(it->second->publish_mu);
      if (it->second->task) st = it->second->task->ReloadTables(tables);
    }
  }
  if (!st.ok()) {
    // Unknown tables name themselves; a task between states is not running.
    return st.IsInvalidArgument() ? InvalidParameter(st.message())
                                  : InvalidStateFault(st.message());
  }
  return Json{{"ReplicationTaskArn", arn}};
}

Result<Json> DmsService::Impl::DescribeTableStatistics(const Json& in) {
  ASSIGN_OR_RETURN(std::string arn, RequiredString(in, "ReplicationTaskArn"));
  ASSIGN_OR_RETURN(auto filters, ParseFilters(in, {"schema-name", "table-name", "table-state"}));
  ASSIGN_OR_RETURN(Paging paging, ParsePaging(in, 500));
  ASSIGN_OR_RETURN(auto conn, catalog_.Acquire());
  ASSIGN_OR_RETURN(TaskRecord rec, LoadTask(*conn, arn));
  Json stats = rec.table_stats;
  {
    // A run in flight has fresher figures than the last publish.
    std::lock_guard lock(mu_);
    auto it = runs_.find(arn);
    if (it != runs_.end()) {
      std::lock_guard publish(it->second->publish_mu);
      if (it->second->task) stats = TableStatisticsShape(it->second->task->Snapshot());
    }
  }
  std::vector<Json> items;
  for (const Json& t : stats) {
    auto value_of = [&](std::string_view name) -> std::vector<std::string> {
      if (name == "schema-name") return {t.value("SchemaName", "")};
      if (name == "table-name") return {t.value("TableName", "")};
      return {t.value("TableState", "")};
    };
    if (Matches(filters, value_of)) items.push_back(t);
  }
  Json out = Page(std::move(items), paging, "TableStatistics");
  Json result;
  result["ReplicationTaskArn"] = arn;
  result["TableStatistics"] = out["TableStatistics"];
  if (out.contains("Marker")) result["Marker"] = out["Marker"];
  return result;
}

Result<Json> DmsService::Impl::DescribeReplicationInstanceTaskLogs(const Json& in) {
  ASSIGN_OR_RETURN(std::string arn, RequiredString(in, "ReplicationInstanceArn"));
  ASSIGN_OR_RETURN(Paging paging, ParsePaging(in));
  ASSIGN_OR_RETURN(auto conn, catalog_.Acquire());
  ASSIGN_OR_RETURN(InstanceRecord instance, LoadInstance(*conn, arn));
  ASSIGN_OR_RETURN(auto r, conn->Query(
                               "SELECT t.identifier, t.arn, coalesce(sum(octet_length(l.line) + 1), "
                               "0) FROM dms.tasks t LEFT JOIN dms.task_logs l ON l.task_arn = "
                               "t.arn WHERE t.instance_arn = $1 GROUP BY t.identifier, t.arn, "
                               "t.seq ORDER BY t.seq",
                               {arn}));
  std::vector<Json> items;
  for (int i = 0; i < r.rows(); ++i) {
    items.push_back({{"ReplicationTaskName", std::string(r.Get(i, 0))},
                     {"ReplicationTaskArn", std::string(r.Get(i, 1))},
                     {"ReplicationInstanceTaskLogSize", std::stoll(std::string(r.Get(i, 2)))}});
  }
  Json out = Page(std::move(items), paging, "ReplicationInstanceTaskLogs");
  Json result;
  result["ReplicationInstanceArn"] = instance.arn;
  result["ReplicationInstanceTaskLogs"] = out["ReplicationInstanceTaskLogs"];
  if (out.contains("Marker")) result["Marker"] = out["Marker"];
  return result;
}

// --- replication subnet groups ----------------------------------------------------------------

Result<Json> DmsService::Impl::CreateReplicationSubnetGroup(const Json& in,
                                                            const CallContext& ctx) {
  ASSIGN_OR_RETURN(std::string id, RequiredString(in, "ReplicationSubnetGroupIdentifier"));
  RETURN_IF_ERROR(ValidSubnetGroupName(id));
  id = ToLower(id);
  ASSIGN_OR_RETURN(std::string description,
                   RequiredString(in, "ReplicationSubnetGroupDescription"));
  ASSIGN_OR_RETURN(std::vector<std::string> subnets, ParseSubnetIds(in));
  RETURN_IF_ERROR(ParseTags(in, /*required=*/false).status());
  RETURN_IF_ERROR(CheckSubnetsPerGroup(subnets, options_.quotas));
  const Json doc = SubnetGroupDoc(id, description, subnets, ctx.region);
  const std::string arn = "arn:aws:dms:" + ctx.region + ":" + ctx.account_id + ":subgrp:" + id;
  ASSIGN_OR_RETURN(auto conn, catalog_.Acquire());
  std::lock_guard quota_lock(quota_mu_);
  RETURN_IF_ERROR(CheckQuota(*conn, "ReplicationSubnetGroups", 1, "Replication subnet group " + id));
  ASSIGN_OR_RETURN(auto r, conn->Query("INSERT INTO dms.subnet_groups (identifier, arn, doc) "
                                       "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                                       {id, arn, doc.dump()}));
  if (r.AffectedRows() == 0) {
    return AlreadyExistsFault("The Replication Subnet Group " + id + " already exists");
  }
  RETURN_IF_ERROR(SaveTags(*conn, arn, in));
  return Json{{"ReplicationSubnetGroup", doc}};
}

Result<Json> DmsService::Impl::DescribeReplicationSubnetGroups(const Json& in) {
  ASSIGN_OR_RETURN(auto filters, ParseFilters(in, {"replication-subnet-group-id"}));
  ASSIGN_OR_RETURN(Paging paging, ParsePaging(in));
  ASSIGN_OR_RETURN(auto conn, catalog_.Acquire());
  ASSIGN_OR_RETURN(auto r, conn->Query(
                               "SELECT identifier, doc FROM dms.subnet_groups ORDER BY identifier"));
  std::vector<Json> items;
  for (int i = 0; i < r.rows(); ++i) {
    const std::string id(r.Get(i, 0));
    auto value_of = [&](std::string_view) { return std::vector<std::string>{id}; };
    if (Matches(filters, value_of, /*case_insensitive_values=*/true)) {
      items.push_back(Json::parse(r.Get(i, 1)));
    }
  }
  if (items.empty() && !filters.empty()) {
    return NotFoundFault("No replication subnet group matches the filters");
  }
  return Page(std::move(items), paging, "ReplicationSubnetGroups");
}

Result<Json> DmsService::Impl::ModifyReplicationSubnetGroup(const Json& in,
                                                            const CallContext& ctx) {
  ASSIGN_OR_RETURN(std::string id, RequiredString(in, "ReplicationSubnetGroupIdentifier"));
  id = ToLower(id);
  ASSIGN_OR_RETURN(auto description, OptionalString(in, "ReplicationSubnetGroupDescription"));
  ASSIGN_OR_RETURN(std::vector<std::string> subnets, ParseSubnetIds(in));
  RETURN_IF_ERROR(CheckSubnetsPerGroup(subnets, options_.quotas));
  ASSIGN_OR_RETURN(auto conn, catalog_.Acquire());
  ASSIGN_OR_RETURN(auto r, conn->Query("SELECT doc FROM dms.subnet_groups WHERE identifier = $1",
                                       {id}));
  if (r.rows() == 0) return NotFoundFault("Replication subnet group " + id + " not found");
  const Json current = Json::parse(r.Get(0, 0));
  const Json doc = SubnetGroupDoc(
      id, description.value_or(current.value("ReplicationSubnetGroupDescription", "")), subnets,
      ctx.region);
  // The instances in the group show it as it is now.
  RETURN_IF_ERROR(conn->Execute("BEGIN"));
  Status st = conn->Query("UPDATE dms.subnet_groups SET doc = $2 WHERE identifier = $1",
                          {id, doc.dump()})
                  .status();
  if (st.ok()) {
    st = conn->Query("UPDATE dms.instances SET doc = jsonb_set(doc, '{ReplicationSubnetGroup}', "
                     "$2::jsonb) WHERE doc->'ReplicationSubnetGroup'->>"
                     "'ReplicationSubnetGroupIdentifier' = $1",
                     {id, doc.dump()})
             .status();
  }
  if (st.ok()) st = conn->Execute("COMMIT");
  if (!st.ok()) {
    (void)conn->Execute("ROLLBACK");
    return st;
  }
  return Json{{"ReplicationSubnetGroup", doc}};
}

Result<Json> DmsService::Impl::DeleteReplicationSubnetGroup(const Json& in) {
  ASSIGN_OR_RETURN(std::string id, RequiredString(in, "ReplicationSubnetGroupIdentifier"));
  id = ToLower(id);
  ASSIGN_OR_RETURN(auto conn, catalog_.Acquire());
  ASSIGN_OR_RETURN(auto users, conn->Query("SELECT identifier FROM dms.instances WHERE "
                                           "doc->'ReplicationSubnetGroup'->>"
                                           "'ReplicationSubnetGroupIdentifier' = $1 LIMIT 1",
                                           {id}));
  if (users.rows() > 0) {
    return InvalidStateFault("Replication subnet group " + id + " is used by replication instance " +
                             std::string(users.Get(0, 0)) + "; delete the instance first");
  }
  RETURN_IF_ERROR(conn->Execute("BEGIN"));
  auto r = conn->Query("DELETE FROM dms.subnet_groups WHERE identifier = $1 RETURNING arn", {id});
  Status st = r.status();
  if (st.ok() && r->rows() > 0) {
    st = conn->Query("DELETE FROM dms.tags WHERE resource_arn = $1", {std::string(r->Get(0, 0))})
             .status();
  }
  if (st.ok()) st = conn->Execute("COMMIT");
  if (!st.ok()) {
    (void)conn->Execute("ROLLBACK");
    return st;
  }
  if (r->rows() == 0) return NotFoundFault("Replication subnet group " + id + " not found");
  return Json::object();
}

// --- tags -------------------------------------------------------------------------------------

Result<Json> DmsService::Impl::SealInput(const std::string& arn, Json& input, const Json& sealed) {
  if (options_.master_key == nullptr) {
    if (input.contains("Password") || std::any_of(input.begin(), input.end(), [](const Json& v) {
          return v.is_object() && v.contains("Password");
        })) {
      return Status::InvalidState("this service has no master key to seal endpoint passwords");
    }
    return sealed;
  }
  return SealPasswords(*options_.master_key, arn, input, sealed);
}

Status DmsService::Impl::CheckTaggable(pg::Connection& conn, const std::string& arn) {
  ASSIGN_OR_RETURN(auto r, conn.Query("SELECT 1 FROM dms.instances WHERE arn = $1 UNION ALL "
                                      "SELECT 1 FROM dms.endpoints WHERE arn = $1 UNION ALL "
                                      "SELECT 1 FROM dms.tasks WHERE arn = $1 UNION ALL "
                                      "SELECT 1 FROM dms.subnet_groups WHERE arn = $1",
                                      {arn}));
  if (r.rows() == 0) return NotFoundFault("Resource " + arn + " not found");
  return Status::Ok();
}

Status DmsService::Impl::SaveTags(pg::Connection& conn, const std::string& arn, const Json& in) {
  ASSIGN_OR_RETURN(auto tags, ParseTags(in, /*required=*/false));
  for (const auto& [key, value] : tags) {
    RETURN_IF_ERROR(conn.Query("INSERT INTO dms.tags (resource_arn, key, value) VALUES ($1, $2, "
                               "$3) ON CONFLICT (resource_arn, key) DO UPDATE SET value = $3",
                               {arn, key, value})
                        .status());
  }
  return Status::Ok();
}

Result<Json> DmsService::Impl::AddTagsToResource(const Json& in) {
  ASSIGN_OR_RETURN(std::string arn, RequiredString(in, "ResourceArn"));
  RETURN_IF_ERROR(ParseTags(in, /*required=*/true).status());
  ASSIGN_OR_RETURN(auto conn, catalog_.Acquire());
  RETURN_IF_ERROR(CheckTaggable(*conn, arn));
  RETURN_IF_ERROR(SaveTags(*conn, arn, in));
  return Json::object();
}

Result<Json> DmsService::Impl::RemoveTagsFromResource(const Json& in) {
  ASSIGN_OR_RETURN(std::string arn, RequiredString(in, "ResourceArn"));
  if (!in.contains("TagKeys") || !in["TagKeys"].is_array()) {
    return InvalidParameter("TagKeys is required: a list of tag keys");
  }
  Json keys = Json::array();
  for (const Json& k : in["TagKeys"]) {
    if (!k.is_string()) return InvalidParameter("TagKeys must hold strings");
    keys.push_back(k);
  }
  ASSIGN_OR_RETURN(auto conn, catalog_.Acquire());
  RETURN_IF_ERROR(CheckTaggable(*conn, arn));
  RETURN_IF_ERROR(conn->Query("DELETE FROM dms.tags WHERE resource_arn = $1 AND key IN (SELECT "
                              "jsonb_array_elements_text($2::jsonb))",
                              {arn, keys.dump()})
                      .status());
  return Json::object();
}

Result<Json> DmsService::Impl::ListTagsForResource(const Json& in) {
  std::vector<std::string> arns;
  ASSIGN_OR_RETURN(auto one, OptionalString(in, "ResourceArn"));
  if (one) arns.push_back(*one);
  if (in.contains("ResourceArnList") && !in["ResourceArnList"].is_null()) {
    if (!in["ResourceArnList"].is_array()) {
      return InvalidParameter("ResourceArnList must be a list of ARNs");
    }
    for (const Json& a : in["ResourceArnList"]) {
      if (!a.is_string()) return InvalidParameter("ResourceArnList must hold strings");
      arns.push_back(a.get<std::string>());
    }
  }
  if (arns.empty()) return InvalidParameter("ResourceArn or ResourceArnList is required");
  ASSIGN_OR_RETURN(auto conn, catalog_.Acquire());
  Json list = Json::array();
  for (const std::string& arn : arns) {
    RETURN_IF_ERROR(CheckTaggable(*conn, arn));
    ASSIGN_OR_RETURN(auto r, conn->Query("SELECT key, value FROM dms.tags WHERE resource_arn = "
                                         "$1 ORDER BY seq",
                                         {arn}));
    for (int i = 0; i < r.rows(); ++i) {
      list.push_back({{"Key", std::string(r.Get(i, 0))},
                      {"Value", std::string(r.Get(i, 1))},
                      {"ResourceArn", arn}});
    }
  }
  return Json{{"TagList", list}};
}

}  // namespace opendms::dms
