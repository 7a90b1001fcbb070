#include "engine/task_config.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>
#include <initializer_list>
#include <span>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "engine/table_mappings.h"

namespace opendms::engine {
namespace {

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string Join(std::span<const std::string_view> items) {
  std::string out;
  for (std::string_view item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

// Rejects top-level parameters the API does not have, as `aws … --cli-input-json` does
// ("Unknown parameter in input"): a misspelt key must not be silently dropped.
Status CheckKnownKeys(const Json& doc, std::span<const std::string_view> known,
                      std::string_view what) {
  for (const auto& [key, value] : doc.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      return Status::InvalidArgument("Unknown parameter in " + std::string(what) + ": \"" + key +
                                     "\", must be one of: " + Join(known));
    }
  }
  return Status::Ok();
}

// A member of `obj` if present and not null.
const Json* Find(const Json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

Status ReadString(const Json& obj, std::string_view key, std::string_view path, std::string& out) {
  if (const Json* v = Find(obj, key)) {
    ASSIGN_OR_RETURN(out, JsonToString(*v, path));
  }
  return Status::Ok();
}

Status ReadBool(const Json& obj, std::string_view key, std::string_view path, bool& out) {
  if (const Json* v = Find(obj, key)) {
    ASSIGN_OR_RETURN(out, JsonToBool(*v, path));
  }
  return Status::Ok();
}

template <typename Int>
Status ReadInt(const Json& obj, std::string_view key, std::string_view path, Int& out, int64_t min,
               int64_t max) {
  if (const Json* v = Find(obj, key)) {
    ASSIGN_OR_RETURN(int64_t n, JsonToInt(*v, path));
    if (n < min || n > max) {
      return Status::InvalidArgument(std::string(path) + " must be between " + std::to_string(min) +
                                     " and " + std::to_string(max) + ", got " + std::to_string(n));
    }
    out = static_cast<Int>(n);
  }
  return Status::Ok();
}

// A JSON document given either as a string (the API form) or inline (convenience). Returns the
// text form.
Result<std::string> DocumentText(const Json& v, std::string_view field) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() || v.is_array()) return v.dump();
  return Status::InvalidArgument(std::string(field) +
                                 " must be a JSON document (a string or an object)");
}

// ExtraConnectionAttributes: "name=value;name=value". Names are case-insensitive here.
Result<std::vector<std::pair<std::string, std::string>>> ParseEca(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find(';', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view item = text.substr(pos, end - pos);
    pos = end + 1;
    if (item.empty()) continue;
    size_t eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return Status::InvalidArgument("ExtraConnectionAttributes: \"" + std::string(item) +
                                     "\" is not name=value");
    }
    out.emplace_back(ToLower(item.substr(0, eq)), std::string(item.substr(eq + 1)));
  }
  return out;
}

Status CheckEndpointType(const Json& doc, std::string_view expected) {
  const Json* type = Find(doc, "EndpointType");
  if (type == nullptr) return Status::InvalidArgument("EndpointType is required");
  ASSIGN_OR_RETURN(std::string t, JsonToString(*type, "EndpointType"));
  t = ToLower(t);
  if (t != "source" && t != "target") {
    return Status::InvalidArgument("EndpointType must be one of source, target; got \"" + t + "\"");
  }
  if (t != expected) {
    return Status::InvalidArgument("EndpointType is \"" + t + "\" but a " + std::string(expected) +
                                   " endpoint is expected here");
  }
  return Status::Ok();
}

constexpr std::string_view kEndpointKeys[] = {"EndpointIdentifier",
                                              "EndpointType",
                                              "EngineName",
                                              "Username",
                                              "Password",
                                              "ServerName",
                                              "Port",
                                              "DatabaseName",
                                              "ExtraConnectionAttributes",
                                              "KmsKeyId",
                                              "Tags",
                                              "CertificateArn",
                                              "SslMode",
                                              "ServiceAccessRoleArn",
                                              "ExternalTableDefinition",
                                              "DynamoDbSettings",
                                              "S3Settings",
                                              "DmsTransferSettings",
                                              "MongoDbSettings",
                                              "KinesisSettings",
                                              "KafkaSettings",
                                              "ElasticsearchSettings",
                                              "NeptuneSettings",
                                              "RedshiftSettings",
                                              "PostgreSQLSettings",
                                              "PostgreSqlSettings",
                                              "MySQLSettings",
                                              "OracleSettings",
                                              "SybaseSettings",
                                              "MicrosoftSQLServerSettings",
                                              "IBMDb2Settings",
                                              "ResourceIdentifier",
                                              "DocDbSettings",
                                              "RedisSettings",
                                              "GcpMySQLSettings",
                                              "TimestreamSettings"};

Result<std::string> ReadIdentifierAndEngine(const Json& doc, std::string& engine) {
  const Json* id = Find(doc, "EndpointIdentifier");
  if (id == nullptr) return Status::InvalidArgument("EndpointIdentifier is required");
  ASSIGN_OR_RETURN(std::string identifier, JsonToString(*id, "EndpointIdentifier"));
  RETURN_IF_ERROR(ValidateDmsIdentifier(identifier, "EndpointIdentifier", 255));
  const Json* eng = Find(doc, "EngineName");
  if (eng == nullptr) return Status::InvalidArgument("EngineName is required");
  ASSIGN_OR_RETURN(engine, JsonToString(*eng, "EngineName"));
  engine = ToLower(engine);
  return identifier;
}

}  // namespace

Status ValidateDmsIdentifier(std::string_view id, std::string_view field, size_t max_length) {
  std::string f(field);
  if (id.empty() || id.size() > max_length) {
    return Status::InvalidArgument(f + " must be 1 to " + std::to_string(max_length) +
                                   " characters long");
  }
  if (!std::isalpha(static_cast<unsigned char>(id[0])) || static_cast<unsigned char>(id[0]) > 127) {
    return Status::InvalidArgument(f + " \"" + std::string(id) + "\" must start with a letter");
  }
  for (size_t i = 0; i < id.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(id[i]);
    if (c > 127 || !(std::isalnum(c) || c == '-')) {
      return Status::InvalidArgument(f + " \"" + std::string(id) +
                                     "\" may contain only ASCII letters, digits and hyphens");
    }
    if (c == '-' && i + 1 < id.size() && id[i + 1] == '-') {
      return Status::InvalidArgument(f + " \"" + std::string(id) +
                                     "\" must not contain two consecutive hyphens");
    }
  }
  if (id.back() == '-') {
    return Status::InvalidArgument(f + " \"" + std::string(id) + "\" must not end with a hyphen");
  }
  return Status::Ok();
}

Result<std::string> UnescapeCsvDelimiter(std::string_view text, std::string_view field) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size()) {
      char n = text[i + 1];
      char replacement = n == 'n' ? '\n' : n == 'r' ? '\r' : n == 't' ? '\t' : n == '\\' ? '\\' : 0;
      if (replacement != 0) {
        out += replacement;
        ++i;
        continue;
      }
    }
    out += text[i];
  }
  if (out.empty()) return Status::InvalidArgument(std::string(field) + " must not be empty");
  return out;
}

// ---------------------------------------------------------------------------------------------
// Endpoints
// ---------------------------------------------------------------------------------------------

namespace {

// Checks an S3 source's connection fields and resolves endpoint_url.
Status ResolveS3SourceConnection(S3SourceConnection& c) {
  if (!c.remote()) {
    const char* stray = !c.username.empty()                  ? "Username"
                        : !c.password.empty()                ? "Password"
                        : c.port != 0                        ? "Port"
                        : !c.secrets_manager_secret_id.empty()
                            ? "ExtraConnectionAttributes secretsManagerSecretId"
                            : nullptr;
    if (stray != nullptr) {
      return Status::InvalidArgument(std::string(stray) +
                                     " is set but ServerName is not: an S3 source reads a remote "
                                     "S3 only when ServerName names its endpoint");
    }
    return Status::Ok();
  }
  // ServerName: [http(s)://]host[:port], nothing more.
  std::string_view rest = c.server_name;
  std::string scheme;
  for (std::string_view s : {"http://", "https://"}) {
    if (rest.size() >= s.size() && ToLower(rest.substr(0, s.size())) == s) {
      scheme = std::string(s.substr(0, s.size() - 3));
      rest.remove_prefix(s.size());
    }
  }
  auto bad_server = [&](std::string_view why) {
    return Status::InvalidArgument("ServerName \"" + c.server_name + "\" is not an S3 endpoint (" +
                                   std::string(why) +
                                   "); give host, host:port or http(s)://host[:port]");
  };
  if (rest.find_first_of("/?#@ ") != std::string_view::npos) {
    return bad_server("no path, query, user or space allowed");
  }
  std::string_view host = rest, port_text;
  if (rest.starts_with('[')) {  // [IPv6]:port
    const size_t close = rest.find(']');
    if (close == std::string_view::npos) return bad_server("unclosed [");
    host = rest.substr(0, close + 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') return bad_server("text after ]");
      port_text = rest.substr(close + 2);
    }
  } else if (const size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port_text = rest.substr(colon + 1);
    if (port_text.empty()) return bad_server("empty port");
  }
  if (host.empty() || host == "[]") return bad_server("no host");
  if (!port_text.empty()) {
    if (port_text.size() > 5 || !std::all_of(port_text.begin(), port_text.end(), ::isdigit)) {
      return bad_server("port is not a number");
    }
    const int in_name = std::stoi(std::string(port_text));
    if (in_name < 1 || in_name > 65535) return bad_server("port out of range");
    if (c.port != 0 && c.port != in_name) {
      return Status::InvalidArgument("Port " + std::to_string(c.port) +
                                     " disagrees with the port in ServerName \"" + c.server_name +
                                     "\"");
    }
    c.port = in_name;
  }
  const std::string ssl = ToLower(c.ssl_mode);
  if (ssl != "none" && ssl != "require" && ssl != "verify-ca" && ssl != "verify-full") {
    return Status::InvalidArgument("SslMode \"" + c.ssl_mode +
                                   "\" is not one of none, require, verify-ca, verify-full");
  }
  if (scheme.empty()) scheme = ssl == "none" ? "http" : "https";
  c.endpoint_url = scheme + "://" + std::string(host);
  if (c.port != 0) c.endpoint_url += ":" + std::to_string(c.port);

  const bool has_keys = !c.username.empty() || !c.password.empty();
  if (has_keys && !c.secrets_manager_secret_id.empty()) {
    return Status::InvalidArgument(
        "give the remote S3's credentials either as Username/Password or as "
        "ExtraConnectionAttributes secretsManagerSecretId, not both");
  }
  if (!has_keys && c.secrets_manager_secret_id.empty()) {
    return Status::InvalidArgument(
        "ServerName names a remote S3, which needs credentials: Username (access key id) and "
        "Password (secret access key), or ExtraConnectionAttributes secretsManagerSecretId");
  }
  if (has_keys && (c.username.empty() || c.password.empty())) {
    return Status::InvalidArgument(std::string(c.username.empty() ? "Username" : "Password") +
                                   " is required with " +
                                   (c.username.empty() ? "Password" : "Username") +
                                   " (the remote S3's access key id and secret access key)");
  }
  if (c.region.empty()) {
    return Status::InvalidArgument("ExtraConnectionAttributes region must not be empty");
  }
  return Status::Ok();
}

}  // namespace

Result<SourceEndpoint> ParseSourceEndpoint(const Json& doc) {
  if (!doc.is_object()) return Status::InvalidArgument("endpoint document must be an object");
  RETURN_IF_ERROR(CheckKnownKeys(doc, kEndpointKeys, "CreateEndpoint input"));
  RETURN_IF_ERROR(CheckEndpointType(doc, "source"));
  SourceEndpoint ep;
  ASSIGN_OR_RETURN(ep.identifier, ReadIdentifierAndEngine(doc, ep.engine_name));
  if (ep.engine_name != "s3") {
    return Status::InvalidArgument("EngineName \"" + ep.engine_name +
                                   "\" is not supported for a source endpoint; opendms reads "
                                   "only \"s3\"");
  }
  S3SourceSettings& s3 = ep.s3;

  // Lowest precedence first: ECAs, then top-level fields, then S3Settings.
  if (const Json* eca = Find(doc, "ExtraConnectionAttributes")) {
    ASSIGN_OR_RETURN(std::string text, JsonToString(*eca, "ExtraConnectionAttributes"));
    ASSIGN_OR_RETURN(auto pairs, ParseEca(text));
    for (const auto& [name, value] : pairs) {
      std::string path = "ExtraConnectionAttributes." + name;
      if (name == "bucketname") {
        s3.bucket_name = value;
      } else if (name == "bucketfolder") {
        s3.bucket_folder = value;
      } else if (name == "cdcpath") {
        s3.cdc_path = value;
      } else if (name == "csvdelimiter") {
        s3.csv_delimiter = value;
      } else if (name == "csvrowdelimiter") {
        s3.csv_row_delimiter = value;
      } else if (name == "ignoreheaderrows") {
        ASSIGN_OR_RETURN(s3.ignore_header_rows, JsonToInt(Json(value), path));
      } else if (name == "rfc4180") {
        ASSIGN_OR_RETURN(s3.rfc4180, JsonToBool(Json(value), path));
      } else if (name == "serviceaccessrolearn") {
        s3.service_access_role_arn = value;
      } else if (name == "externaltabledefinition") {
        s3.external_table_definition = value;
      } else if (name == "region") {
        ep.connection.region = value;
      } else if (name == "secretsmanagersecretid") {
        ep.connection.secrets_manager_secret_id = value;
      } else if (name == "addressingstyle") {
        const std::string style = ToLower(value);
        if (style != "path" && style != "virtual") {
          return Status::InvalidArgument(path + " must be path or virtual, got \"" + value +
                                         "\"");
        }
        ep.connection.path_style = style == "path";
      } else {
        ep.warnings.push_back(fmt::format(
            "source endpoint {}: ExtraConnectionAttributes \"{}\" is not used by an S3 source; "
            "ignored",
            ep.identifier, name));
      }
    }
  }
  if (const Json* etd = Find(doc, "ExternalTableDefinition")) {
    ASSIGN_OR_RETURN(s3.external_table_definition, DocumentText(*etd, "ExternalTableDefinition"));
  }
  RETURN_IF_ERROR(
      ReadString(doc, "ServiceAccessRoleArn", "ServiceAccessRoleArn", s3.service_access_role_arn));
  S3SourceConnection& connection = ep.connection;
  RETURN_IF_ERROR(ReadString(doc, "ServerName", "ServerName", connection.server_name));
  RETURN_IF_ERROR(ReadInt(doc, "Port", "Port", connection.port, 1, 65535));
  RETURN_IF_ERROR(ReadString(doc, "SslMode", "SslMode", connection.ssl_mode));
  RETURN_IF_ERROR(ReadString(doc, "Username", "Username", connection.username));
  RETURN_IF_ERROR(ReadString(doc, "Password", "Password", connection.password));
  RETURN_IF_ERROR(ResolveS3SourceConnection(connection));

  if (const Json* settings = Find(doc, "S3Settings")) {
    if (!settings->is_object()) return Status::InvalidArgument("S3Settings must be an object");
    const Json& s = *settings;
    RETURN_IF_ERROR(ReadString(s, "BucketName", "S3Settings.BucketName", s3.bucket_name));
    RETURN_IF_ERROR(ReadString(s, "BucketFolder", "S3Settings.BucketFolder", s3.bucket_folder));
    RETURN_IF_ERROR(ReadString(s, "CdcPath", "S3Settings.CdcPath", s3.cdc_path));
    RETURN_IF_ERROR(ReadString(s, "CsvDelimiter", "S3Settings.CsvDelimiter", s3.csv_delimiter));
    RETURN_IF_ERROR(
        ReadString(s, "CsvRowDelimiter", "S3Settings.CsvRowDelimiter", s3.csv_row_delimiter));
    RETURN_IF_ERROR(
        ReadInt(s, "IgnoreHeaderRows", "S3Settings.IgnoreHeaderRows", s3.ignore_header_rows, 0, 1));
    RETURN_IF_ERROR(ReadBool(s, "Rfc4180", "S3Settings.Rfc4180", s3.rfc4180));
    RETURN_IF_ERROR(ReadString(s, "ServiceAccessRoleArn", "S3Settings.ServiceAccessRoleArn",
                               s3.service_access_role_arn));
    RETURN_IF_ERROR(ReadString(s, "ExpectedBucketOwner", "S3Settings.ExpectedBucketOwner",
                               s3.expected_bucket_owner));
    if (const Json* etd = Find(s, "ExternalTableDefinition")) {
      ASSIGN_OR_RETURN(s3.external_table_definition,
                       DocumentText(*etd, "S3Settings.ExternalTableDefinition"));
    }
    // Settings that change how objects must be read: refuse what the reader can't do rather than
    // read the bytes wrongly.
    std::string format = "csv";
    RETURN_IF_ERROR(ReadString(s, "DataFormat", "S3Settings.DataFormat", format));
    if (ToLower(format) != "csv") {
      return Status::InvalidArgument("S3Settings.DataFormat \"" + format +
                                     "\" is not supported yet; only csv");
    }
    std::string compression = "none";
    RETURN_IF_ERROR(ReadString(s, "CompressionType", "S3Settings.CompressionType", compression));
    if (ToLower(compression) != "none") {
      return Status::InvalidArgument("S3Settings.CompressionType \"" + compression +
                                     "\" is not supported yet for an S3 source; only none");
    }
  }

  if (s3.bucket_name.empty()) return Status::InvalidArgument("S3Settings.BucketName is required");
  if (s3.external_table_definition.empty()) {
    return Status::InvalidArgument(
        "S3Settings.ExternalTableDefinition (or ExternalTableDefinition) is required for an S3 "
        "source");
  }
  RETURN_IF_ERROR(UnescapeCsvDelimiter(s3.csv_delimiter, "S3Settings.CsvDelimiter").status());
  RETURN_IF_ERROR(
      UnescapeCsvDelimiter(s3.csv_row_delimiter, "S3Settings.CsvRowDelimiter").status());
  return ep;
}

std::string TargetEndpoint::Describe() const {
  std::string who = username;
  if (!secrets_manager_secret_id.empty() && username.empty()) {
    who = "secret:" + secrets_manager_secret_id;
  }
  std::string host = server_name.empty() ? std::string("?") : server_name;
  return who + "@" + host + ":" + std::to_string(port) + "/" + database_name;
}

Result<TargetEndpoint> ParseTargetEndpoint(const Json& doc) {
  if (!doc.is_object()) return Status::InvalidArgument("endpoint document must be an object");
  RETURN_IF_ERROR(CheckKnownKeys(doc, kEndpointKeys, "CreateEndpoint input"));
  RETURN_IF_ERROR(CheckEndpointType(doc, "target"));
  TargetEndpoint ep;
  ASSIGN_OR_RETURN(ep.identifier, ReadIdentifierAndEngine(doc, ep.engine_name));
  if (ep.engine_name == "aurora-postgres" || ep.engine_name == "postgresql") {
    return Status::InvalidArgument("EngineName \"" + ep.engine_name +
                                   "\" is not a DMS engine name; use \"postgres\" or "
                                   "\"aurora-postgresql\"");
  }
  if (ep.engine_name != "postgres" && ep.engine_name != "aurora-postgresql" &&
      ep.engine_name != "aurora-postgresql-serverless") {
    return Status::InvalidArgument(
        "EngineName \"" + ep.engine_name +
        "\" is not supported for a target endpoint; opendms writes to postgres, "
        "aurora-postgresql, aurora-postgresql-serverless");
  }

  bool clear_text_credentials = false;
  auto read_connection = [&](const Json& obj, std::string_view prefix) -> Status {
    auto path = [&](std::string_view key) { return std::string(prefix) + std::string(key); };
    for (const char* key : {"ServerName", "Username", "Password"}) {
      if (Find(obj, key) != nullptr) clear_text_credentials = true;
    }
    RETURN_IF_ERROR(ReadString(obj, "ServerName", path("ServerName"), ep.server_name));
    RETURN_IF_ERROR(ReadString(obj, "DatabaseName", path("DatabaseName"), ep.database_name));
    RETURN_IF_ERROR(ReadString(obj, "Username", path("Username"), ep.username));
    RETURN_IF_ERROR(ReadString(obj, "Password", path("Password"), ep.password));
    RETURN_IF_ERROR(ReadInt(obj, "Port", path("Port"), ep.port, 1, 65535));
    return Status::Ok();
  };

  // Lowest precedence first: ECAs, then top-level fields, then PostgreSQLSettings.
  if (const Json* eca = Find(doc, "ExtraConnectionAttributes")) {
    ASSIGN_OR_RETURN(std::string text, JsonToString(*eca, "ExtraConnectionAttributes"));
    ASSIGN_OR_RETURN(auto pairs, ParseEca(text));
    for (const auto& [name, value] : pairs) {
      std::string path = "ExtraConnectionAttributes." + name;
      if (name == "afterconnectscript") {
        ep.after_connect_script = value;
      } else if (name == "executetimeout") {
        ASSIGN_OR_RETURN(ep.execute_timeout_seconds, JsonToInt(Json(value), path));
      } else if (name == "maxfilesize") {
        ASSIGN_OR_RETURN(ep.max_file_size_kb, JsonToInt(Json(value), path));
      } else if (name == "mapbooleanasboolean") {
        ASSIGN_OR_RETURN(ep.map_boolean_as_boolean, JsonToBool(Json(value), path));
      } else {
        ep.warnings.push_back(fmt::format(
            "target endpoint {}: ExtraConnectionAttributes \"{}\" is not used by a PostgreSQL "
            "target; ignored",
            ep.identifier, name));
      }
    }
  }
  RETURN_IF_ERROR(read_connection(doc, ""));
  RETURN_IF_ERROR(ReadString(doc, "SslMode", "SslMode", ep.ssl_mode));
  ep.ssl_mode = ToLower(ep.ssl_mode);
  if (ep.ssl_mode != "none" && ep.ssl_mode != "require" && ep.ssl_mode != "verify-ca" &&
      ep.ssl_mode != "verify-full") {
    return Status::InvalidArgument("SslMode must be one of none, require, verify-ca, verify-full");
  }

  const Json* settings = Find(doc, "PostgreSQLSettings");
  std::string settings_name = "PostgreSQLSettings";
  if (settings == nullptr && (settings = Find(doc, "PostgreSqlSettings")) != nullptr) {
    settings_name = "PostgreSqlSettings";
  }
  if (settings != nullptr) {
    if (!settings->is_object()) {
      return Status::InvalidArgument(settings_name + " must be an object");
    }
    const Json& s = *settings;
    std::string prefix = settings_name + ".";
    RETURN_IF_ERROR(read_connection(s, prefix));
    RETURN_IF_ERROR(ReadString(s, "SecretsManagerSecretId", prefix + "SecretsManagerSecretId",
                               ep.secrets_manager_secret_id));
    RETURN_IF_ERROR(ReadString(s, "SecretsManagerAccessRoleArn",
                               prefix + "SecretsManagerAccessRoleArn",
                               ep.secrets_manager_access_role_arn));
    RETURN_IF_ERROR(ReadString(s, "AfterConnectScript", prefix + "AfterConnectScript",
                               ep.after_connect_script));
    RETURN_IF_ERROR(ReadInt(s, "ExecuteTimeout", prefix + "ExecuteTimeout",
                            ep.execute_timeout_seconds, 0, 86400));
    RETURN_IF_ERROR(
        ReadInt(s, "MaxFileSize", prefix + "MaxFileSize", ep.max_file_size_kb, 1, 1048576));
    RETURN_IF_ERROR(ReadBool(s, "MapBooleanAsBoolean", prefix + "MapBooleanAsBoolean",
                             ep.map_boolean_as_boolean));
  }

  if (!ep.secrets_manager_secret_id.empty()) {
    // DMS: either clear-text credentials or a secret, not both. DatabaseName still comes from
    // the endpoint.
    if (clear_text_credentials) {
      return Status::InvalidArgument(
          settings_name +
          ".SecretsManagerSecretId cannot be combined with ServerName, Username or Password");
    }
  } else {
    if (ep.server_name.empty()) return Status::InvalidArgument("ServerName is required");
    if (ep.username.empty()) return Status::InvalidArgument("Username is required");
  }
  if (ep.database_name.empty()) return Status::InvalidArgument("DatabaseName is required");
  return ep;
}

// ---------------------------------------------------------------------------------------------
// Enums
// ---------------------------------------------------------------------------------------------

std::string_view MigrationTypeName(MigrationType type) {
  switch (type) {
    case MigrationType::kFullLoad:
      return "full-load";
    case MigrationType::kCdc:
      return "cdc";
    case MigrationType::kFullLoadAndCdc:
      return "full-load-and-cdc";
  }
  return "full-load";
}

Result<MigrationType> ParseMigrationType(std::string_view name) {
  for (MigrationType t :
       {MigrationType::kFullLoad, MigrationType::kCdc, MigrationType::kFullLoadAndCdc}) {
    if (name == MigrationTypeName(t)) return t;
  }
  return Status::InvalidArgument(
      "MigrationType must be one of full-load, cdc, "
      "full-load-and-cdc; got \"" +
      std::string(name) + "\"");
}

std::string_view TargetTablePrepModeName(TargetTablePrepMode mode) {
  switch (mode) {
    case TargetTablePrepMode::kDropAndCreate:
      return "DROP_AND_CREATE";
    case TargetTablePrepMode::kTruncateBeforeLoad:
      return "TRUNCATE_BEFORE_LOAD";
    case TargetTablePrepMode::kDoNothing:
      return "DO_NOTHING";
  }
  return "DROP_AND_CREATE";
}

std::string_view ErrorPolicyName(ErrorPolicy policy) {
  switch (policy) {
    case ErrorPolicy::kIgnoreRecord:
      return "IGNORE_RECORD";
    case ErrorPolicy::kLogError:
      return "LOG_ERROR";
    case ErrorPolicy::kSuspendTable:
      return "SUSPEND_TABLE";
    case ErrorPolicy::kStopTask:
      return "STOP_TASK";
    case ErrorPolicy::kInsertRecord:
      return "INSERT_RECORD";
    case ErrorPolicy::kUpdateRecord:
      return "UPDATE_RECORD";
    case ErrorPolicy::kIgnore:
      return "IGNORE";
  }
  return "LOG_ERROR";
}

// ---------------------------------------------------------------------------------------------
// Default settings document
// ---------------------------------------------------------------------------------------------

namespace {

Json BuildDefaultDocument() {
  // Section and key order follow real DescribeReplicationTasks output (DMS 3.4/3.5); DMS itself
  // does not promise an order.
  Json log_components = Json::array();
  for (const char* id : {"TRANSFORMATION", "SOURCE_UNLOAD", "IO", "TARGET_LOAD", "PERFORMANCE",
                         "SOURCE_CAPTURE", "SORTER", "REST_SERVER", "VALIDATOR_EXT", "TARGET_APPLY",
                         "TASK_MANAGER", "TABLES_MANAGER", "METADATA_MANAGER", "FILE_FACTORY",
                         "COMMON", "ADDONS", "DATA_STRUCTURE", "COMMUNICATION", "FILE_TRANSFER"}) {
    log_components.push_back(Json{{"Id", id}, {"Severity", "LOGGER_SEVERITY_DEFAULT"}});
  }
  Json doc = Json::object();
  doc["Logging"] = {{"EnableLogging", false},
                    {"EnableLogContext", false},
                    {"LogComponents", log_components},
                    {"CloudWatchLogGroup", nullptr},
                    {"CloudWatchLogStream", nullptr}};
  doc["StreamBufferSettings"] = {
      {"StreamBufferCount", 3}, {"CtrlStreamBufferSizeInMB", 5}, {"StreamBufferSizeInMB", 8}};
  doc["ErrorBehavior"] = {{"FailOnNoTablesCaptured", true},
                          {"ApplyErrorUpdatePolicy", "LOG_ERROR"},
                          {"FailOnTransactionConsistencyBreached", false},
                          {"RecoverableErrorThrottlingMax", 1800},
                          {"DataErrorEscalationPolicy", "SUSPEND_TABLE"},
                          {"ApplyErrorEscalationCount", 0},
                          {"RecoverableErrorStopRetryAfterThrottlingMax", true},
                          {"RecoverableErrorThrottling", true},
                          {"ApplyErrorFailOnTruncationDdl", false},
                          {"DataTruncationErrorPolicy", "LOG_ERROR"},
                          {"ApplyErrorInsertPolicy", "LOG_ERROR"},
                          {"EventErrorPolicy", "IGNORE"},
                          {"ApplyErrorEscalationPolicy", "LOG_ERROR"},
                          {"RecoverableErrorCount", -1},
                          {"DataErrorEscalationCount", 0},
                          {"TableErrorEscalationPolicy", "STOP_TASK"},
                          {"RecoverableErrorInterval", 5},
                          {"ApplyErrorDeletePolicy", "IGNORE_RECORD"},
                          {"TableErrorEscalationCount", 0},
                          {"FullLoadIgnoreConflicts", true},
                          {"DataErrorPolicy", "LOG_ERROR"},
                          {"TableErrorPolicy", "SUSPEND_TABLE"},
                          {"DataMaskingErrorPolicy", "STOP_TASK"}};
  doc["ValidationSettings"] = {{"EnableValidation", false},
                               {"ValidationMode", "ROW_LEVEL"},
                               {"ThreadCount", 5},
                               {"PartitionSize", 10000},
                               {"FailureMaxCount", 10000},
                               {"TableFailureMaxCount", 1000},
                               {"RecordFailureDelayInMinutes", 5},
                               {"RecordFailureDelayLimitInMinutes", 0},
                               {"RecordSuspendDelayInMinutes", 30},
                               {"MaxKeyColumnSize", 8096},
                               {"ValidationOnly", false},
                               {"HandleCollationDiff", false},
                               {"SkipLobColumns", false},
                               {"ValidationPartialLobSize", 0},
                               {"ValidationQueryCdcDelaySeconds", 0}};
  doc["TTSettings"] = {
      {"TTS3Settings", nullptr}, {"TTRecordSettings", nullptr}, {"EnableTT", false}};
  doc["FullLoadSettings"] = {{"CommitRate", 10000},
                             {"StopTaskCachedChangesApplied", false},
                             {"StopTaskCachedChangesNotApplied", false},
                             {"MaxFullLoadSubTasks", 8},
                             {"TransactionConsistencyTimeout", 600},
                             {"CreatePkAfterFullLoad", false},
                             {"TargetTablePrepMode", "DROP_AND_CREATE"}};
  doc["TargetMetadata"] = {{"ParallelApplyBufferSize", 0},
                           {"ParallelApplyQueuesPerThread", 0},
                           {"ParallelApplyThreads", 0},
                           {"TargetSchema", ""},
                           {"InlineLobMaxSize", 0},
                           {"ParallelLoadQueuesPerThread", 0},
                           {"SupportLobs", true},
                           {"LobChunkSize", 64},
                           {"TaskRecoveryTableEnabled", false},
                           {"ParallelLoadThreads", 0},
                           {"LobMaxSize", 32},
                           {"BatchApplyEnabled", false},
                           {"FullLobMode", false},
                           {"LimitedSizeLobMode", true},
                           {"LoadMaxFileSize", 0},
                           {"ParallelLoadBufferSize", 0}};
  doc["BeforeImageSettings"] = nullptr;
  doc["ControlTablesSettings"] = {{"historyTimeslotInMinutes", 5},
                                  {"HistoryTimeslotInMinutes", 5},
                                  {"StatusTableEnabled", false},
                                  {"SuspendedTablesTableEnabled", false},
                                  {"HistoryTableEnabled", false},
                                  {"ControlSchema", ""},
                                  {"FullLoadExceptionTableEnabled", false},
                                  {"CommitPositionTableEnabled", false}};
  doc["LoopbackPreventionSettings"] = nullptr;
  doc["CharacterSetSettings"] = nullptr;
  doc["FailTaskWhenCleanTaskResourceFailed"] = false;
  doc["ChangeProcessingTuning"] = {
      {"StatementCacheSize", 50},   {"CommitTimeout", 1},
      {"RecoveryTimeout", -1},      {"BatchApplyPreserveTransaction", true},
      {"BatchApplyTimeoutMin", 1},  {"BatchSplitSize", 0},
      {"BatchApplyTimeoutMax", 30}, {"MinTransactionSize", 1000},
      {"MemoryKeepTime", 60},       {"BatchApplyMemoryLimit", 500},
      {"MemoryLimitTotal", 1024}};
  doc["ChangeProcessingDdlHandlingPolicy"] = {{"HandleSourceTableDropped", true},
                                              {"HandleSourceTableTruncated", true},
                                              {"HandleSourceTableAltered", true}};
  doc["PostProcessingRules"] = nullptr;
  return doc;
}

void DeepMerge(Json& base, const Json& over) {
  for (const auto& [key, value] : over.items()) {
    auto it = base.find(key);
    if (it != base.end() && it->is_object() && value.is_object()) {
      DeepMerge(*it, value);
    } else {
      base[key] = value;
    }
  }
}

// LogComponents merge by Id (DMS fills in the components a user leaves out).
Json MergeLogComponents(const Json& defaults, const Json& user) {
  if (!user.is_array()) return user;  // ResolveTaskSettings reports the wrong type
  Json out = defaults;
  for (const Json& entry : user) {
    const Json* id = Find(entry, "Id");
    bool merged = false;
    if (id != nullptr) {
      for (Json& existing : out) {
        if (existing.is_object() && existing.value("Id", Json()) == *id) {
          DeepMerge(existing, entry);
          merged = true;
          break;
        }
      }
    }
    if (!merged) out.push_back(entry);
  }
  return out;
}

}  // namespace

const Json& DefaultTaskSettingsDocument() {
  static const Json kDefaults = BuildDefaultDocument();
  return kDefaults;
}

std::string_view LateObjectPolicyName(LateObjectPolicy policy) {
  switch (policy) {
    case LateObjectPolicy::kApply:
      return "APPLY";
    case LateObjectPolicy::kSkip:
      return "SKIP";
    case LateObjectPolicy::kStopTask:
      return "STOP_TASK";
  }
  return "?";
}

Json MergeTaskSettings(const Json& user_settings) {
  Json merged = DefaultTaskSettingsDocument();
  if (user_settings.is_null()) return merged;
  if (!user_settings.is_object()) return user_settings;
  DeepMerge(merged, user_settings);

  if (const Json* logging = Find(user_settings, "Logging")) {
    if (const Json* components = Find(*logging, "LogComponents");
        components != nullptr && merged["Logging"].is_object()) {
      merged["Logging"]["LogComponents"] = MergeLogComponents(
          DefaultTaskSettingsDocument()["Logging"]["LogComponents"], *components);
    }
  }
  if (const Json* control = Find(user_settings, "ControlTablesSettings")) {
    Json& c = merged["ControlTablesSettings"];
    if (c.is_object()) {
      if (const Json* upper = Find(*control, "HistoryTimeslotInMinutes")) {
        c["historyTimeslotInMinutes"] = *upper;
      } else if (const Json* lower = Find(*control, "historyTimeslotInMinutes")) {
        c["HistoryTimeslotInMinutes"] = *lower;
      }
    }
  }
  return merged;
}

// ---------------------------------------------------------------------------------------------
// Resolving the merged document
// ---------------------------------------------------------------------------------------------

namespace {

struct PolicyName {
  std::string_view name;
  ErrorPolicy policy;
};

// Reads the values the engine uses out of a merged settings document; every error names the
// path of the offending value.
class SettingsReader {
 public:
  explicit SettingsReader(const Json& doc) : doc_(doc) {}

  // The section as an object; a missing or null section reads as empty (defaults).
  Result<const Json*> Section(std::string_view name) {
    static const Json kEmpty = Json::object();
    const Json* s = Find(doc_, name);
    if (s == nullptr) return &kEmpty;
    if (!s->is_object()) {
      return Status::InvalidArgument(std::string(name) + " must be an object");
    }
    return s;
  }

  template <typename Int>
  Status Integer(std::string_view section, std::string_view key, Int& out, int64_t min,
                 int64_t max) {
    ASSIGN_OR_RETURN(const Json* s, Section(section));
    return ReadInt(*s, key, Path(section, key), out, min, max);
  }
  Status Bool(std::string_view section, std::string_view key, bool& out) {
    ASSIGN_OR_RETURN(const Json* s, Section(section));
    return ReadBool(*s, key, Path(section, key), out);
  }
  Status String(std::string_view section, std::string_view key, std::string& out) {
    ASSIGN_OR_RETURN(const Json* s, Section(section));
    const Json* v = Find(*s, key);
    if (v == nullptr) return Status::Ok();
    if (!v->is_string()) {
      return Status::InvalidArgument(Path(section, key) + " must be a string, got " + v->dump());
    }
    out = v->get<std::string>();
    return Status::Ok();
  }
  Status Policy(std::string_view key, ErrorPolicy& out,
                std::initializer_list<ErrorPolicy> allowed) {
    ASSIGN_OR_RETURN(const Json* s, Section("ErrorBehavior"));
    const Json* v = Find(*s, key);
    if (v == nullptr) return Status::Ok();
    std::vector<std::string_view> names;
    for (ErrorPolicy p : allowed) names.push_back(ErrorPolicyName(p));
    std::sort(names.begin(), names.end());
    if (v->is_string()) {
      for (ErrorPolicy p : allowed) {
        if (v->get<std::string>() == ErrorPolicyName(p)) {
          out = p;
          return Status::Ok();
        }
      }
    }
    return Status::InvalidArgument(Path("ErrorBehavior", key) + " must be one of " +
                                   JoinNames(names) + ", got " + v->dump());
  }

 private:
  static std::string Path(std::string_view section, std::string_view key) {
    return std::string(section) + "." + std::string(key);
  }
  static std::string JoinNames(const std::vector<std::string_view>& names) {
    std::string out;
    for (std::string_view n : names) {
      if (!out.empty()) out += ", ";
      out += n;
    }
    return out;
  }
  const Json& doc_;
};

constexpr int64_t kMaxInt = 2147483647;

}  // namespace

Result<TaskSettings> ResolveTaskSettings(const Json& merged) {
  if (!merged.is_object()) {
    return Status::InvalidArgument("ReplicationTaskSettings must be a JSON object");
  }
  TaskSettings t;
  SettingsReader r(merged);
  using P = ErrorPolicy;

  // TargetMetadata
  RETURN_IF_ERROR(r.String("TargetMetadata", "TargetSchema", t.target_schema));
  RETURN_IF_ERROR(r.Bool("TargetMetadata", "BatchApplyEnabled", t.batch_apply_enabled));
  RETURN_IF_ERROR(
      r.Bool("TargetMetadata", "TaskRecoveryTableEnabled", t.task_recovery_table_enabled));
  RETURN_IF_ERROR(r.Bool("TargetMetadata", "SupportLobs", t.support_lobs));
  RETURN_IF_ERROR(r.Bool("TargetMetadata", "FullLobMode", t.full_lob_mode));
  RETURN_IF_ERROR(r.Bool("TargetMetadata", "LimitedSizeLobMode", t.limited_size_lob_mode));
  RETURN_IF_ERROR(r.Integer("TargetMetadata", "LobMaxSize", t.lob_max_size_kb, 0, 102400 * 10));
  RETURN_IF_ERROR(r.Integer("TargetMetadata", "LobChunkSize", t.lob_chunk_size_kb, 0, kMaxInt));
  RETURN_IF_ERROR(
      r.Integer("TargetMetadata", "LoadMaxFileSize", t.load_max_file_size_kb, 0, 100000));
  for (const char* key : {"InlineLobMaxSize", "ParallelLoadThreads", "ParallelLoadBufferSize",
                          "ParallelLoadQueuesPerThread", "ParallelApplyThreads",
                          "ParallelApplyBufferSize", "ParallelApplyQueuesPerThread"}) {
    int64_t ignored = 0;
    RETURN_IF_ERROR(r.Integer("TargetMetadata", key, ignored, 0, kMaxInt));
  }
  if (t.full_lob_mode) {
    // S3 sources have no full LOB mode; DMS uses limited LOB mode for them.
    t.warnings.push_back(fmt::format(
        "TargetMetadata.FullLobMode=true: S3 sources support only limited LOB mode; LOBs are "
        "read in limited LOB mode (LobMaxSize {} KB)",
        t.lob_max_size_kb));
    t.full_lob_mode = false;
    t.limited_size_lob_mode = true;
  }

  // FullLoadSettings
  {
    ASSIGN_OR_RETURN(const Json* s, r.Section("FullLoadSettings"));
    if (const Json* v = Find(*s, "TargetTablePrepMode")) {
      bool found = false;
      for (TargetTablePrepMode m :
           {TargetTablePrepMode::kDoNothing, TargetTablePrepMode::kDropAndCreate,
            TargetTablePrepMode::kTruncateBeforeLoad}) {
        if (v->is_string() && v->get<std::string>() == TargetTablePrepModeName(m)) {
          t.prep_mode = m;
          found = true;
        }
      }
      if (!found) {
        return Status::InvalidArgument(
            "FullLoadSettings.TargetTablePrepMode must be one of DO_NOTHING, DROP_AND_CREATE, "
            "TRUNCATE_BEFORE_LOAD, got " +
            v->dump());
      }
    }
  }
  RETURN_IF_ERROR(r.Bool("FullLoadSettings", "CreatePkAfterFullLoad", t.create_pk_after_full_load));
  RETURN_IF_ERROR(r.Bool("FullLoadSettings", "StopTaskCachedChangesApplied",
                         t.stop_task_cached_changes_applied));
  RETURN_IF_ERROR(r.Bool("FullLoadSettings", "StopTaskCachedChangesNotApplied",
                         t.stop_task_cached_changes_not_applied));
  RETURN_IF_ERROR(
      r.Integer("FullLoadSettings", "MaxFullLoadSubTasks", t.max_full_load_subtasks, 1, 49));
  RETURN_IF_ERROR(r.Integer("FullLoadSettings", "CommitRate", t.commit_rate, 1, 50000));
  RETURN_IF_ERROR(r.Integer("FullLoadSettings", "TransactionConsistencyTimeout",
                            t.transaction_consistency_timeout, 0, kMaxInt));
  if (t.stop_task_cached_changes_applied && t.stop_task_cached_changes_not_applied) {
    return Status::InvalidArgument(
        "FullLoadSettings.StopTaskCachedChangesApplied and StopTaskCachedChangesNotApplied "
        "cannot both be true");
  }

  // ControlTablesSettings
  RETURN_IF_ERROR(r.String("ControlTablesSettings", "ControlSchema", t.control_schema));
  RETURN_IF_ERROR(r.Bool("ControlTablesSettings", "StatusTableEnabled", t.status_table_enabled));
  RETURN_IF_ERROR(r.Bool("ControlTablesSettings", "SuspendedTablesTableEnabled",
                         t.suspended_tables_table_enabled));
  RETURN_IF_ERROR(r.Bool("ControlTablesSettings", "HistoryTableEnabled", t.history_table_enabled));
  RETURN_IF_ERROR(r.Bool("ControlTablesSettings", "FullLoadExceptionTableEnabled",
                         t.full_load_exception_table_enabled));
  RETURN_IF_ERROR(r.Integer("ControlTablesSettings", "HistoryTimeslotInMinutes",
                            t.history_timeslot_minutes, 1, 1440));

  // ErrorBehavior: each policy accepts only the values DMS documents for it.
  RETURN_IF_ERROR(r.Policy("DataErrorPolicy", t.data_error_policy,
                           {P::kIgnoreRecord, P::kLogError, P::kSuspendTable, P::kStopTask}));
  RETURN_IF_ERROR(r.Policy("DataTruncationErrorPolicy", t.data_truncation_error_policy,
                           {P::kIgnoreRecord, P::kLogError, P::kSuspendTable, P::kStopTask}));
  RETURN_IF_ERROR(r.Policy("DataErrorEscalationPolicy", t.data_error_escalation_policy,
                           {P::kSuspendTable, P::kStopTask}));
  RETURN_IF_ERROR(r.Policy("EventErrorPolicy", t.event_error_policy, {P::kIgnore, P::kStopTask}));
  RETURN_IF_ERROR(
      r.Policy("TableErrorPolicy", t.table_error_policy, {P::kSuspendTable, P::kStopTask}));
  RETURN_IF_ERROR(
      r.Policy("TableErrorEscalationPolicy", t.table_error_escalation_policy, {P::kStopTask}));
  RETURN_IF_ERROR(r.Policy("ApplyErrorDeletePolicy", t.apply_error_delete_policy,
                           {P::kIgnoreRecord, P::kLogError, P::kSuspendTable, P::kStopTask}));
  RETURN_IF_ERROR(
      r.Policy("ApplyErrorInsertPolicy", t.apply_error_insert_policy,
               {P::kIgnoreRecord, P::kLogError, P::kSuspendTable, P::kStopTask, P::kInsertRecord}));
  RETURN_IF_ERROR(
      r.Policy("ApplyErrorUpdatePolicy", t.apply_error_update_policy,
               {P::kIgnoreRecord, P::kLogError, P::kSuspendTable, P::kStopTask, P::kUpdateRecord}));
  RETURN_IF_ERROR(r.Policy("ApplyErrorEscalationPolicy", t.apply_error_escalation_policy,
                           {P::kLogError, P::kSuspendTable, P::kStopTask}));
  RETURN_IF_ERROR(r.Integer("ErrorBehavior", "DataErrorEscalationCount",
                            t.data_error_escalation_count, 0, INT64_MAX));
  RETURN_IF_ERROR(r.Integer("ErrorBehavior", "TableErrorEscalationCount",
                            t.table_error_escalation_count, 0, INT64_MAX));
  RETURN_IF_ERROR(r.Integer("ErrorBehavior", "ApplyErrorEscalationCount",
                            t.apply_error_escalation_count, 0, INT64_MAX));
  RETURN_IF_ERROR(r.Integer("ErrorBehavior", "RecoverableErrorCount", t.recoverable_error_count, -1,
                            INT64_MAX));
  RETURN_IF_ERROR(r.Integer("ErrorBehavior", "RecoverableErrorInterval",
                            t.recoverable_error_interval, 0, kMaxInt));
  RETURN_IF_ERROR(
      r.Bool("ErrorBehavior", "RecoverableErrorThrottling", t.recoverable_error_throttling));
  RETURN_IF_ERROR(r.Integer("ErrorBehavior", "RecoverableErrorThrottlingMax",
                            t.recoverable_error_throttling_max, 0, kMaxInt));
  RETURN_IF_ERROR(r.Bool("ErrorBehavior", "RecoverableErrorStopRetryAfterThrottlingMax",
                         t.recoverable_error_stop_retry_after_throttling_max));
  RETURN_IF_ERROR(r.Bool("ErrorBehavior", "ApplyErrorFailOnTruncationDdl",
                         t.apply_error_fail_on_truncation_ddl));
  RETURN_IF_ERROR(r.Bool("ErrorBehavior", "FailOnNoTablesCaptured", t.fail_on_no_tables_captured));
  RETURN_IF_ERROR(r.Bool("ErrorBehavior", "FullLoadIgnoreConflicts", t.full_load_ignore_conflicts));

  // ChangeProcessingTuning
  const char* kTuning = "ChangeProcessingTuning";
  RETURN_IF_ERROR(
      r.Integer(kTuning, "BatchApplyTimeoutMin", t.batch_apply_timeout_min, 0, kMaxInt));
  RETURN_IF_ERROR(
      r.Integer(kTuning, "BatchApplyTimeoutMax", t.batch_apply_timeout_max, 0, kMaxInt));
  RETURN_IF_ERROR(
      r.Integer(kTuning, "BatchApplyMemoryLimit", t.batch_apply_memory_limit_mb, 1, kMaxInt));
  RETURN_IF_ERROR(r.Integer(kTuning, "BatchSplitSize", t.batch_split_size, 0, kMaxInt));
  RETURN_IF_ERROR(r.Integer(kTuning, "MinTransactionSize", t.min_transaction_size, 0, kMaxInt));
  RETURN_IF_ERROR(r.Integer(kTuning, "CommitTimeout", t.commit_timeout, 0, kMaxInt));
  RETURN_IF_ERROR(r.Integer(kTuning, "MemoryLimitTotal", t.memory_limit_total_mb, 1, kMaxInt));
  RETURN_IF_ERROR(r.Integer(kTuning, "MemoryKeepTime", t.memory_keep_time, 0, kMaxInt));
  RETURN_IF_ERROR(r.Integer(kTuning, "StatementCacheSize", t.statement_cache_size, 0, 200));
  if (t.batch_apply_timeout_min > t.batch_apply_timeout_max) {
    return Status::InvalidArgument(
        "ChangeProcessingTuning.BatchApplyTimeoutMin must not exceed BatchApplyTimeoutMax");
  }

  // ChangeProcessingDdlHandlingPolicy
  const char* kDdl = "ChangeProcessingDdlHandlingPolicy";
  RETURN_IF_ERROR(r.Bool(kDdl, "HandleSourceTableDropped", t.handle_source_table_dropped));
  RETURN_IF_ERROR(r.Bool(kDdl, "HandleSourceTableTruncated", t.handle_source_table_truncated));
  RETURN_IF_ERROR(r.Bool(kDdl, "HandleSourceTableAltered", t.handle_source_table_altered));

  // StreamBufferSettings
  RETURN_IF_ERROR(
      r.Integer("StreamBufferSettings", "StreamBufferCount", t.stream_buffer_count, 1, kMaxInt));
  RETURN_IF_ERROR(r.Integer("StreamBufferSettings", "StreamBufferSizeInMB", t.stream_buffer_size_mb,
                            1, kMaxInt));
  RETURN_IF_ERROR(r.Integer("StreamBufferSettings", "CtrlStreamBufferSizeInMB",
                            t.ctrl_stream_buffer_size_mb, 1, 8));

  // Logging
  RETURN_IF_ERROR(r.Bool("Logging", "EnableLogging", t.enable_logging));

  // OpendmsSettings
  {
    std::string late;
    RETURN_IF_ERROR(r.String("OpendmsSettings", "LateChangeObjectPolicy", late));
    if (late == "APPLY" || late.empty()) {
      t.late_change_object_policy = LateObjectPolicy::kApply;
    } else if (late == "SKIP") {
      t.late_change_object_policy = LateObjectPolicy::kSkip;
    } else if (late == "STOP_TASK") {
      t.late_change_object_policy = LateObjectPolicy::kStopTask;
    } else {
      return Status::InvalidArgument(
          "OpendmsSettings.LateChangeObjectPolicy must be one of APPLY, SKIP, STOP_TASK, got \"" +
          late + "\"");
    }
  }
  {
    ASSIGN_OR_RETURN(const Json* logging, r.Section("Logging"));
    if (const Json* components = Find(*logging, "LogComponents")) {
      if (!components->is_array()) {
        return Status::InvalidArgument("Logging.LogComponents must be an array");
      }
      for (size_t i = 0; i < components->size(); ++i) {
        const Json& c = (*components)[i];
        std::string path = "Logging.LogComponents[" + std::to_string(i) + "]";
        const Json* sev = Find(c, "Severity");
        if (Find(c, "Id") == nullptr || sev == nullptr || !sev->is_string()) {
          return Status::InvalidArgument(path + " must have string Id and Severity");
        }
        static constexpr std::string_view kSeverities[] = {
            "LOGGER_SEVERITY_ERROR",   "LOGGER_SEVERITY_WARNING", "LOGGER_SEVERITY_INFO",
            "LOGGER_SEVERITY_DEFAULT", "LOGGER_SEVERITY_DEBUG",   "LOGGER_SEVERITY_DETAILED_DEBUG"};
        if (std::find(std::begin(kSeverities), std::end(kSeverities), sev->get<std::string>()) ==
            std::end(kSeverities)) {
          return Status::InvalidArgument(
              path +
              ".Severity must be one of LOGGER_SEVERITY_ERROR, LOGGER_SEVERITY_WARNING, "
              "LOGGER_SEVERITY_INFO, LOGGER_SEVERITY_DEFAULT, LOGGER_SEVERITY_DEBUG, "
              "LOGGER_SEVERITY_DETAILED_DEBUG, got " +
              sev->dump());
        }
      }
    }
  }

  // Features opendms does not implement: fail loudly rather than pretend.
  bool validation = false, validation_only = false;
  RETURN_IF_ERROR(r.Bool("ValidationSettings", "EnableValidation", validation));
  RETURN_IF_ERROR(r.Bool("ValidationSettings", "ValidationOnly", validation_only));
  if (validation || validation_only) {
    return Status::InvalidArgument(
        "ValidationSettings.EnableValidation/ValidationOnly: data validation is not supported "
        "by opendms yet");
  }
  return t;
}

// ---------------------------------------------------------------------------------------------
// Task spec
// ---------------------------------------------------------------------------------------------

Result<TimePoint> ParseIsoTimestamp(std::string_view text, std::string_view field) {
  auto fail = [&]() {
    return Status::InvalidArgument(std::string(field) + " \"" + std::string(text) +
                                   "\" is not a timestamp like 2018-03-08T12:12:12");
  };
  // YYYY-MM-DD[T| ]hh:mm[:ss[.fff]][Z]
  auto digits = [&](size_t pos, size_t n, int& out) {
    if (pos + n > text.size()) return false;
    out = 0;
    for (size_t i = pos; i < pos + n; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(text[i]))) return false;
      out = out * 10 + (text[i] - '0');
    }
    return true;
  };
  int year, month, day, hour = 0, minute = 0, second = 0;
  if (!digits(0, 4, year) || text.size() < 10 || text[4] != '-' || !digits(5, 2, month) ||
      text[7] != '-' || !digits(8, 2, day)) {
    return fail();
  }
  size_t pos = 10;
  double fraction = 0;
  if (pos < text.size() && (text[pos] == 'T' || text[pos] == ' ')) {
    if (!digits(pos + 1, 2, hour) || pos + 3 >= text.size() || text[pos + 3] != ':' ||
        !digits(pos + 4, 2, minute)) {
      return fail();
    }
    pos += 6;
    if (pos < text.size() && text[pos] == ':') {
      if (!digits(pos + 1, 2, second)) return fail();
      pos += 3;
      if (pos < text.size() && text[pos] == '.') {
        double scale = 0.1;
        ++pos;
        size_t start = pos;
        while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
          fraction += (text[pos] - '0') * scale;
          scale /= 10;
          ++pos;
        }
        if (pos == start) return fail();
      }
    }
  }
  if (pos < text.size() && text[pos] == 'Z') ++pos;
  if (pos != text.size()) return fail();
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return fail();
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  time_t secs = timegm(&tm);
  return FromEpochSeconds(static_cast<double>(secs) + fraction);
}

Result<TaskSpec> ParseTaskSpec(const Json& doc) {
  if (!doc.is_object()) return Status::InvalidArgument("task document must be an object");
  static constexpr std::string_view kTaskKeys[] = {"ReplicationTaskIdentifier",
                                                   "SourceEndpointArn",
                                                   "TargetEndpointArn",
                                                   "ReplicationInstanceArn",
                                                   "MigrationType",
                                                   "TableMappings",
                                                   "ReplicationTaskSettings",
                                                   "CdcStartTime",
                                                   "CdcStartPosition",
                                                   "CdcStopPosition",
                                                   "Tags",
                                                   "TaskData",
                                                   "ResourceIdentifier"};
  RETURN_IF_ERROR(CheckKnownKeys(doc, kTaskKeys, "CreateReplicationTask input"));
  TaskSpec spec;

  const Json* id = Find(doc, "ReplicationTaskIdentifier");
  if (id == nullptr) return Status::InvalidArgument("ReplicationTaskIdentifier is required");
  ASSIGN_OR_RETURN(spec.identifier, JsonToString(*id, "ReplicationTaskIdentifier"));
  RETURN_IF_ERROR(ValidateDmsIdentifier(spec.identifier, "ReplicationTaskIdentifier", 255));

  const Json* type = Find(doc, "MigrationType");
  if (type == nullptr) return Status::InvalidArgument("MigrationType is required");
  ASSIGN_OR_RETURN(std::string type_name, JsonToString(*type, "MigrationType"));
  ASSIGN_OR_RETURN(spec.migration_type, ParseMigrationType(type_name));

  const Json* mappings = Find(doc, "TableMappings");
  if (mappings == nullptr) return Status::InvalidArgument("TableMappings is required");
  ASSIGN_OR_RETURN(spec.table_mappings_json, DocumentText(*mappings, "TableMappings"));
  {
    auto parsed = ParseTableMappings(spec.table_mappings_json);
    if (!parsed.ok()) return parsed.status().WithContext("TableMappings");
  }

  if (const Json* settings = Find(doc, "ReplicationTaskSettings")) {
    if (settings->is_string()) {
      const std::string& text = settings->get_ref<const std::string&>();
      if (!text.empty()) {
        ASSIGN_OR_RETURN(spec.user_settings_document, ParseJson(text, "ReplicationTaskSettings"));
      }
    } else if (settings->is_object()) {
      spec.user_settings_document = *settings;
    } else {
      return Status::InvalidArgument(
          "ReplicationTaskSettings must be a JSON document (a string or an object)");
    }
    if (!spec.user_settings_document.is_null() && !spec.user_settings_document.is_object()) {
      return Status::InvalidArgument("ReplicationTaskSettings must be a JSON object");
    }
  }
  spec.settings_document = MergeTaskSettings(spec.user_settings_document);
  ASSIGN_OR_RETURN(spec.settings, ResolveTaskSettings(spec.settings_document));

  if (const Json* t = Find(doc, "CdcStartTime")) {
    if (t->is_number()) {
      double secs = t->get<double>();
      if (!std::isfinite(secs) || secs < 0) {
        return Status::InvalidArgument("CdcStartTime must be a non-negative epoch time");
      }
      spec.cdc_start_time = FromEpochSeconds(secs);
    } else if (t->is_string()) {
      ASSIGN_OR_RETURN(spec.cdc_start_time,
                       ParseIsoTimestamp(t->get<std::string>(), "CdcStartTime"));
    } else {
      return Status::InvalidArgument(
          "CdcStartTime must be epoch seconds (a number) or an ISO 8601 string");
    }
  }
  if (const Json* p = Find(doc, "CdcStartPosition")) {
    ASSIGN_OR_RETURN(std::string pos, JsonToString(*p, "CdcStartPosition"));
    if (pos.empty()) return Status::InvalidArgument("CdcStartPosition must not be empty");
    spec.cdc_start_position = std::move(pos);
  }
  if (const Json* p = Find(doc, "CdcStopPosition")) {
    ASSIGN_OR_RETURN(std::string pos, JsonToString(*p, "CdcStopPosition"));
    std::string_view rest;
    if (pos.rfind("server_time:", 0) == 0) {
      rest = std::string_view(pos).substr(12);
    } else if (pos.rfind("commit_time:", 0) == 0) {
      rest = std::string_view(pos).substr(12);
    } else {
      return Status::InvalidArgument(
          "CdcStopPosition must be \"server_time:<time>\" or \"commit_time:<time>\", got \"" + pos +
          "\"");
    }
    RETURN_IF_ERROR(ParseIsoTimestamp(rest, "CdcStopPosition").status());
    spec.cdc_stop_position = std::move(pos);
  }
  if (spec.cdc_start_time && spec.cdc_start_position) {
    return Status::InvalidArgument(
        "CdcStartTime and CdcStartPosition are mutually exclusive; give one of them");
  }
  if (spec.migration_type == MigrationType::kFullLoad &&
      (spec.cdc_start_time || spec.cdc_start_position || spec.cdc_stop_position)) {
    return Status::InvalidArgument(
        "CdcStartTime, CdcStartPosition and CdcStopPosition apply only to cdc and "
        "full-load-and-cdc tasks");
  }

  RETURN_IF_ERROR(
      ReadString(doc, "SourceEndpointArn", "SourceEndpointArn", spec.source_endpoint_arn));
  RETURN_IF_ERROR(
      ReadString(doc, "TargetEndpointArn", "TargetEndpointArn", spec.target_endpoint_arn));
  RETURN_IF_ERROR(ReadString(doc, "ReplicationInstanceArn", "ReplicationInstanceArn",
                             spec.replication_instance_arn));
  RETURN_IF_ERROR(
      ReadString(doc, "ResourceIdentifier", "ResourceIdentifier", spec.resource_identifier));
  if (!spec.resource_identifier.empty()) {
    RETURN_IF_ERROR(ValidateDmsIdentifier(spec.resource_identifier, "ResourceIdentifier", 31));
  }
  RETURN_IF_ERROR(ReadString(doc, "TaskData", "TaskData", spec.task_data));
  return spec;
}

}  // namespace opendms::engine
