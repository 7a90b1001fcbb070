// Secrets Manager over the catalog schema "secretsmanager".
//
// Tables: secrets (one row per secret, metadata), versions (one row per version; the value sealed
// by the MasterKey with additional data "<ARN>\n<VersionId>\n<kind>"), stages (secret, label) →
// version: the primary key makes "a label is on at most one version" an invariant of the
// database. Every mutation locks the secret's row (SELECT … FOR UPDATE) inside one transaction.
// Times are epoch seconds from Clock, so tests can move time forward.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <set>

#include "pg/pg.h"
#include "secrets/request.h"
#include "secrets/secrets.h"

namespace opendms::secrets {

namespace {

using internal::Request;

const std::vector<catalog::Migration> kMigrations = {
    {1, "secrets, versions and staging labels", R"sql(
CREATE SCHEMA IF NOT EXISTS secretsmanager;
CREATE TABLE secretsmanager.secrets (
  id bigserial PRIMARY KEY,
  region text NOT NULL,
  name text NOT NULL,
  arn text NOT NULL UNIQUE,
  description text,
  kms_key_id text,
  created_at double precision NOT NULL,          -- epoch seconds (Clock)
  last_changed_at double precision,
  last_accessed_at double precision,
  deleted_at double precision,                   -- DeleteSecret was called
  deletion_date double precision,                -- purged when Clock passes it
  rotation_enabled boolean NOT NULL DEFAULT false,
  rotation_lambda_arn text,
  rotation_rules jsonb,
  last_rotated_at double precision,
  next_rotation_at double precision,
  tags jsonb NOT NULL DEFAULT '[]',              -- [{"Key","Value"}] in insertion order
  owning_service text,
  primary_region text,
  UNIQUE (region, name)
);
CREATE INDEX ON secretsmanager.secrets (deletion_date) WHERE deletion_date IS NOT NULL;
CREATE TABLE secretsmanager.versions (
  secret_id bigint NOT NULL REFERENCES secretsmanager.secrets (id) ON DELETE CASCADE,
  version_id text NOT NULL,
  seq bigserial NOT NULL,
  created_at double precision NOT NULL,
  last_accessed_at double precision,
  value_kind text CHECK (value_kind IN ('string', 'binary')),  -- NULL: a version without value
  key_id text,
  ciphertext bytea,
  PRIMARY KEY (secret_id, version_id)
);
CREATE TABLE secretsmanager.stages (
  secret_id bigint NOT NULL,
  stage text NOT NULL,
  version_id text NOT NULL,
  PRIMARY KEY (secret_id, stage),
  FOREIGN KEY (secret_id, version_id) REFERENCES secretsmanager.versions ON DELETE CASCADE
);
)sql"},
};

constexpr std::string_view kCurrent = "AWSCURRENT";
constexpr std::string_view kPrevious = "AWSPREVIOUS";
constexpr size_t kMaxLabelsPerVersion = 20;
constexpr size_t kMaxVersionsKept = 100;
constexpr double kDeprecatedGraceSeconds = 24 * 3600;

Status NotFound() {
  return Status::Aws(ErrorCode::kNotFound, "ResourceNotFoundException",
                     "Secrets Manager can't find the specified secret.");
}
Status InvalidRequest(std::string msg) {
  return Status::Aws(ErrorCode::kInvalidState, "InvalidRequestException", std::move(msg));
}
Status InvalidParameter(std::string msg) {
  return Status::Aws(ErrorCode::kInvalidArgument, "InvalidParameterException", std::move(msg));
}
Status ResourceExists(std::string msg) {
  return Status::Aws(ErrorCode::kAlreadyExists, "ResourceExistsException", std::move(msg));
}
Status MarkedForDeletion() {
  return InvalidRequest(
      "You can't perform this operation on the secret because it was marked for deletion.");
}

std::string Str(const pg::QueryResult& r, int row, int col) { return std::string(r.Get(row, col)); }
std::optional<double> OptDouble(const pg::QueryResult& r, int row, int col) {
  if (r.IsNull(row, col)) return std::nullopt;
  return std::stod(Str(r, row, col));
}
std::optional<std::string> OptStr(const pg::QueryResult& r, int row, int col) {
  if (r.IsNull(row, col)) return std::nullopt;
  return Str(r, row, col);
}
std::string Num(double d) { return fmt::format("{:.3f}", d); }

struct SecretRow {
  int64_t id = 0;
  std::string name, arn;
  std::optional<std::string> description, kms_key_id;
  double created_at = 0;
  std::optional<double> last_changed_at, last_accessed_at, deleted_at, deletion_date;
  bool rotation_enabled = false;
  std::optional<std::string> rotation_lambda_arn;
  Json rotation_rules;  // null when never configured
  std::optional<double> last_rotated_at, next_rotation_at;
  Json tags = Json::array();
  std::optional<std::string> owning_service, primary_region;

  bool deleted() const { return deletion_date.has_value(); }
};

constexpr std::string_view kSecretColumns =
    "id, name, arn, description, kms_key_id, created_at, last_changed_at, last_accessed_at, "
    "deleted_at, deletion_date, rotation_enabled, rotation_lambda_arn, rotation_rules::text, "
    "last_rotated_at, next_rotation_at, tags::text, owning_service, primary_region";

SecretRow SecretFromRow(const pg::QueryResult& r, int i) {
  SecretRow s;
  s.id = std::stoll(Str(r, i, 0));
  s.name = Str(r, i, 1);
  s.arn = Str(r, i, 2);
  s.description = OptStr(r, i, 3);
  s.kms_key_id = OptStr(r, i, 4);
  s.created_at = std::stod(Str(r, i, 5));
  s.last_changed_at = OptDouble(r, i, 6);
  s.last_accessed_at = OptDouble(r, i, 7);
  s.deleted_at = OptDouble(r, i, 8);
  s.deletion_date = OptDouble(r, i, 9);
  s.rotation_enabled = r.Get(i, 10) == "t";
  s.rotation_lambda_arn = OptStr(r, i, 11);
  if (!r.IsNull(i, 12)) s.rotation_rules = Json::parse(r.Get(i, 12));
  s.last_rotated_at = OptDouble(r, i, 13);
  s.next_rotation_at = OptDouble(r, i, 14);
  s.tags = Json::parse(r.Get(i, 15));
  s.owning_service = OptStr(r, i, 16);
  s.primary_region = OptStr(r, i, 17);
  return s;
}

struct VersionRow {
  std::string version_id;
  double created_at = 0;
  std::optional<double> last_accessed_at;
  std::optional<std::string> value_kind;
  std::string key_id, ciphertext;
  std::vector<std::string> stages;  // sorted
};

// A secret's value as the caller gave it.
struct SecretValue {
  std::string kind;   // "string" | "binary"
  std::string bytes;  // SecretString as given, or SecretBinary decoded
  bool operator==(const SecretValue&) const = default;
};

std::string Aad(std::string_view arn, std::string_view version_id, std::string_view kind) {
  return std::string(arn) + "\n" + std::string(version_id) + "\n" + std::string(kind);
}

// Validation of request fields against the service model's constraints.
Status CheckSecretId(const std::string& id) {
  if (id.empty() || id.size() > 2048) {
    return InvalidParameter("SecretId must be 1 to 2048 characters long");
  }
  return Status::Ok();
}

Status CheckName(const std::string& name) {
  if (name.empty() || name.size() > 512) {
    return InvalidParameter(
        "Invalid name. Must be a valid name containing alphanumeric "
        "characters, or any of the following: -/_+=.@!");
  }
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) &&
        std::string_view("/_+=.@-!").find(c) == std::string_view::npos) {
      return InvalidParameter(
          "Invalid name. Must be a valid name containing alphanumeric "
          "characters, or any of the following: -/_+=.@!");
    }
  }
  return Status::Ok();
}

Status CheckToken(const std::string& token) {
  if (token.size() < 32 || token.size() > 64) {
    return InvalidParameter("ClientRequestToken must be 32 to 64 characters long");
  }
  return Status::Ok();
}

Status CheckStage(const std::string& stage) {
  if (stage.empty() || stage.size() > 256) {
    return InvalidParameter("A staging label must be 1 to 256 characters long");
  }
  return Status::Ok();
}

// SecretString or SecretBinary (base64 on the wire), or nullopt when neither is given.
Result<std::optional<SecretValue>> ValueFromRequest(const Request& req) {
  const bool has_string = req.Has("SecretString"), has_binary = req.Has("SecretBinary");
  if (has_string && has_binary) {
    return InvalidParameter(
        "You can't specify both a binary secret value and a string secret "
        "value in the same secret.");
  }
  if (has_string) {
    ASSIGN_OR_RETURN(auto s, req.String("SecretString"));
    if (s->empty() || s->size() > 65536) {
      return InvalidParameter("SecretString must be 1 to 65536 characters long");
    }
    return std::optional<SecretValue>(SecretValue{"string", std::move(*s)});
  }
  if (has_binary) {
    ASSIGN_OR_RETURN(auto b64, req.String("SecretBinary"));
    auto bytes = Base64Decode(*b64, "SecretBinary");
    // The decoder's message is not echoed: it could quote the value.
    if (!bytes.ok()) return InvalidParameter("SecretBinary must be base64-encoded");
    if (bytes->empty() || bytes->size() > 65536) {
      return InvalidParameter("SecretBinary must be 1 to 65536 bytes long");
    }
    return std::optional<SecretValue>(SecretValue{"binary", std::move(bytes).value()});
  }
  return std::optional<SecretValue>();
}

Result<std::vector<Json>> TagsFromRequest(const Request& req) {
  std::vector<Json> tags;
  if (!req.Has("Tags")) return tags;
  const Json& raw = req.Raw("Tags");
  if (!raw.is_array()) return InvalidParameter("Tags must be a list of {Key, Value}");
  for (const Json& t : raw) {
    if (!t.is_object() || !t.contains("Key") || !t["Key"].is_string() ||
        (t.contains("Value") && !t["Value"].is_string())) {
      return InvalidParameter("Tags must be a list of {Key, Value} strings");
    }
    std::string key = t["Key"].get<std::string>();
    if (key.empty() || key.size() > 128)
      return InvalidParameter("A tag key must be 1 to 128 characters long");
    std::string value = t.value("Value", "");
    if (value.size() > 256)
      return InvalidParameter("A tag value must be at most 256 characters long");
    tags.push_back(Json{{"Key", key}, {"Value", value}});
  }
  if (tags.size() > 50) return InvalidParameter("A secret can have at most 50 tags");
  return tags;
}

// Adds or replaces tags by key, keeping the first position of each key.
Json MergeTags(const Json& existing, const std::vector<Json>& added) {
  Json out = existing.is_array() ? existing : Json::array();
  for (const Json& t : added) {
    bool replaced = false;
    for (Json& e : out) {
      if (e["Key"] == t["Key"]) {
        e["Value"] = t["Value"];
        replaced = true;
      }
    }
    if (!replaced) out.push_back(t);
  }
  return out;
}

// One call's database work. Lives for one operation.
class Ops {
 public:
  Ops(pg::Connection& conn, const MasterKey& key, const CallContext& context)
      : conn_(conn), key_(key), context_(context) {}

  // The secret named by name, full ARN or partial ARN (ARN without the "-xxxxxx" suffix).
  Result<std::optional<SecretRow>> Find(const std::string& secret_id, bool for_update) {
    std::string sql = fmt::format(
        "SELECT {} FROM secretsmanager.secrets "
        "WHERE (region = $1 AND name = $2) OR arn = $2 OR "
        "      ($2 LIKE 'arn:%' AND length(arn) > 7 AND left(arn, -7) = $2) "
        "ORDER BY (arn = $2) DESC, (name = $2) DESC LIMIT 1{}",
        kSecretColumns, for_update ? " FOR UPDATE" : "");
    ASSIGN_OR_RETURN(auto r, conn_.Query(sql, {context_.region, secret_id}));
    if (r.rows() == 0) return std::optional<SecretRow>();
    return std::optional<SecretRow>(SecretFromRow(r, 0));
  }

  Result<SecretRow> Get(const std::string& secret_id, bool for_update) {
    ASSIGN_OR_RETURN(auto found, Find(secret_id, for_update));
    if (!found) return NotFound();
    return std::move(*found);
  }

  Result<std::vector<VersionRow>> Versions(int64_t secret_id) {
    ASSIGN_OR_RETURN(
        auto r, conn_.Query("SELECT v.version_id, v.created_at, v.last_accessed_at, v.value_kind, "
                            "  v.key_id, v.ciphertext, "
                            "  coalesce((SELECT string_agg(s.stage, ',' ORDER BY s.stage) "
                            "   FROM secretsmanager.stages s WHERE s.secret_id = v.secret_id "
                            "   AND s.version_id = v.version_id), '') "
                            "FROM secretsmanager.versions v WHERE v.secret_id = $1 ORDER BY v.seq",
                            {std::to_string(secret_id)}));
    std::vector<VersionRow> out;
    for (int i = 0; i < r.rows(); ++i) {
      VersionRow v;
      v.version_id = Str(r, i, 0);
      v.created_at = std::stod(Str(r, i, 1));
      v.last_accessed_at = OptDouble(r, i, 2);
      v.value_kind = OptStr(r, i, 3);
      v.key_id = Str(r, i, 4);
      v.ciphertext = internal::DecodeByteaHex(r.Get(i, 5));
      std::string stages = Str(r, i, 6);
      size_t start = 0;
      while (!stages.empty() && start <= stages.size()) {
        size_t comma = stages.find(',', start);
        if (comma == std::string::npos) comma = stages.size();
        v.stages.push_back(stages.substr(start, comma - start));
        start = comma + 1;
      }
      out.push_back(std::move(v));
    }
    return out;
  }

  Result<SecretValue> Decrypt(const SecretRow& s, const VersionRow& v) {
    ASSIGN_OR_RETURN(std::string bytes,
                     key_.Unseal(v.key_id, v.ciphertext, Aad(s.arn, v.version_id, *v.value_kind)));
    return SecretValue{*v.value_kind, std::move(bytes)};
  }

  Status InsertVersion(const SecretRow& s, const std::string& version_id, const SecretValue& value,
                       double now) {
    std::string sealed = key_.Seal(value.bytes, Aad(s.arn, version_id, value.kind));
    auto r = conn_.Query(
        "INSERT INTO secretsmanager.versions (secret_id, version_id, created_at, value_kind, "
        "key_id, ciphertext) VALUES ($1, $2, $3, $4, $5, $6::bytea)",
        {std::to_string(s.id), version_id, Num(now), value.kind, key_.key_id(),
         internal::EncodeByteaHex(sealed)});
    return r.status();
  }

  // Puts `stage` on `version_id`, taking it from wherever it was. Moving AWSCURRENT moves
  // AWSPREVIOUS to the version AWSCURRENT left (as AWS does, atomically: same transaction).
  Status AttachStage(int64_t secret_id, const std::string& stage, const std::string& version_id) {
    const std::string sid = std::to_string(secret_id);
    if (stage == kCurrent) {
      ASSIGN_OR_RETURN(auto cur, conn_.Query("SELECT version_id FROM secretsmanager.stages "
                                             "WHERE secret_id = $1 AND stage = 'AWSCURRENT'",
                                             {sid}));
      if (cur.rows() == 1 && cur.Get(0, 0) != version_id) {
        RETURN_IF_ERROR(Upsert(sid, std::string(kPrevious), Str(cur, 0, 0)));
      }
    }
    return Upsert(sid, stage, version_id);
  }

  Status RemoveStage(int64_t secret_id, const std::string& stage) {
    return conn_
        .Query("DELETE FROM secretsmanager.stages WHERE secret_id = $1 AND stage = $2",
               {std::to_string(secret_id), stage})
        .status();
  }

  // Keeps at most kMaxVersionsKept versions: the oldest versions without labels that are older
  // than a day go first (AWS keeps everything from the last 24 hours).
  Status PruneDeprecated(int64_t secret_id, double now) {
    return conn_
        .Query(
            "DELETE FROM secretsmanager.versions v WHERE v.secret_id = $1 AND v.version_id IN ("
            "  SELECT d.version_id FROM secretsmanager.versions d WHERE d.secret_id = $1 "
            "  AND d.created_at < $2 AND NOT EXISTS (SELECT 1 FROM secretsmanager.stages s "
            "    WHERE s.secret_id = d.secret_id AND s.version_id = d.version_id) "
            "  ORDER BY d.seq LIMIT greatest(0, (SELECT count(*) FROM secretsmanager.versions "
            "    c WHERE c.secret_id = $1) - $3))",
            {std::to_string(secret_id), Num(now - kDeprecatedGraceSeconds),
             std::to_string(kMaxVersionsKept)})
        .status();
  }

  Status Touch(int64_t secret_id, double now, const std::string& column) {
    return conn_
        .Query("UPDATE secretsmanager.secrets SET " + pg::QuoteIdentifier(column) +
                   " = $2 WHERE id = $1",
               {std::to_string(secret_id), Num(now)})
        .status();
  }

  pg::Connection& conn() { return conn_; }
  const MasterKey& key() { return key_; }
  const CallContext& context() { return context_; }

 private:
  Status Upsert(const std::string& sid, const std::string& stage, const std::string& version_id) {
    return conn_
        .Query(
            "INSERT INTO secretsmanager.stages (secret_id, stage, version_id) VALUES ($1, $2, "
            "$3) ON CONFLICT (secret_id, stage) DO UPDATE SET version_id = excluded.version_id",
            {sid, stage, version_id})
        .status();
  }

  pg::Connection& conn_;
  const MasterKey& key_;
  const CallContext& context_;
};

Json StagesJson(const std::vector<std::string>& stages) {
  Json a = Json::array();
  for (const auto& s : stages) a.push_back(s);
  return a;
}

// Day granularity, as AWS reports LastAccessedDate.
double StartOfDay(double epoch) { return std::floor(epoch / 86400.0) * 86400.0; }

Json DescribeJson(const SecretRow& s, const std::vector<VersionRow>& versions, bool list_entry) {
  Json out;
  out["ARN"] = s.arn;
  out["Name"] = s.name;
  if (s.description) out["Description"] = *s.description;
  if (s.kms_key_id) out["KmsKeyId"] = *s.kms_key_id;
  if (s.rotation_enabled || s.rotation_lambda_arn) out["RotationEnabled"] = s.rotation_enabled;
  if (s.rotation_lambda_arn) out["RotationLambdaARN"] = *s.rotation_lambda_arn;
  if (!s.rotation_rules.is_null()) out["RotationRules"] = s.rotation_rules;
  if (s.last_rotated_at) out["LastRotatedDate"] = *s.last_rotated_at;
  if (s.last_changed_at) out["LastChangedDate"] = *s.last_changed_at;
  if (s.last_accessed_at) out["LastAccessedDate"] = StartOfDay(*s.last_accessed_at);
  if (s.deleted_at) out["DeletedDate"] = *s.deleted_at;
  if (s.next_rotation_at) out["NextRotationDate"] = *s.next_rotation_at;
  if (!s.tags.empty()) out["Tags"] = s.tags;
  Json stages = Json::object();
  for (const auto& v : versions) {
    if (!v.stages.empty()) stages[v.version_id] = StagesJson(v.stages);
  }
  out[list_entry ? "SecretVersionsToStages" : "VersionIdsToStages"] = stages;
  if (s.owning_service) out["OwningService"] = *s.owning_service;
  out["CreatedDate"] = s.created_at;
  if (s.primary_region) out["PrimaryRegion"] = *s.primary_region;
  return out;
}

// ListSecrets' filter semantics (service model): every filter must match (AND); within a filter,
// any value (OR); "!value" negates; prefix matches, case-insensitive for description and "all".
bool StartsWith(std::string_view text, std::string_view prefix, bool fold) {
  if (text.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    char a = text[i], b = prefix[i];
    if (fold) {
      a = static_cast<char>(std::tolower(static_cast<unsigned char>(a)));
      b = static_cast<char>(std::tolower(static_cast<unsigned char>(b)));
    }
    if (a != b) return false;
  }
  return true;
}

bool MatchesValue(const SecretRow& s, const std::string& key, std::string_view value) {
  auto any_word = [&](std::string_view text) {  // "all": any word of any attribute
    size_t i = 0;
    while (i < text.size()) {
      size_t j = text.find_first_of(" /_+=.@-", i);
      if (j == std::string_view::npos) j = text.size();
      if (StartsWith(text.substr(i, j - i), value, true)) return true;
      i = j + 1;
    }
    return StartsWith(text, value, true);
  };
  if (key == "name") return StartsWith(s.name, value, false);
  if (key == "description") return s.description && StartsWith(*s.description, value, true);
  if (key == "primary-region")
    return s.primary_region && StartsWith(*s.primary_region, value, false);
  if (key == "owning-service")
    return s.owning_service && StartsWith(*s.owning_service, value, false);
  if (key == "tag-key" || key == "tag-value") {
    for (const Json& t : s.tags) {
      if (StartsWith(t[key == "tag-key" ? "Key" : "Value"].get<std::string>(), value, false)) {
        return true;
      }
    }
    return false;
  }
  // "all"
  if (any_word(s.name) || (s.description && any_word(*s.description))) return true;
  if (s.primary_region && any_word(*s.primary_region)) return true;
  for (const Json& t : s.tags) {
    if (any_word(t["Key"].get<std::string>()) || any_word(t["Value"].get<std::string>())) {
      return true;
    }
  }
  return false;
}

// GetRandomPassword's generator: a CSPRNG draw over the allowed alphabet, with one character of
// every included class first when RequireEachIncludedType, then shuffled.
constexpr std::string_view kPunctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

uint32_t RandomBelow(uint32_t n) {  // uniform in [0, n), rejection sampling
  const uint32_t limit = UINT32_MAX - UINT32_MAX % n;
  while (true) {
    std::string b = RandomBytes(4);
    uint32_t v;
    std::memcpy(&v, b.data(), 4);
    if (v < limit) return v % n;
  }
}

}  // namespace

Result<std::unique_ptr<SecretsManagerService>> SecretsManagerService::Create(
    catalog::Catalog& catalog, const MasterKey& key) {
  RETURN_IF_ERROR(catalog.Migrate("secretsmanager", kMigrations));
  return std::unique_ptr<SecretsManagerService>(new SecretsManagerService(catalog, key));
}

Result<std::string> SecretsManagerService::CurrentSecretString(std::string_view secret_id,
                                                               const CallContext& context) {
  ASSIGN_OR_RETURN(Json out, GetSecretValue(Json{{"SecretId", secret_id}}, context));
  if (!out.contains("SecretString")) {
    return InvalidRequest("The secret " + out["Name"].get<std::string>() +
                          " holds a binary value, not a SecretString");
  }
  return out["SecretString"].get<std::string>();
}

Result<Json> SecretsManagerService::GetSecretValue(const Json& input, const CallContext& context) {
  Request req(input, "InvalidParameterException");
  ASSIGN_OR_RETURN(std::string secret_id, req.RequiredString("SecretId"));
  RETURN_IF_ERROR(CheckSecretId(secret_id));
  ASSIGN_OR_RETURN(auto version_id, req.String("VersionId"));
  ASSIGN_OR_RETURN(auto stage, req.String("VersionStage"));
  Json out;
  RETURN_IF_ERROR(catalog_.InTransaction([&](pg::Connection& conn) -> Status {
    Ops ops(conn, key_, context);
    ASSIGN_OR_RETURN(SecretRow s, ops.Get(secret_id, false));
    if (s.deleted()) return MarkedForDeletion();
    ASSIGN_OR_RETURN(auto versions, ops.Versions(s.id));
    const VersionRow* chosen = nullptr;
    const std::string wanted_stage = stage.value_or(version_id ? "" : std::string(kCurrent));
    for (const auto& v : versions) {
      bool id_ok = !version_id || v.version_id == *version_id;
      bool stage_ok = wanted_stage.empty() ||
                      std::find(v.stages.begin(), v.stages.end(), wanted_stage) != v.stages.end();
      if (id_ok && stage_ok) chosen = &v;
    }
    if (chosen == nullptr || !chosen->value_kind) {
      if (version_id && !stage) {
        return Status::Aws(
            ErrorCode::kNotFound, "ResourceNotFoundException",
            "Secrets Manager can't find the specified secret value for VersionId: " + *version_id);
      }
      return Status::Aws(ErrorCode::kNotFound, "ResourceNotFoundException",
                         "Secrets Manager can't find the specified secret value for staging "
                         "label: " +
                             wanted_stage);
    }
    ASSIGN_OR_RETURN(SecretValue value, ops.Decrypt(s, *chosen));
    // LastAccessedDate has day granularity: a read writes at most once a day per version, so
    // frequent readers (DMS endpoints) do not turn every read into a write.
    const double now = internal::NowEpoch();
    if (!chosen->last_accessed_at || *chosen->last_accessed_at < StartOfDay(now)) {
      RETURN_IF_ERROR(ops.Touch(s.id, now, "last_accessed_at"));
      RETURN_IF_ERROR(conn.Query("UPDATE secretsmanager.versions SET last_accessed_at = $3 "
                                 "WHERE secret_id = $1 AND version_id = $2",
                                 {std::to_string(s.id), chosen->version_id, Num(now)})
                          .status());
    }
    out = Json::object();
    out["ARN"] = s.arn;
    out["Name"] = s.name;
    out["VersionId"] = chosen->version_id;
    if (value.kind == "string") {
      out["SecretString"] = value.bytes;
    } else {
      out["SecretBinary"] = Base64Encode(value.bytes);
    }
    out["VersionStages"] = StagesJson(chosen->stages);
    out["CreatedDate"] = chosen->created_at;
    return Status::Ok();
  }));
  return out;
}

Result<Json> SecretsManagerService::Call(std::string_view operation, const Json& input,
                                         const CallContext& context) {
  Request req(input, "InvalidParameterException");
  const double now = internal::NowEpoch();

  // Secrets whose recovery window has passed are purged before anything looks at them.
  RETURN_IF_ERROR(catalog_.InTransaction([&](pg::Connection& conn) {
    return conn.Query("DELETE FROM secretsmanager.secrets WHERE deletion_date <= $1", {Num(now)})
        .status();
  }));

  if (operation == "GetSecretValue") return GetSecretValue(input, context);

  if (operation == "GetRandomPassword") {
    ASSIGN_OR_RETURN(auto length, req.Int("PasswordLength"));
    ASSIGN_OR_RETURN(auto exclude, req.String("ExcludeCharacters"));
    ASSIGN_OR_RETURN(auto no_numbers, req.Bool("ExcludeNumbers"));
    ASSIGN_OR_RETURN(auto no_punct, req.Bool("ExcludePunctuation"));
    ASSIGN_OR_RETURN(auto no_upper, req.Bool("ExcludeUppercase"));
    ASSIGN_OR_RETURN(auto no_lower, req.Bool("ExcludeLowercase"));
    ASSIGN_OR_RETURN(auto space, req.Bool("IncludeSpace"));
    ASSIGN_OR_RETURN(auto require_each, req.Bool("RequireEachIncludedType"));
    const int64_t n = length.value_or(32);
    if (n < 1 || n > 4096) {
      return InvalidParameter("PasswordLength must be between 1 and 4096");
    }
    const std::string excluded = exclude.value_or("");
    if (excluded.size() > 4096) return InvalidParameter("ExcludeCharacters is too long");
    std::vector<std::string> classes;
    auto add_class = [&](bool skip, std::string_view chars) {
      if (skip) return;
      std::string kept;
      for (char c : chars) {
        if (excluded.find(c) == std::string::npos) kept += c;
      }
      if (!kept.empty()) classes.push_back(kept);
    };
    add_class(no_upper.value_or(false), "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
    add_class(no_lower.value_or(false), "abcdefghijklmnopqrstuvwxyz");
    add_class(no_numbers.value_or(false), "0123456789");
    add_class(no_punct.value_or(false), kPunctuation);
    add_class(!space.value_or(false), " ");
    std::string alphabet;
    for (const auto& c : classes) alphabet += c;
    if (alphabet.empty()) {
      return InvalidParameter("The password can't be generated: every character is excluded.");
    }
    const bool each = require_each.value_or(true);
    if (each && static_cast<size_t>(n) < classes.size()) {
      return InvalidParameter(
          "The password length is too short to include a character of "
          "every included type.");
    }
    std::string password;
    if (each) {
      for (const auto& c : classes) password += c[RandomBelow(static_cast<uint32_t>(c.size()))];
    }
    while (password.size() < static_cast<size_t>(n)) {
      password += alphabet[RandomBelow(static_cast<uint32_t>(alphabet.size()))];
    }
    for (size_t i = password.size() - 1; i > 0; --i) {  // Fisher–Yates
      std::swap(password[i], password[RandomBelow(static_cast<uint32_t>(i + 1))]);
    }
    return Json{{"RandomPassword", password}};
  }

  if (operation == "CreateSecret") {
    ASSIGN_OR_RETURN(std::string name, req.RequiredString("Name"));
    RETURN_IF_ERROR(CheckName(name));
    ASSIGN_OR_RETURN(auto token, req.String("ClientRequestToken"));
    if (token) RETURN_IF_ERROR(CheckToken(*token));
    ASSIGN_OR_RETURN(auto description, req.String("Description"));
    if (description && description->size() > 2048) {
      return InvalidParameter("Description must be at most 2048 characters long");
    }
    ASSIGN_OR_RETURN(auto kms_key_id, req.String("KmsKeyId"));
    ASSIGN_OR_RETURN(auto value, ValueFromRequest(req));
    ASSIGN_OR_RETURN(auto tags, TagsFromRequest(req));
    const std::string version_id = token.value_or(RandomUuid());
    Json out;
    RETURN_IF_ERROR(catalog_.InTransaction([&](pg::Connection& conn) -> Status {
      Ops ops(conn, key_, context);
      // Serialises creations of the same name (the unique index would too, with a worse error).
      RETURN_IF_ERROR(conn.Query("SELECT pg_advisory_xact_lock(hashtext('secretsmanager:' || $1 "
                                 "|| ':' || $2))",
                                 {context.region, name})
                          .status());
      ASSIGN_OR_RETURN(auto r, conn.Query(fmt::format("SELECT {} FROM secretsmanager.secrets "
                                                      "WHERE region = $1 AND name = $2 FOR UPDATE",
                                                      kSecretColumns),
                                          {context.region, name}));
      if (r.rows() == 1) {
        SecretRow s = SecretFromRow(r, 0);
        if (s.deleted()) {
          return InvalidRequest(
              "You can't create this secret because a secret with this name is "
              "already scheduled for deletion.");
        }
        // The same request again (same token, same value): the same answer.
        if (token) {
          ASSIGN_OR_RETURN(auto versions, ops.Versions(s.id));
          for (const auto& v : versions) {
            if (v.version_id != *token) continue;
            std::optional<SecretValue> stored;
            if (v.value_kind) {
              ASSIGN_OR_RETURN(SecretValue sv, ops.Decrypt(s, v));
              stored = std::move(sv);
            }
            if (stored == value) {
              out = Json{{"ARN", s.arn}, {"Name", s.name}, {"VersionId", v.version_id}};
              return Status::Ok();
            }
          }
        }
        return ResourceExists("The operation failed because the secret " + name +
                              " already exists.");
      }
      SecretRow s;
      s.name = name;
      s.arn = fmt::format("arn:aws:secretsmanager:{}:{}:secret:{}-{}", context.region,
                          context.account_id, name,
                          RandomString(6,
                                       "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                       "0123456789"));
      Json tags_json = MergeTags(Json::array(), tags);
      ASSIGN_OR_RETURN(auto inserted,
                       conn.Query("INSERT INTO secretsmanager.secrets (region, name, arn, "
                                  "description, kms_key_id, created_at, last_changed_at, tags) "
                                  "VALUES ($1, $2, $3, $4, $5, $6, $6, $7::jsonb) RETURNING id",
                                  {context.region, name, s.arn, description, kms_key_id, Num(now),
                                   tags_json.dump()}));
      s.id = std::stoll(Str(inserted, 0, 0));
      out = Json{{"ARN", s.arn}, {"Name", s.name}};
      if (value) {
        RETURN_IF_ERROR(ops.InsertVersion(s, version_id, *value, now));
        RETURN_IF_ERROR(ops.AttachStage(s.id, std::string(kCurrent), version_id));
        out["VersionId"] = version_id;
      }
      return Status::Ok();
    }));
    spdlog::info("[secretsmanager] created secret {}", name);
    return out;
  }

  if (operation == "PutSecretValue" || operation == "UpdateSecret") {
    const bool put = operation == "PutSecretValue";
    ASSIGN_OR_RETURN(std::string secret_id, req.RequiredString("SecretId"));
    RETURN_IF_ERROR(CheckSecretId(secret_id));
    ASSIGN_OR_RETURN(auto token, req.String("ClientRequestToken"));
    if (token) RETURN_IF_ERROR(CheckToken(*token));
    ASSIGN_OR_RETURN(auto value, ValueFromRequest(req));
    ASSIGN_OR_RETURN(auto stages, req.StringList("VersionStages"));
    ASSIGN_OR_RETURN(auto description, req.String("Description"));
    ASSIGN_OR_RETURN(auto kms_key_id, req.String("KmsKeyId"));
    if (put) {
      if (!value) {
        return InvalidParameter("You must provide either SecretString or SecretBinary.");
      }
      if (req.Has("VersionStages") && stages.empty()) {
        return InvalidParameter("VersionStages must list at least one staging label");
      }
      if (stages.size() > kMaxLabelsPerVersion) {
        return InvalidParameter("A version can have at most 20 staging labels");
      }
      for (const auto& st : stages) RETURN_IF_ERROR(CheckStage(st));
    } else if (description && description->size() > 2048) {
      return InvalidParameter("Description must be at most 2048 characters long");
    }
    if (!req.Has("VersionStages")) stages = {std::string(kCurrent)};
    const std::string version_id = token.value_or(RandomUuid());
    Json out;
    RETURN_IF_ERROR(catalog_.InTransaction([&](pg::Connection& conn) -> Status {
      Ops ops(conn, key_, context);
      ASSIGN_OR_RETURN(SecretRow s, ops.Get(secret_id, true));
      if (s.deleted()) return MarkedForDeletion();
      out = Json{{"ARN", s.arn}, {"Name", s.name}};
      if (!put) {
        if (description) {
          RETURN_IF_ERROR(conn.Query("UPDATE secretsmanager.secrets SET description = $2 "
                                     "WHERE id = $1",
                                     {std::to_string(s.id), *description})
                              .status());
        }
        if (kms_key_id) {
          RETURN_IF_ERROR(conn.Query("UPDATE secretsmanager.secrets SET kms_key_id = $2 "
                                     "WHERE id = $1",
                                     {std::to_string(s.id), *kms_key_id})
                              .status());
        }
        RETURN_IF_ERROR(ops.Touch(s.id, now, "last_changed_at"));
        if (!value) return Status::Ok();
      }
      ASSIGN_OR_RETURN(auto versions, ops.Versions(s.id));
      for (const auto& v : versions) {
        if (v.version_id != version_id) continue;
        // Idempotent retry: same token and same value is a success that changes nothing.
        std::optional<SecretValue> stored;
        if (v.value_kind) {
          ASSIGN_OR_RETURN(SecretValue sv, ops.Decrypt(s, v));
          stored = std::move(sv);
        }
        if (stored != value) {
          return ResourceExists("A resource with the ID you requested already exists.");
        }
        out["VersionId"] = v.version_id;
        if (put) out["VersionStages"] = StagesJson(v.stages);
        return Status::Ok();
      }
      RETURN_IF_ERROR(ops.InsertVersion(s, version_id, *value, now));
      for (const auto& st : stages) RETURN_IF_ERROR(ops.AttachStage(s.id, st, version_id));
      RETURN_IF_ERROR(ops.Touch(s.id, now, "last_changed_at"));
      RETURN_IF_ERROR(ops.PruneDeprecated(s.id, now));
      out["VersionId"] = version_id;
      if (put) {
        std::vector<std::string> sorted = stages;
        std::sort(sorted.begin(), sorted.end());
        sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
        out["VersionStages"] = StagesJson(sorted);
      }
      return Status::Ok();
    }));
    return out;
  }

  if (operation == "DescribeSecret") {
    ASSIGN_OR_RETURN(std::string secret_id, req.RequiredString("SecretId"));
    RETURN_IF_ERROR(CheckSecretId(secret_id));
    Json out;
    RETURN_IF_ERROR(catalog_.InTransaction([&](pg::Connection& conn) -> Status {
      Ops ops(conn, key_, context);
      ASSIGN_OR_RETURN(SecretRow s, ops.Get(secret_id, false));
      ASSIGN_OR_RETURN(auto versions, ops.Versions(s.id));
      out = DescribeJson(s, versions, false);
      return Status::Ok();
    }));
    return out;
  }

  if (operation == "ListSecrets") {
    ASSIGN_OR_RETURN(auto include_deleted, req.Bool("IncludePlannedDeletion"));
    ASSIGN_OR_RETURN(auto max_results, req.Int("MaxResults"));
    ASSIGN_OR_RETURN(auto next_token, req.String("NextToken"));
    ASSIGN_OR_RETURN(auto sort_order, req.String("SortOrder"));
    if (max_results && (*max_results < 1 || *max_results > 100)) {
      return InvalidParameter("MaxResults must be between 1 and 100");
    }
    if (sort_order && *sort_order != "asc" && *sort_order != "desc") {
      return InvalidParameter("SortOrder must be asc or desc");
    }
    std::vector<std::pair<std::string, std::vector<std::string>>> filters;
    if (req.Has("Filters")) {
      const Json& raw = req.Raw("Filters");
      if (!raw.is_array()) return InvalidParameter("Filters must be a list");
      static const std::set<std::string> kKeys = {
          "description", "name", "tag-key", "tag-value", "primary-region", "owning-service", "all"};
      for (const Json& f : raw) {
        if (!f.is_object() || !f.contains("Key") || !f["Key"].is_string()) {
          return InvalidParameter("Each filter needs a Key");
        }
        std::string key = f["Key"].get<std::string>();
        if (kKeys.count(key) == 0) {
          return InvalidParameter("Invalid filter key: " + key +
                                  ". Valid keys: description, "
                                  "name, tag-key, tag-value, primary-region, owning-service, all");
        }
        std::vector<std::string> values;
        if (f.contains("Values") && f["Values"].is_array()) {
          for (const Json& v : f["Values"]) {
            if (v.is_string()) values.push_back(v.get<std::string>());
          }
        }
        if (values.empty()) return InvalidParameter("Filter " + key + " needs at least one value");
        filters.emplace_back(std::move(key), std::move(values));
      }
    }
    size_t offset = 0;
    if (next_token) {
      auto decoded = internal::DecodeOffsetToken(*next_token);
      if (!decoded) {
        return Status::Aws(ErrorCode::kInvalidArgument, "InvalidNextTokenException",
                           "The NextToken value is not valid.");
      }
      offset = *decoded;
    }
    std::vector<Json> entries;
    RETURN_IF_ERROR(catalog_.InTransaction([&](pg::Connection& conn) -> Status {
      Ops ops(conn, key_, context);
      ASSIGN_OR_RETURN(
          auto r, conn.Query(fmt::format("SELECT {} FROM secretsmanager.secrets WHERE region = $1 "
                                         "ORDER BY created_at {}, id {}",
                                         kSecretColumns, sort_order.value_or("asc"),
                                         sort_order.value_or("asc")),
                             {context.region}));
      for (int i = 0; i < r.rows(); ++i) {
        SecretRow s = SecretFromRow(r, i);
        if (s.deleted() && !include_deleted.value_or(false)) continue;
        bool keep = true;
        for (const auto& [key, values] : filters) {
          bool any_positive = false, matched = false, negated_hit = false;
          for (const auto& v : values) {
            if (!v.empty() && v[0] == '!') {
              if (MatchesValue(s, key, std::string_view(v).substr(1))) negated_hit = true;
            } else {
              any_positive = true;
              if (MatchesValue(s, key, v)) matched = true;
            }
          }
          if (negated_hit || (any_positive && !matched)) keep = false;
        }
        if (!keep) continue;
        ASSIGN_OR_RETURN(auto versions, ops.Versions(s.id));
        entries.push_back(DescribeJson(s, versions, true));
      }
      return Status::Ok();
    }));
    const size_t page = static_cast<size_t>(max_results.value_or(100));
    Json list = Json::array();
    for (size_t i = offset; i < entries.size() && i < offset + page; ++i)
      list.push_back(entries[i]);
    Json out{{"SecretList", list}};
    if (offset + page < entries.size())
      out["NextToken"] = internal::EncodeOffsetToken(offset + page);
    return out;
  }

  if (operation == "DeleteSecret") {
    ASSIGN_OR_RETURN(std::string secret_id, req.RequiredString("SecretId"));
    RETURN_IF_ERROR(CheckSecretId(secret_id));
    ASSIGN_OR_RETURN(auto window, req.Int("RecoveryWindowInDays"));
    ASSIGN_OR_RETURN(auto force, req.Bool("ForceDeleteWithoutRecovery"));
    if (window && force.value_or(false)) {
      return InvalidParameter(
          "You can't use ForceDeleteWithoutRecovery in conjunction with "
          "RecoveryWindowInDays.");
    }
    if (window && (*window < 7 || *window > 30)) {
      return InvalidParameter(
          "The RecoveryWindowInDays value must be between 7 and 30 days "
          "(inclusive).");
    }
    Json out;
    RETURN_IF_ERROR(catalog_.InTransaction([&](pg::Connection& conn) -> Status {
      Ops ops(conn, key_, context);
      ASSIGN_OR_RETURN(auto found, ops.Find(secret_id, true));
      if (!found) {
        if (!force.value_or(false)) return NotFound();
        // Force-deleting a secret that does not exist is not an error on AWS.
        out = Json{{"ARN", secret_id.rfind("arn:", 0) == 0
                               ? secret_id
                               : fmt::format("arn:aws:secretsmanager:{}:{}:secret:{}",
                                             context.region, context.account_id, secret_id)},
                   {"Name", secret_id},
                   {"DeletionDate", now}};
        return Status::Ok();
      }
      const SecretRow& s = *found;
      if (force.value_or(false)) {
        RETURN_IF_ERROR(
            conn.Query("DELETE FROM secretsmanager.secrets WHERE id = $1", {std::to_string(s.id)})
                .status());
        out = Json{{"ARN", s.arn}, {"Name", s.name}, {"DeletionDate", now}};
        return Status::Ok();
      }
      if (s.deleted()) {
        return InvalidRequest(
            "You tried to perform the operation on a secret that's currently "
            "marked deleted.");
      }
      const double deletion_date = now + 86400.0 * static_cast<double>(window.value_or(30));
      RETURN_IF_ERROR(conn.Query("UPDATE secretsmanager.secrets SET deleted_at = $2, "
                                 "deletion_date = $3 WHERE id = $1",
                                 {std::to_string(s.id), Num(now), Num(deletion_date)})
                          .status());
      out = Json{{"ARN", s.arn}, {"Name", s.name}, {"DeletionDate", deletion_date}};
      return Status::Ok();
    }));
    spdlog::info("[secretsmanager] deleted secret {}", out["Name"].get<std::string>());
    return out;
  }

  if (operation == "RestoreSecret") {
    ASSIGN_OR_RETURN(std::string secret_id, req.RequiredString("SecretId"));
    RETURN_IF_ERROR(CheckSecretId(secret_id));
    Json out;
    RETURN_IF_ERROR(catalog_.InTransaction([&](pg::Connection& conn) -> Status {
      Ops ops(conn, key_, context);
      ASSIGN_OR_RETURN(SecretRow s, ops.Get(secret_id, true));
      RETURN_IF_ERROR(conn.Query("UPDATE secretsmanager.secrets SET deleted_at = NULL, "
                                 "deletion_date = NULL WHERE id = $1",
                                 {std::to_string(s.id)})
                          .status());
      out = Json{{"ARN", s.arn}, {"Name", s.name}};
      return Status::Ok();
    }));
    return out;
  }

  if (operation == "UpdateSecretVersionStage") {
    ASSIGN_OR_RETURN(std::string secret_id, req.RequiredString("SecretId"));
    RETURN_IF_ERROR(CheckSecretId(secret_id));
    ASSIGN_OR_RETURN(std::string stage, req.RequiredString("VersionStage"));
    RETURN_IF_ERROR(CheckStage(stage));
    ASSIGN_OR_RETURN(auto move_to, req.String("MoveToVersionId"));
    ASSIGN_OR_RETURN(auto remove_from, req.String("RemoveFromVersionId"));
    Json out;
    RETURN_IF_ERROR(catalog_.InTransaction([&](pg::Connection& conn) -> Status {
      Ops ops(conn, key_, context);
      ASSIGN_OR_RETURN(SecretRow s, ops.Get(secret_id, true));
      if (s.deleted()) return MarkedForDeletion();
      ASSIGN_OR_RETURN(auto versions, ops.Versions(s.id));
      const VersionRow* holder = nullptr;
      const VersionRow* target = nullptr;
      const VersionRow* source = nullptr;
      for (const auto& v : versions) {
        if (std::find(v.stages.begin(), v.stages.end(), stage) != v.stages.end()) holder = &v;
        if (move_to && v.version_id == *move_to) target = &v;
        if (remove_from && v.version_id == *remove_from) source = &v;
      }
      if (move_to && target == nullptr) {
        return Status::Aws(ErrorCode::kNotFound, "ResourceNotFoundException",
                           "Secrets Manager can't find the specified secret version: " + *move_to);
      }
      if (remove_from && source == nullptr) {
        return Status::Aws(
            ErrorCode::kNotFound, "ResourceNotFoundException",
            "Secrets Manager can't find the specified secret version: " + *remove_from);
      }
      if (remove_from && holder != source) {
        return InvalidParameter("The staging label " + stage + " is not attached to version " +
                                *remove_from + ".");
      }
      if (move_to) {
        if (holder != nullptr && holder != target && !remove_from) {
          return InvalidParameter("The staging label " + stage +
                                  " is currently attached to version " + holder->version_id +
                                  ", so you must explicitly reference that version in "
                                  "RemoveFromVersionId.");
        }
        if (holder != target && target->stages.size() >= kMaxLabelsPerVersion) {
          return Status::Aws(ErrorCode::kInvalidArgument, "LimitExceededException",
                             "A version can have at most 20 staging labels.");
        }
        RETURN_IF_ERROR(ops.AttachStage(s.id, stage, *move_to));
      } else if (remove_from) {
        if (stage == kCurrent) {
          return InvalidParameter(
              "You can't remove the staging label AWSCURRENT from a version; "
              "move it to another version instead.");
        }
        RETURN_IF_ERROR(ops.RemoveStage(s.id, stage));
      } else {
        return InvalidParameter("You must specify MoveToVersionId, RemoveFromVersionId, or both.");
      }
      RETURN_IF_ERROR(ops.Touch(s.id, now, "last_changed_at"));
      RETURN_IF_ERROR(ops.PruneDeprecated(s.id, now));
      out = Json{{"ARN", s.arn}, {"Name", s.name}};
      return Status::Ok();
    }));
    return out;
  }

  if (operation == "ListSecretVersionIds") {
    ASSIGN_OR_RETURN(std::string secret_id, req.RequiredString("SecretId"));
    RETURN_IF_ERROR(CheckSecretId(secret_id));
    ASSIGN_OR_RETURN(auto include_deprecated, req.Bool("IncludeDeprecated"));
    ASSIGN_OR_RETURN(auto max_results, req.Int("MaxResults"));
    ASSIGN_OR_RETURN(auto next_token, req.String("NextToken"));
    if (max_results && (*max_results < 1 || *max_results > 100)) {
      return InvalidParameter("MaxResults must be between 1 and 100");
    }
    size_t offset = 0;
    if (next_token) {
      auto decoded = internal::DecodeOffsetToken(*next_token);
      if (!decoded) {
        return Status::Aws(ErrorCode::kInvalidArgument, "InvalidNextTokenException",
                           "The NextToken value is not valid.");
      }
      offset = *decoded;
    }
    Json out;
    RETURN_IF_ERROR(catalog_.InTransaction([&](pg::Connection& conn) -> Status {
      Ops ops(conn, key_, context);
      ASSIGN_OR_RETURN(SecretRow s, ops.Get(secret_id, false));
      ASSIGN_OR_RETURN(auto versions, ops.Versions(s.id));
      std::vector<Json> entries;
      for (auto it = versions.rbegin(); it != versions.rend(); ++it) {  // newest first
        if (it->stages.empty() && !include_deprecated.value_or(false)) continue;
        Json e{{"VersionId", it->version_id}, {"VersionStages", StagesJson(it->stages)}};
        if (it->last_accessed_at) e["LastAccessedDate"] = StartOfDay(*it->last_accessed_at);
        e["CreatedDate"] = it->created_at;
        e["KmsKeyIds"] = Json::array({s.kms_key_id.value_or("DefaultEncryptionKey")});
        entries.push_back(std::move(e));
      }
      const size_t page = static_cast<size_t>(max_results.value_or(100));
      Json list = Json::array();
      for (size_t i = offset; i < entries.size() && i < offset + page; ++i)
        list.push_back(entries[i]);
      out = Json{{"Versions", list}};
      if (offset + page < entries.size()) {
        out["NextToken"] = internal::EncodeOffsetToken(offset + page);
      }
      out["ARN"] = s.arn;
      out["Name"] = s.name;
      return Status::Ok();
    }));
    return out;
  }

  if (operation == "TagResource" || operation == "UntagResource") {
    ASSIGN_OR_RETURN(std::string secret_id, req.RequiredString("SecretId"));
    RETURN_IF_ERROR(CheckSecretId(secret_id));
    std::vector<Json> tags;
    std::vector<std::string> keys;
    if (operation == "TagResource") {
      if (!req.Has("Tags")) return InvalidParameter("Tags must not be null");
      ASSIGN_OR_RETURN(tags, TagsFromRequest(req));
    } else {
      if (!req.Has("TagKeys")) return InvalidParameter("TagKeys must not be null");
      ASSIGN_OR_RETURN(keys, req.StringList("TagKeys"));
    }
    RETURN_IF_ERROR(catalog_.InTransaction([&](pg::Connection& conn) -> Status {
      Ops ops(conn, key_, context);
      ASSIGN_OR_RETURN(SecretRow s, ops.Get(secret_id, true));
      if (s.deleted()) return MarkedForDeletion();
      Json merged = MergeTags(s.tags, tags);
      Json kept = Json::array();
      for (const Json& t : merged) {
        if (std::find(keys.begin(), keys.end(), t["Key"].get<std::string>()) == keys.end()) {
          kept.push_back(t);
        }
      }
      if (kept.size() > 50) return InvalidParameter("A secret can have at most 50 tags");
      return conn
          .Query("UPDATE secretsmanager.secrets SET tags = $2::jsonb WHERE id = $1",
                 {std::to_string(s.id), kept.dump()})
          .status();
    }));
    return Json::object();
  }

  return Status::Aws(ErrorCode::kInvalidArgument, "UnknownOperationException",
                     "Secrets Manager has no operation " + std::string(operation));
}

}  // namespace opendms::secrets
