// TestConnection / DescribeConnections / DeleteConnection and RefreshSchemas / DescribeSchemas:
// one record per (instance, endpoint) pair, "testing"/"refreshing" while a background check
// runs, then "successful" or "failed" with the reason. Also DmsService's public face.
#include <set>

#include "dms/service_impl.h"

namespace opendms::dms {
namespace {

Result<std::string> Required(const Json& in, const char* field) {
  if (!in.contains(field) || !in[field].is_string() || in[field].get<std::string>().empty()) {
    return InvalidParameter(std::string(field) + " is required");
  }
  return in[field].get<std::string>();
}

}  // namespace

Result<Json> DmsService::Impl::TestConnection(const Json& in, const CallContext& ctx) {
  ASSIGN_OR_RETURN(std::string instance_arn, Required(in, "ReplicationInstanceArn"));
  ASSIGN_OR_RETURN(std::string endpoint_arn, Required(in, "EndpointArn"));
  ASSIGN_OR_RETURN(auto conn, catalog_.Acquire());
  ASSIGN_OR_RETURN(InstanceRecord instance, LoadInstance(*conn, instance_arn));
  ASSIGN_OR_RETURN(EndpointRecord endpoint, LoadEndpoint(*conn, endpoint_arn));
  if (instance.status != "available") {
    return InvalidStateFault("Replication instance " + instance.identifier + " is " +
                             instance.status + "; connections are tested from an available one");
  }
  ASSIGN_OR_RETURN(auto r, conn->Query(
                               "INSERT INTO dms.connections (instance_arn, endpoint_arn, status) "
                               "VALUES ($1, $2, 'testing') ON CONFLICT (instance_arn, "
                               "endpoint_arn) DO UPDATE SET status = 'testing', "
                               "last_failure_message = '' WHERE dms.connections.status <> "
                               "'testing' RETURNING 1",
                               {instance_arn, endpoint_arn}));
  if (r.rows() == 0) {
    return InvalidStateFault("Connection between " + instance.identifier + " and " +
                             endpoint.identifier + " is already being tested");
  }
  Background([this, instance_arn, endpoint, ctx] {
    std::string failure;
    if (endpoint.doc.value("EndpointType", "") == "SOURCE") {
      // The bucket must be listable where the task will read it; a remote S3 gets one retry
      // so that an unreachable endpoint fails the test quickly.
      auto input = OpenPasswords(options_.master_key, endpoint);
      auto parsed = input.ok() ? engine::ParseSourceEndpoint(*input)
                               : Result<engine::SourceEndpoint>(input.status());
      auto source = parsed.ok() ? OpenSourceStore(*parsed, ctx, /*max_retries=*/1)
                                : Result<SourceStore>(parsed.status());
      Status checked =
          source.ok() ? CheckSourceBucket(*source, parsed->s3.bucket_name) : source.status();
      if (!checked.ok()) failure = checked.message();
    } else {
      auto doc = TargetDocument(endpoint, ctx);
      auto target = doc.ok() ? engine::ParseTargetEndpoint(*doc)
                             : Result<engine::TargetEndpoint>(doc.status());
      if (!target.ok()) {
        failure = target.status().message();
      } else {
        pg::ConnectionParams p;
        p.host = target->server_name;
        p.port = target->port;
        p.dbname = target->database_name;
        p.user = target->username;
        p.password = target->password;
        p.connect_timeout_seconds = 10;
        auto c = pg::Connection::Open(p);
        if (!c.ok()) failure = c.status().message();
      }
    }
    auto conn = catalog_.Acquire();
    if (!conn.ok()) return;
    (void)(*conn)->Query(
        "UPDATE dms.connections SET status = $3, last_failure_message = $4 WHERE "
        "instance_arn = $1 AND endpoint_arn = $2",
        {instance_arn, endpoint.arn, failure.empty() ? "successful" : "failed", failure});
  });
  return Json{{"Connection",
               {{"ReplicationInstanceArn", instance_arn},
                {"EndpointArn", endpoint_arn},
                {"Status", "testing"},
                {"EndpointIdentifier", endpoint.identifier},
                {"ReplicationInstanceIdentifier", instance.identifier}}}};
}

Result<Json> DmsService::Impl::DescribeConnections(const Json& in) {
  std::set<std::string> allowed = {"endpoint-arn", "replication-instance-arn"};
  std::vector<std::pair<std::string, std::vector<std::string>>> filters;
  if (in.contains("Filters")) {
    if (!in["Filters"].is_array()) return InvalidParameter("Filters must be a list");
    for (const Json& f : in["Filters"]) {
      std::string name = f.value("Name", "");
      if (!allowed.count(name)) {
        return InvalidParameter("Invalid filter name " + name +
                                "; valid names: endpoint-arn, replication-instance-arn");
      }
      filters.push_back({name, f.value("Values", std::vector<std::string>{})});
    }
  }
  ASSIGN_OR_RETURN(auto conn, catalog_.Acquire());
  ASSIGN_OR_RETURN(auto r, conn->Query(
                               "SELECT c.instance_arn, c.endpoint_arn, c.status, "
                               "c.last_failure_message, e.identifier, i.identifier FROM "
                               "dms.connections c JOIN dms.endpoints e ON e.arn = c.endpoint_arn "
                               "JOIN dms.instances i ON i.arn = c.instance_arn ORDER BY c.seq"));
  Json list = Json::array();
  for (int i = 0; i < r.rows(); ++i) {
    bool match = true;
    for (const auto& [name, values] : filters) {
      std::string v(r.Get(i, name == "endpoint-arn" ? 1 : 0));
      if (std::find(values.begin(), values.end(), v) == values.end()) match = false;
    }
    if (!match) continue;
    Json c = {{"ReplicationInstanceArn", std::string(r.Get(i, 0))},
              {"EndpointArn", std::string(r.Get(i, 1))},
              {"Status", std::string(r.Get(i, 2))}};
    if (!r.Get(i, 3).empty()) c["LastFailureMessage"] = std::string(r.Get(i, 3));
    c["EndpointIdentifier"] = std::string(r.Get(i, 4));
    c["ReplicationInstanceIdentifier"] = std::string(r.Get(i, 5));
    list.push_back(std::move(c));
  }
  return Json{{"Connections", list}};
}

Result<Json> DmsService::Impl::DeleteConnection(const Json& in) {
  ASSIGN_OR_RETURN(std::string instance_arn, Required(in, "ReplicationInstanceArn"));
  ASSIGN_OR_RETURN(std::string endpoint_arn, Required(in, "EndpointArn"));
  ASSIGN_OR_RETURN(auto conn, catalog_.Acquire());
  ASSIGN_OR_RETURN(auto r, conn->Query("DELETE FROM dms.connections WHERE instance_arn = $1 AND "
                                       "endpoint_arn = $2 RETURNING status",
                                       {instance_arn, endpoint_arn}));
  if (r.rows() == 0) {
    return NotFoundFault("No connection between " + instance_arn + " and " + endpoint_arn);
  }
  return Json{{"Connection",
               {{"ReplicationInstanceArn", instance_arn},
                {"EndpointArn", endpoint_arn},
                {"Status", "deleting"}}}};
}

Result<Json> DmsService::Impl::RefreshSchemas(const Json& in, const CallContext& ctx) {
  ASSIGN_OR_RETURN(std::string instance_arn, Required(in, "ReplicationInstanceArn"));
  ASSIGN_OR_RETURN(std::string endpoint_arn, Required(in, "EndpointArn"));
  ASSIGN_OR_RETURN(auto conn, catalog_.Acquire());
  ASSIGN_OR_RETURN(InstanceRecord instance, LoadInstance(*conn, instance_arn));
  ASSIGN_OR_RETURN(EndpointRecord endpoint, LoadEndpoint(*conn, endpoint_arn));
  if (instance.status != "available") {
    return InvalidStateFault("Replication instance " + instance.identifier + " is " +
                             instance.status);
  }
  RETURN_IF_ERROR(conn->Query("INSERT INTO dms.schemas (endpoint_arn, instance_arn, status) "
                              "VALUES ($1, $2, 'refreshing') ON CONFLICT (endpoint_arn) DO "
                              "UPDATE SET instance_arn = $2, status = 'refreshing', "
                              "last_failure_message = ''",
                              {endpoint_arn, instance_arn})
                      .status());
  Background([this, endpoint, ctx] {
    std::vector<std::string> schemas;
    std::string failure;
    if (endpoint.doc.value("EndpointType", "") == "SOURCE") {
      // An S3 source's schemas are the TableOwner values of its table definition.
      auto parsed = engine::ParseSourceEndpoint(
          WithSealedPlaceholders(endpoint.input, endpoint.sealed_passwords));
      auto tables = parsed.ok() ? engine::ParseExternalTableDefinition(
                                      parsed->s3.external_table_definition)
                                : Result<engine::ExternalTableDefinition>(parsed.status());
      if (!tables.ok()) {
        failure = tables.status().message();
      } else {
        std::set<std::string> owners;
        for (const auto& t : tables->tables) owners.insert(t.owner);
        schemas.assign(owners.begin(), owners.end());
      }
    } else {
      auto doc = TargetDocument(endpoint, ctx);
      auto target = doc.ok() ? engine::ParseTargetEndpoint(*doc)
                             : Result<engine::TargetEndpoint>(doc.status());
      if (!target.ok()) {
        failure = target.status().message();
      } else {
        pg::ConnectionParams p;
        p.host = target->server_name;
        p.port = target->port;
        p.dbname = target->database_name;
        p.user = target->username;
        p.password = target->password;
        auto c = pg::Connection::Open(p);
        auto r = c.ok() ? c->Query("SELECT nspname FROM pg_namespace WHERE nspname !~ '^pg_' "
                                   "AND nspname <> 'information_schema' ORDER BY 1")
                        : Result<pg::QueryResult>(c.status());
        if (!r.ok()) {
          failure = r.status().message();
        } else {
          for (int i = 0; i < r->rows(); ++i) schemas.emplace_back(r->Get(i, 0));
        }
      }
    }
    Json list = Json::array();
    for (const auto& s : schemas) list.push_back(s);
    auto conn = catalog_.Acquire();
    if (!conn.ok()) return;
    (void)(*conn)->Query(
        "UPDATE dms.schemas SET status = $2, last_failure_message = $3, last_refresh = $4, "
        "schemas = CASE WHEN $2 = 'successful' THEN $5::jsonb ELSE schemas END WHERE "
        "endpoint_arn = $1",
        {endpoint.arn, failure.empty() ? "successful" : "failed", failure,
         std::to_string(ToEpochSeconds(Clock::Now())), list.dump()});
  });
  return Json{{"RefreshSchemasStatus",
               {{"EndpointArn", endpoint_arn},
                {"ReplicationInstanceArn", instance_arn},
                {"Status", "refreshing"}}}};
}

Result<Json> DmsService::Impl::DescribeRefreshSchemasStatus(const Json& in) {
  ASSIGN_OR_RETURN(std::string endpoint_arn, Required(in, "EndpointArn"));
  ASSIGN_OR_RETURN(auto conn, catalog_.Acquire());
  ASSIGN_OR_RETURN(auto r, conn->Query("SELECT instance_arn, status, last_refresh, "
                                       "last_failure_message FROM dms.schemas WHERE "
                                       "endpoint_arn = $1",
                                       {endpoint_arn}));
  if (r.rows() == 0) {
    return NotFoundFault("Schemas of endpoint " + endpoint_arn + " were never refreshed");
  }
  Json s = {{"EndpointArn", endpoint_arn},
            {"ReplicationInstanceArn", std::string(r.Get(0, 0))},
            {"Status", std::string(r.Get(0, 1))}};
  if (!r.IsNull(0, 2)) s["LastRefreshDate"] = std::stod(std::string(r.Get(0, 2)));
  if (!r.Get(0, 3).empty()) s["LastFailureMessage"] = std::string(r.Get(0, 3));
  return Json{{"RefreshSchemasStatus", s}};
}

Result<Json> DmsService::Impl::DescribeSchemas(const Json& in) {
  ASSIGN_OR_RETURN(std::string endpoint_arn, Required(in, "EndpointArn"));
  ASSIGN_OR_RETURN(auto conn, catalog_.Acquire());
  ASSIGN_OR_RETURN(EndpointRecord endpoint, LoadEndpoint(*conn, endpoint_arn));
  ASSIGN_OR_RETURN(auto r, conn->Query("SELECT schemas FROM dms.schemas WHERE endpoint_arn = $1",
                                       {endpoint_arn}));
  Json schemas = Json::array();
  if (r.rows() > 0) {
    ASSIGN_OR_RETURN(schemas, ParseJson(r.Get(0, 0), "dms.schemas.schemas"));
  }
  return Json{{"Schemas", schemas}};
}

// --- DmsService -------------------------------------------------------------------------------

Result<std::unique_ptr<DmsService>> DmsService::Create(catalog::Catalog& catalog,
                                                       objectstore::ObjectStore& store,
                                                       SecretResolver resolver, Options options) {
  auto impl = std::make_unique<Impl>(catalog, store, std::move(resolver), options);
  RETURN_IF_ERROR(impl->Migrate());
  return std::unique_ptr<DmsService>(new DmsService(std::move(impl)));
}

DmsService::DmsService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DmsService::~DmsService() = default;

Result<Json> DmsService::Call(std::string_view operation, const Json& input,
                              const CallContext& context) {
  return impl_->Call(operation, input, context);
}
Status DmsService::Start() { return impl_->Start(); }
void DmsService::Shutdown() { impl_->Shutdown(); }
void DmsService::NotifyObjectWritten(std::string_view bucket, std::string_view /*key*/) {
  impl_->NotifyObjectWritten(bucket);
}
Result<std::vector<std::string>> DmsService::TaskLogLines(std::string_view task) {
  return impl_->TaskLogLines(task);
}

}  // namespace opendms::dms
