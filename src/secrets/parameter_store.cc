// SSM Parameter Store over the catalog schema "ssm".
//
// Tables: parameters (the latest metadata of each parameter, its version counter and tags) and
// parameter_versions (every kept version with its value and labels). String and StringList values
// are stored as text; SecureString values are sealed by the MasterKey with additional data
// "<ARN>\n<version>", so a ciphertext moved to another parameter or version does not decrypt.
// Every mutation locks the parameter's row inside one transaction.
#include <algorithm>
#include <cctype>
#include <regex>
#include <set>

#include "pg/pg.h"
#include "secrets/request.h"
#include "secrets/secrets.h"

namespace opendms::secrets {

namespace {

using internal::Request;

const std::vector<catalog::Migration> kMigrations = {
    {1, "parameters and their versions", R"sql(
CREATE SCHEMA IF NOT EXISTS ssm;
CREATE TABLE ssm.parameters (
  region text NOT NULL,
  name text NOT NULL,
  type text NOT NULL,
  key_id text,
  description text,
  allowed_pattern text,
  tier text NOT NULL,
  data_type text NOT NULL,
  version int NOT NULL,                       -- the latest version
  last_modified_at double precision NOT NULL, -- epoch seconds (Clock)
  last_modified_user text NOT NULL,
  tags jsonb NOT NULL DEFAULT '[]',
  PRIMARY KEY (region, name)
);
CREATE TABLE ssm.parameter_versions (
  region text NOT NULL,
  name text NOT NULL,
  version int NOT NULL,
  type text NOT NULL,
  key_id text,
  description text,
  allowed_pattern text,
  tier text NOT NULL,
  data_type text NOT NULL,
  value text,                                 -- String, StringList
  master_key_id text,                         -- SecureString: sealed value
  ciphertext bytea,
  modified_at double precision NOT NULL,
  modified_user text NOT NULL,
  labels text[] NOT NULL DEFAULT '{}',
  PRIMARY KEY (region, name, version),
  FOREIGN KEY (region, name) REFERENCES ssm.parameters ON DELETE CASCADE
);
)sql"},
};

constexpr std::string_view kReferencePrefix = "/aws/reference/secretsmanager/";
constexpr int kMaxVersions = 100;
constexpr size_t kMaxLabelsPerVersion = 10;
constexpr int kMaxHierarchyLevels = 15;
constexpr size_t kMaxArnChars = 1011;

Status Validation(std::string msg) {
  return Status::Aws(ErrorCode::kInvalidArgument, "ValidationException", std::move(msg));
}
Status ParameterNotFound(const std::string& name) {
  return Status::Aws(ErrorCode::kNotFound, "ParameterNotFound",
                     "Parameter " + name + " not found.");
}
Status VersionNotFound(const std::string& name, const std::string& selector) {
  return Status::Aws(ErrorCode::kNotFound, "ParameterVersionNotFound",
                     "Systems Manager could not find version " + selector + " of " + name +
                         ". Verify the version and try again.");
}
Status MaxResultsError(int64_t value, int max) {
  return Validation(
      fmt::format("1 validation error detected: Value '{}' at 'maxResults' failed "
                  "to satisfy constraint: Member must have value less than or "
                  "equal to {}",
                  value, max));
}

constexpr std::string_view kBadNameMessage =
    "Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). If formed as "
    "a path, it can consist of sub-paths divided by slash symbol; each sub-path can be formed as "
    "a mix of letters, numbers and the following 3 symbols .-_";

std::string Num(double d) { return fmt::format("{:.3f}", d); }
std::string Str(const pg::QueryResult& r, int row, int col) { return std::string(r.Get(row, col)); }
std::optional<std::string> OptStr(const pg::QueryResult& r, int row, int col) {
  if (r.IsNull(row, col)) return std::nullopt;
  return Str(r, row, col);
}

std::string Arn(const CallContext& c, std::string_view name) {
  std::string_view bare = name;
  if (!bare.empty() && bare[0] == '/') bare.remove_prefix(1);
  return fmt::format("arn:aws:ssm:{}:{}:parameter/{}", c.region, c.account_id, bare);
}

bool StartsWithNoCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) != prefix[i]) return false;
  }
  return true;
}

// "Parameter name must be a fully qualified name." for a slash-containing name without a
// leading slash: AWS's rule, checked on reads too.
Status CheckQualified(std::string_view name) {
  if (name.find('/') != std::string_view::npos && name[0] != '/') {
    return Validation("Parameter name must be a fully qualified name.");
  }
  return Status::Ok();
}

// AWS's rules for the name of a new parameter (PutParameter).
Status CheckNameForPut(const CallContext& c, std::string_view name) {
  if (name.empty()) {
    return Validation(
        "1 validation error detected: Value '' at 'name' failed to satisfy "
        "constraint: Member must have length greater than or equal to 1");
  }
  RETURN_IF_ERROR(CheckQualified(name));
  std::string_view bare = name[0] == '/' ? name.substr(1) : name;
  const bool is_path = name[0] == '/';
  if (StartsWithNoCase(bare, "aws") || StartsWithNoCase(bare, "ssm")) {
    if (is_path && StartsWithNoCase(bare, "aws/")) {
      return Status::Aws(ErrorCode::kInvalidArgument, "AccessDeniedException",
                         "No access to reserved parameter name: " + std::string(name) + ".");
    }
    return Validation(is_path ? std::string(kBadNameMessage)
                              : "Parameter name: can't be prefixed with \"aws\" or \"ssm\" "
                                "(case-insensitive).");
  }
  for (char ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch)) &&
        std::string_view("_.-/").find(ch) == std::string_view::npos) {
      return Validation(std::string(kBadNameMessage));
    }
  }
  if (is_path) {
    if (name.size() == 1 || name.back() == '/' || name.find("//") != std::string_view::npos) {
      return Validation(std::string(kBadNameMessage));
    }
    const auto levels = std::count(name.begin(), name.end(), '/');
    if (levels > kMaxHierarchyLevels) {
      return Status::Aws(ErrorCode::kInvalidArgument, "HierarchyLevelLimitExceededException",
                         "A hierarchy can have a maximum of 15 levels. For more information, see "
                         "Requirements and constraints for parameter names in the Amazon Web "
                         "Services Systems Manager User Guide.");
    }
  }
  if (Arn(c, name).size() > kMaxArnChars) {
    return Validation(
        "Parameter name: the name, including its ARN, must be at most 1011 "
        "characters long.");
  }
  return Status::Ok();
}

// A name as sent to GetParameter: a name or ARN, optionally with ":<version>" or ":<label>".
struct NameSelector {
  std::string name;
  std::optional<int> version;
  std::optional<std::string> label;
  std::string selector;  // ":3", ":prod" or ""
};

Result<NameSelector> ParseSelector(const CallContext& c, std::string text) {
  NameSelector out;
  const std::string arn_prefix = fmt::format("arn:aws:ssm:{}:{}:parameter", c.region, c.account_id);
  if (text.rfind("arn:", 0) == 0) {
    if (text.rfind(arn_prefix, 0) != 0) return ParameterNotFound(text);
    text = text.substr(arn_prefix.size());  // "/a/b" or "/flat"
    if (text.find('/', 1) == std::string::npos && text.size() > 1) {
      // "parameter/flat" names either "flat" or "/flat": a flat name first (the caller retries).
      text = text.substr(1);
    }
  }
  size_t colon = text.find(':');
  if (colon != std::string::npos) {
    out.selector = text.substr(colon);
    std::string sel = text.substr(colon + 1);
    text = text.substr(0, colon);
    if (sel.empty() || sel.find(':') != std::string::npos) {
      return Validation("Invalid parameter name selector: " + out.selector);
    }
    if (std::all_of(sel.begin(), sel.end(), [](char ch) { return std::isdigit(ch); })) {
      if (sel.size() > 9) return VersionNotFound(text, sel);
      out.version = std::stoi(sel);
    } else {
      out.label = sel;
    }
  }
  out.name = std::move(text);
  if (out.name.empty()) return ParameterNotFound(out.name);
  RETURN_IF_ERROR(CheckQualified(out.name));
  return out;
}

std::string NormaliseStringList(std::string_view value) {
  std::string out;
  size_t i = 0;
  while (true) {
    size_t comma = value.find(',', i);
    std::string_view item =
        value.substr(i, comma == std::string_view::npos ? std::string_view::npos : comma - i);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    out += item;
    if (comma == std::string_view::npos) break;
    out += ',';
    i = comma + 1;
  }
  return out;
}

bool ValidLabel(std::string_view label) {
  if (label.empty() || label.size() > 100) return false;
  if (std::isdigit(static_cast<unsigned char>(label[0]))) return false;
  if (StartsWithNoCase(label, "aws") || StartsWithNoCase(label, "ssm")) return false;
  return std::all_of(label.begin(), label.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-' || ch == '_';
  });
}

struct VersionRow {
  std::string name;
  int version = 0;
  std::string type;
  std::optional<std::string> key_id, description, allowed_pattern;
  std::string tier, data_type;
  std::optional<std::string> value;
  std::string master_key_id, ciphertext;
  double modified_at = 0;
  std::string modified_user;
  std::vector<std::string> labels;
};

constexpr std::string_view kVersionColumns =
    "name, version, type, key_id, description, allowed_pattern, tier, data_type, value, "
    "master_key_id, ciphertext, modified_at, modified_user, array_to_json(labels)::text";

VersionRow VersionFromRow(const pg::QueryResult& r, int i) {
  VersionRow v;
  v.name = Str(r, i, 0);
  v.version = std::stoi(Str(r, i, 1));
  v.type = Str(r, i, 2);
  v.key_id = OptStr(r, i, 3);
  v.description = OptStr(r, i, 4);
  v.allowed_pattern = OptStr(r, i, 5);
  v.tier = Str(r, i, 6);
  v.data_type = Str(r, i, 7);
  v.value = OptStr(r, i, 8);
  v.master_key_id = Str(r, i, 9);
  v.ciphertext = internal::DecodeByteaHex(r.Get(i, 10));
  v.modified_at = std::stod(Str(r, i, 11));
  v.modified_user = Str(r, i, 12);
  for (const auto& l : Json::parse(r.Get(i, 13))) v.labels.push_back(l.get<std::string>());
  return v;
}

std::string Aad(std::string_view arn, int version) {
  return std::string(arn) + "\n" + std::to_string(version);
}

class Ops {
 public:
  Ops(pg::Connection& conn, const MasterKey& key, const CallContext& context)
      : conn_(conn), key_(key), context_(context) {}

  // Every kept version of `name`, oldest first (empty: no such parameter).
  Result<std::vector<VersionRow>> Versions(const std::string& name) {
    ASSIGN_OR_RETURN(auto r, conn_.Query(fmt::format("SELECT {} FROM ssm.parameter_versions "
                                                     "WHERE region = $1 AND name = $2 "
                                                     "ORDER BY version",
                                                     kVersionColumns),
                                         {context_.region, name}));
    std::vector<VersionRow> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(VersionFromRow(r, i));
    return out;
  }

  // The versions of the parameter a selector names, resolving the flat/slashed ARN ambiguity.
  Result<std::vector<VersionRow>> VersionsOf(NameSelector& sel) {
    ASSIGN_OR_RETURN(auto versions, Versions(sel.name));
    if (versions.empty() && sel.name[0] != '/') {
      ASSIGN_OR_RETURN(auto slashed, Versions("/" + sel.name));
      if (!slashed.empty()) {
        sel.name = "/" + sel.name;
        return slashed;
      }
    }
    return versions;
  }

  // The value as a response shows it: plaintext, or for SecureString without decryption the
  // sealed blob in base64 (never the plaintext).
  Result<std::string> Value(const VersionRow& v, bool decrypt) {
    if (v.type != "SecureString") return v.value.value_or("");
    if (!decrypt) return Base64Encode(v.ciphertext);
    return key_.Unseal(v.master_key_id, v.ciphertext, Aad(Arn(context_, v.name), v.version));
  }

  Result<Json> ParameterJson(const VersionRow& v, bool decrypt, const std::string& selector) {
    ASSIGN_OR_RETURN(std::string value, Value(v, decrypt));
    Json p{{"Name", v.name}, {"Type", v.type}, {"Value", value}, {"Version", v.version}};
    if (!selector.empty()) p["Selector"] = selector;
    p["LastModifiedDate"] = v.modified_at;
    p["ARN"] = Arn(context_, v.name);
    p["DataType"] = v.data_type;
    return p;
  }

  pg::Connection& conn() { return conn_; }

 private:
  pg::Connection& conn_;
  const MasterKey& key_;
  const CallContext& context_;
};

// One GetParameter lookup: the version a selector picks, or ParameterNotFound /
// ParameterVersionNotFound.
Result<Json> LookupParameter(Ops& ops, const CallContext& c, const std::string& raw, bool decrypt) {
  ASSIGN_OR_RETURN(NameSelector sel, ParseSelector(c, raw));
  ASSIGN_OR_RETURN(auto versions, ops.VersionsOf(sel));
  if (versions.empty()) return ParameterNotFound(sel.name);
  const VersionRow* chosen = &versions.back();
  if (sel.version || sel.label) {
    chosen = nullptr;
    for (const auto& v : versions) {
      if ((sel.version && v.version == *sel.version) ||
          (sel.label &&
           std::find(v.labels.begin(), v.labels.end(), *sel.label) != v.labels.end())) {
        chosen = &v;
      }
    }
    if (chosen == nullptr) return VersionNotFound(sel.name, sel.selector.substr(1));
  }
  return ops.ParameterJson(*chosen, decrypt, sel.selector);
}

struct Filter {
  std::string key, option;
  std::vector<std::string> values;
};

Result<std::vector<Filter>> ParseFilters(const Request& req, std::string_view field,
                                         const std::set<std::string>& keys) {
  std::vector<Filter> out;
  if (!req.Has(field)) return out;
  const Json& raw = req.Raw(field);
  if (!raw.is_array()) return Validation(std::string(field) + " must be a list");
  std::set<std::string> seen;
  for (const Json& f : raw) {
    if (!f.is_object() || !f.contains("Key") || !f["Key"].is_string()) {
      return Validation(std::string(field) + ": each filter needs a Key");
    }
    Filter filter;
    filter.key = f["Key"].get<std::string>();
    if (keys.count(filter.key) == 0) {
      std::string valid;
      for (const auto& k : keys) valid += (valid.empty() ? "" : ", ") + k;
      return Status::Aws(ErrorCode::kInvalidArgument, "InvalidFilterKey",
                         "The following filter key is not valid: " + filter.key +
                             ". Valid filter keys include: [" + valid + "].");
    }
    if (!seen.insert(filter.key).second) {
      return Status::Aws(ErrorCode::kInvalidArgument, "InvalidFilterKey",
                         "The following filter is duplicated in the request: " + filter.key +
                             ". A request can contain only one occurrence of a specific filter.");
    }
    filter.option =
        f.contains("Option") && f["Option"].is_string() ? f["Option"].get<std::string>() : "Equals";
    if (f.contains("Values") && f["Values"].is_array()) {
      for (const Json& v : f["Values"]) {
        if (v.is_string()) filter.values.push_back(v.get<std::string>());
      }
    }
    const bool path = filter.key == "Path";
    const bool valid_option = path ? (filter.option == "Recursive" || filter.option == "OneLevel")
                                   : (filter.option == "Equals" || filter.option == "BeginsWith");
    if (path && !f.contains("Option")) filter.option = "OneLevel";
    if (!valid_option && !(path && !f.contains("Option"))) {
      return Status::Aws(ErrorCode::kInvalidArgument, "InvalidFilterOption",
                         "The following filter option is not valid: " + filter.option + ".");
    }
    if (filter.values.empty()) {
      return Status::Aws(
          ErrorCode::kInvalidArgument, "InvalidFilterValue",
          "The following filter values are missing : null for filter key " + filter.key + ".");
    }
    out.push_back(std::move(filter));
  }
  return out;
}

// Whether `child` is in the hierarchy under `path` ("/a" or "/a/"): directly below it, or
// anywhere below it when recursive.
bool UnderPath(std::string_view child, std::string path, bool recursive) {
  if (path.empty() || path.back() != '/') path += '/';
  if (child.size() <= path.size() || child.substr(0, path.size()) != path) return false;
  return recursive || child.substr(path.size()).find('/') == std::string_view::npos;
}

bool MatchesFilters(const VersionRow& v, const std::vector<Filter>& filters) {
  for (const auto& f : filters) {
    bool any = false;
    for (const auto& value : f.values) {
      if (f.key == "Type") {
        any |= v.type == value;
      } else if (f.key == "KeyId") {
        any |= v.key_id.value_or("") == value;
      } else if (f.key == "Label") {
        any |= std::find(v.labels.begin(), v.labels.end(), value) != v.labels.end();
      } else if (f.key == "Name") {
        auto matches = [&](std::string_view want) {
          return f.option == "BeginsWith" ? v.name.rfind(want, 0) == 0 : v.name == want;
        };
        // AWS treats "name" and "/name" alike in a Name filter.
        any |= matches(value) || (!value.empty() && value[0] != '/' && matches("/" + value));
      } else if (f.key == "Path") {
        any |= UnderPath(v.name, value, f.option == "Recursive");
      } else if (f.key == "Tier") {
        any |= v.tier == value;
      } else if (f.key == "DataType") {
        any |= v.data_type == value;
      }
    }
    if (!any) return false;
  }
  return true;
}

Result<size_t> PageOffset(const std::optional<std::string>& token) {
  if (!token) return size_t{0};
  auto decoded = internal::DecodeOffsetToken(*token);
  if (!decoded) {
    return Status::Aws(ErrorCode::kInvalidArgument, "InvalidNextToken",
                       "The specified token isn't valid.");
  }
  return *decoded;
}

}  // namespace

Result<std::unique_ptr<ParameterStoreService>> ParameterStoreService::Create(
    catalog::Catalog& catalog, const MasterKey& key, SecretsManagerService& secrets) {
  RETURN_IF_ERROR(catalog.Migrate("ssm", kMigrations));
  return std::unique_ptr<ParameterStoreService>(new ParameterStoreService(catalog, key, secrets));
}

Result<Json> ParameterStoreService::Call(std::string_view operation, const Json& input,
                                         const CallContext& context) {
  Request req(input, "ValidationException");
  const double now = internal::NowEpoch();

  // /aws/reference/secretsmanager/<secret-id>[:<version id or label>]: the secret's value.
  auto reference = [&](const std::string& name, bool decrypt) -> Result<Json> {
    if (!decrypt) {
      return Validation(
          "WithDecryption flag must be True for retrieving a Secret Manager "
          "secret.");
    }
    std::string secret_id = name.substr(kReferencePrefix.size());
    Json request = Json::object();
    std::string selector;
    if (size_t colon = secret_id.rfind(':');
        colon != std::string::npos && secret_id.rfind("arn:", 0) != 0) {
      selector = secret_id.substr(colon + 1);
      secret_id = secret_id.substr(0, colon);
      request[selector.size() >= 32 ? "VersionId" : "VersionStage"] = selector;
    }
    request["SecretId"] = secret_id;
    auto secret = secrets_.GetSecretValue(request, context);
    if (!secret.ok()) {
      if (secret.status().IsNotFound()) {
        return Status::Aws(ErrorCode::kNotFound, "ParameterNotFound",
                           "An error occurred (ParameterNotFound) when referencing Secrets "
                           "Manager: Secret " +
                               name + " not found.");
      }
      return secret.status();
    }
    const Json& s = *secret;
    Json p{{"Name", name},
           {"Type", "SecureString"},
           {"Value", s.contains("SecretString") ? s["SecretString"] : s["SecretBinary"]},
           {"Version", 0},
           {"SourceResult", s.dump()},
           {"LastModifiedDate", s["CreatedDate"]},
           {"ARN", s["ARN"]},
           {"DataType", "text"}};
    return p;
  };
  auto is_reference = [](const std::string& name) {
    return name.rfind(kReferencePrefix, 0) == 0 && name.size() > kReferencePrefix.size();
  };

  if (operation == "PutParameter") {
    ASSIGN_OR_RETURN(std::string name, req.RequiredString("Name"));
    while (!name.empty() && name.front() == ' ') name.erase(0, 1);
    while (!name.empty() && name.back() == ' ') name.pop_back();
    ASSIGN_OR_RETURN(std::string value, req.RequiredString("Value"));
    ASSIGN_OR_RETURN(auto type, req.String("Type"));
    ASSIGN_OR_RETURN(auto overwrite_opt, req.Bool("Overwrite"));
    ASSIGN_OR_RETURN(auto description, req.String("Description"));
    ASSIGN_OR_RETURN(auto key_id, req.String("KeyId"));
    ASSIGN_OR_RETURN(auto allowed_pattern, req.String("AllowedPattern"));
    ASSIGN_OR_RETURN(auto tier_opt, req.String("Tier"));
    ASSIGN_OR_RETURN(auto data_type_opt, req.String("DataType"));
    ASSIGN_OR_RETURN(auto policies, req.String("Policies"));
    const bool overwrite = overwrite_opt.value_or(false);
    RETURN_IF_ERROR(CheckNameForPut(context, name));
    if (value.empty()) {
      return Validation(
          "1 validation error detected: Value '' at 'value' failed to satisfy "
          "constraint: Member must have length greater than or equal to 1.");
    }
    if (overwrite && req.Has("Tags")) {
      return Validation(
          "Invalid request: tags and overwrite can't be used together. To create a "
          "parameter with tags, please remove overwrite flag. To update tags for an "
          "existing parameter, please use AddTagsToResource or "
          "RemoveTagsFromResource.");
    }
    if (type && *type != "String" && *type != "StringList" && *type != "SecureString") {
      return Validation("1 validation error detected: Value '" + *type +
                        "' at 'type' failed to satisfy constraint: Member must satisfy enum "
                        "value set: [SecureString, StringList, String]");
    }
    if (tier_opt && *tier_opt != "Standard" && *tier_opt != "Advanced" &&
        *tier_opt != "Intelligent-Tiering") {
      return Validation("1 validation error detected: Value '" + *tier_opt +
                        "' at 'tier' failed to satisfy constraint: Member must satisfy enum value "
                        "set: [Advanced, Intelligent-Tiering, Standard]");
    }
    if (data_type_opt && *data_type_opt != "text" && *data_type_opt != "aws:ec2:image" &&
        *data_type_opt != "aws:ssm:integration") {
      return Validation("The following data type is not supported: " + *data_type_opt +
                        " (Data type names are all lowercase.)");
    }
    if (description && description->size() > 1024) {
      return Validation("Description must be at most 1024 characters long");
    }
    if (policies && !policies->empty() && *policies != "[]") {
      return Validation("Parameter policies are not supported by this server.");
    }
    Json tags = Json::array();
    if (req.Has("Tags")) {
      const Json& raw = req.Raw("Tags");
      if (!raw.is_array()) return Validation("Tags must be a list of {Key, Value}");
      for (const Json& t : raw) {
        if (!t.is_object() || !t.contains("Key") || !t["Key"].is_string() || !t.contains("Value") ||
            !t["Value"].is_string()) {
          return Validation("Tags must be a list of {Key, Value} strings");
        }
        tags.push_back(Json{{"Key", t["Key"]}, {"Value", t["Value"]}});
      }
    }
    // The value is never quoted in these messages: it may be a SecureString.
    auto check_pattern = [&](const std::string& pattern) -> Status {
      if (pattern.size() > 1024) {
        return Status::Aws(ErrorCode::kInvalidArgument, "InvalidAllowedPatternException",
                           "The allowed pattern must be at most 1024 characters long.");
      }
      std::regex re;
      try {
        re = std::regex(pattern, std::regex::ECMAScript);
      } catch (const std::regex_error&) {
        return Status::Aws(ErrorCode::kInvalidArgument, "InvalidAllowedPatternException",
                           "The allowed pattern " + pattern +
                               " is not a valid regular "
                               "expression.");
      }
      if (!std::regex_match(value, re)) {
        return Status::Aws(
            ErrorCode::kInvalidArgument, "ParameterPatternMismatchException",
            "Parameter value, cannot be validated against allowedPattern: " + pattern);
      }
      return Status::Ok();
    };
    if (allowed_pattern) RETURN_IF_ERROR(check_pattern(*allowed_pattern));
    Json out;
    RETURN_IF_ERROR(catalog_.InTransaction([&](pg::Connection& conn) -> Status {
      Ops ops(conn, key_, context);
      RETURN_IF_ERROR(conn.Query("SELECT pg_advisory_xact_lock(hashtext('ssm:' || $1 || ':' || "
                                 "$2))",
                                 {context.region, name})
                          .status());
      ASSIGN_OR_RETURN(auto versions, ops.Versions(name));
      const VersionRow* latest = versions.empty() ? nullptr : &versions.back();
      if (latest != nullptr && !overwrite) {
        return Status::Aws(ErrorCode::kAlreadyExists, "ParameterAlreadyExists",
                           "The parameter already exists. To overwrite this value, set the "
                           "overwrite option in the request to true.");
      }
      if (latest == nullptr && !type) {
        return Validation("A parameter type is required when you create a parameter.");
      }
      const std::string new_type = type.value_or(latest ? latest->type : "String");
      std::string tier = tier_opt.value_or(latest ? latest->tier : "Standard");
      if (tier == "Intelligent-Tiering") {
        tier =
            value.size() > 4096 || (latest && latest->tier == "Advanced") ? "Advanced" : "Standard";
      }
      if (latest && latest->tier == "Advanced" && tier == "Standard") {
        return Validation(
            "This parameter uses the advanced-parameter tier. You can't downgrade "
            "a parameter from the advanced-parameter tier to the standard-parameter "
            "tier. If necessary, you can delete the advanced parameter and recreate "
            "it as a standard parameter.");
      }
      const size_t limit = tier == "Advanced" ? 8192 : 4096;
      if (value.size() > limit) {
        return Validation(tier == "Advanced"
                              ? "Advanced tier parameters support a maximum parameter value of "
                                "8192 characters."
                              : "Standard tier parameters support a maximum parameter value of "
                                "4096 characters. To create a larger parameter value, upgrade the "
                                "parameter to use the advanced-parameter tier.");
      }
      const int version = latest ? latest->version + 1 : 1;
      if (versions.size() >= static_cast<size_t>(kMaxVersions)) {
        const VersionRow& oldest = versions.front();
        if (!oldest.labels.empty()) {
          return Status::Aws(
              ErrorCode::kInvalidState, "ParameterMaxVersionLimitExceeded",
              fmt::format("You attempted to create a new version of {} by calling the "
                          "PutParameter API with the overwrite flag. Version {}, the oldest "
                          "version, can't be deleted because it has a label associated with it. "
                          "Move the label to another version of the parameter, and try again.",
                          name, oldest.version));
        }
        RETURN_IF_ERROR(conn.Query("DELETE FROM ssm.parameter_versions WHERE region = $1 AND "
                                   "name = $2 AND version = $3",
                                   {context.region, name, std::to_string(oldest.version)})
                            .status());
      }
      const std::string data_type = data_type_opt.value_or(latest ? latest->data_type : "text");
      const std::optional<std::string> desc =
          description ? description : (latest ? latest->description : std::nullopt);
      const std::optional<std::string> pattern =
          allowed_pattern ? allowed_pattern : (latest ? latest->allowed_pattern : std::nullopt);
      // An overwrite without a pattern keeps the parameter's pattern, and must satisfy it.
      if (!allowed_pattern && pattern) RETURN_IF_ERROR(check_pattern(*pattern));
      std::optional<std::string> kms =
          new_type == "SecureString" ? std::optional<std::string>(key_id.value_or("alias/aws/ssm"))
                                     : std::nullopt;
      const std::string user = fmt::format("arn:aws:iam::{}:root", context.account_id);
      std::optional<std::string> plain, sealed_hex, master_key_id;
      if (new_type == "SecureString") {
        sealed_hex = internal::EncodeByteaHex(key_.Seal(value, Aad(Arn(context, name), version)));
        master_key_id = key_.key_id();
      } else {
        plain = new_type == "StringList" ? NormaliseStringList(value) : value;
      }
      if (latest == nullptr) {
        RETURN_IF_ERROR(
            conn.Query("INSERT INTO ssm.parameters (region, name, type, key_id, description, "
                       "allowed_pattern, tier, data_type, version, last_modified_at, "
                       "last_modified_user, tags) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
                       "$10, $11, $12::jsonb)",
                       {context.region, name, new_type, kms, desc, pattern, tier, data_type,
                        std::to_string(version), Num(now), user, tags.dump()})
                .status());
      } else {
        RETURN_IF_ERROR(
            conn.Query("UPDATE ssm.parameters SET type = $3, key_id = $4, description = $5, "
                       "allowed_pattern = $6, tier = $7, data_type = $8, version = $9, "
                       "last_modified_at = $10, last_modified_user = $11 "
                       "WHERE region = $1 AND name = $2",
                       {context.region, name, new_type, kms, desc, pattern, tier, data_type,
                        std::to_string(version), Num(now), user})
                .status());
      }
      RETURN_IF_ERROR(
          conn.Query("INSERT INTO ssm.parameter_versions (region, name, version, type, key_id, "
                     "description, allowed_pattern, tier, data_type, value, master_key_id, "
                     "ciphertext, modified_at, modified_user) VALUES ($1, $2, $3, $4, $5, $6, "
                     "$7, $8, $9, $10, $11, $12::bytea, $13, $14)",
                     {context.region, name, std::to_string(version), new_type, kms, desc, pattern,
                      tier, data_type, plain, master_key_id, sealed_hex, Num(now), user})
              .status());
      out = Json{{"Version", version}, {"Tier", tier}};
      return Status::Ok();
    }));
    spdlog::info("[ssm] put parameter {} version {}", name, out["Version"].get<int>());
    return out;
  }

  if (operation == "GetParameter") {
    ASSIGN_OR_RETURN(std::string name, req.RequiredString("Name"));
    ASSIGN_OR_RETURN(auto decrypt, req.Bool("WithDecryption"));
    if (is_reference(name)) {
      ASSIGN_OR_RETURN(Json p, reference(name, decrypt.value_or(false)));
      return Json{{"Parameter", p}};
    }
    Json out;
    RETURN_IF_ERROR(catalog_.InTransaction([&](pg::Connection& conn) -> Status {
      Ops ops(conn, key_, context);
      ASSIGN_OR_RETURN(Json p, LookupParameter(ops, context, name, decrypt.value_or(false)));
      out = Json{{"Parameter", p}};
      return Status::Ok();
    }));
    return out;
  }

  if (operation == "GetParameters") {
    ASSIGN_OR_RETURN(auto names, req.StringList("Names"));
    ASSIGN_OR_RETURN(auto decrypt, req.Bool("WithDecryption"));
    if (names.empty() || names.size() > 10) {
      return Validation(
          "1 validation error detected: Value at 'names' failed to satisfy "
          "constraint: Member must have length less than or equal to 10 and "
          "greater than or equal to 1");
    }
    Json params = Json::array(), invalid = Json::array();
    std::set<std::string> seen;
    RETURN_IF_ERROR(catalog_.InTransaction([&](pg::Connection& conn) -> Status {
      Ops ops(conn, key_, context);
      for (const auto& name : names) {
        if (!seen.insert(name).second) continue;
        Result<Json> p = is_reference(name)
                             ? reference(name, decrypt.value_or(false))
                             : LookupParameter(ops, context, name, decrypt.value_or(false));
        if (p.ok()) {
          params.push_back(*p);
        } else if (p.status().IsNotFound()) {
          invalid.push_back(name);
        } else {
          return p.status();
        }
      }
      return Status::Ok();
    }));
    return Json{{"Parameters", params}, {"InvalidParameters", invalid}};
  }

  if (operation == "GetParametersByPath") {
    ASSIGN_OR_RETURN(std::string path, req.RequiredString("Path"));
    ASSIGN_OR_RETURN(auto recursive, req.Bool("Recursive"));
    ASSIGN_OR_RETURN(auto decrypt, req.Bool("WithDecryption"));
    ASSIGN_OR_RETURN(auto max_results, req.Int("MaxResults"));
    ASSIGN_OR_RETURN(auto next_token, req.String("NextToken"));
    if (path.empty() || path[0] != '/') {
      return Validation(
          "The parameter doesn't meet the parameter name requirements. The "
          "parameter name must begin with a forward slash \"/\".");
    }
    if (max_results && (*max_results < 1 || *max_results > 10)) {
      return MaxResultsError(*max_results, 10);
    }
    ASSIGN_OR_RETURN(auto filters,
                     ParseFilters(req, "ParameterFilters", {"KeyId", "Label", "Type"}));
    ASSIGN_OR_RETURN(size_t offset, PageOffset(next_token));
    const size_t page = static_cast<size_t>(max_results.value_or(10));
    Json out;
    RETURN_IF_ERROR(catalog_.InTransaction([&](pg::Connection& conn) -> Status {
      Ops ops(conn, key_, context);
      // Latest versions of the parameters below the path, by name; labels filter on any version.
      ASSIGN_OR_RETURN(auto r,
                       conn.Query(fmt::format("SELECT {} FROM ssm.parameter_versions v "
                                              "WHERE region = $1 AND starts_with(name, $2) "
                                              "ORDER BY name, version",
                                              kVersionColumns),
                                  {context.region, path.back() == '/' ? path : path + "/"}));
      std::vector<VersionRow> matched;
      std::vector<VersionRow> rows;
      for (int i = 0; i < r.rows(); ++i) rows.push_back(VersionFromRow(r, i));
      for (size_t i = 0; i < rows.size(); ++i) {
        const bool is_latest = i + 1 == rows.size() || rows[i + 1].name != rows[i].name;
        if (!is_latest || !UnderPath(rows[i].name, path, recursive.value_or(false))) continue;
        // A Label filter matches when any version of the parameter carries the label; the
        // parameter is then returned at the labelled version, as AWS does.
        VersionRow candidate = rows[i];
        bool label_ok = true;
        for (const auto& f : filters) {
          if (f.key != "Label") continue;
          label_ok = false;
          for (size_t j = i + 1; j-- > 0 && rows[j].name == rows[i].name;) {
            for (const auto& l : f.values) {
              if (std::find(rows[j].labels.begin(), rows[j].labels.end(), l) !=
                  rows[j].labels.end()) {
                candidate = rows[j];
                label_ok = true;
              }
            }
            if (label_ok) break;
          }
        }
        std::vector<Filter> others;
        for (const auto& f : filters) {
          if (f.key != "Label") others.push_back(f);
        }
        if (label_ok && MatchesFilters(candidate, others)) matched.push_back(std::move(candidate));
      }
      Json list = Json::array();
      for (size_t i = offset; i < matched.size() && i < offset + page; ++i) {
        ASSIGN_OR_RETURN(Json p, ops.ParameterJson(matched[i], decrypt.value_or(false), ""));
        list.push_back(std::move(p));
      }
      out = Json{{"Parameters", list}};
      if (offset + page < matched.size()) {
        out["NextToken"] = internal::EncodeOffsetToken(offset + page);
      }
      return Status::Ok();
    }));
    return out;
  }

  if (operation == "DeleteParameter" || operation == "DeleteParameters") {
    const bool many = operation == "DeleteParameters";
    std::vector<std::string> names;
    if (many) {
      ASSIGN_OR_RETURN(names, req.StringList("Names"));
      if (names.empty() || names.size() > 10) {
        return Validation(
            "1 validation error detected: Value at 'names' failed to satisfy "
            "constraint: Member must have length less than or equal to 10 and "
            "greater than or equal to 1");
      }
    } else {
      ASSIGN_OR_RETURN(std::string name, req.RequiredString("Name"));
      names.push_back(name);
    }
    Json deleted = Json::array(), invalid = Json::array();
    RETURN_IF_ERROR(catalog_.InTransaction([&](pg::Connection& conn) -> Status {
      deleted = Json::array();
      invalid = Json::array();
      for (const auto& name : names) {
        ASSIGN_OR_RETURN(auto r, conn.Query("DELETE FROM ssm.parameters WHERE region = $1 AND "
                                            "name = $2",
                                            {context.region, name}));
        if (r.AffectedRows() == 1) {
          deleted.push_back(name);
        } else if (!many) {
          return ParameterNotFound(name);
        } else {
          invalid.push_back(name);
        }
      }
      return Status::Ok();
    }));
    if (!many) return Json::object();
    return Json{{"DeletedParameters", deleted}, {"InvalidParameters", invalid}};
  }

  if (operation == "DescribeParameters") {
    ASSIGN_OR_RETURN(auto max_results, req.Int("MaxResults"));
    ASSIGN_OR_RETURN(auto next_token, req.String("NextToken"));
    if (max_results && (*max_results < 1 || *max_results > 50)) {
      return MaxResultsError(*max_results, 50);
    }
    if (req.Has("Filters") && req.Has("ParameterFilters")) {
      return Validation("You can use either Filters or ParameterFilters in a single request.");
    }
    ASSIGN_OR_RETURN(auto filters, ParseFilters(req, "Filters", {"KeyId", "Name", "Type"}));
    ASSIGN_OR_RETURN(auto pfilters,
                     ParseFilters(req, "ParameterFilters",
                                  {"DataType", "KeyId", "Label", "Name", "Path", "Tier", "Type"}));
    for (auto& f : pfilters) filters.push_back(std::move(f));
    for (const auto& f : filters) {
      if (f.key == "Path") {
        for (const auto& v : f.values) {
          if (v.empty() || v[0] != '/') {
            return Validation(
                "The parameter doesn't meet the parameter name requirements. The "
                "parameter name must begin with a forward slash \"/\".");
          }
        }
      }
    }
    ASSIGN_OR_RETURN(size_t offset, PageOffset(next_token));
    const size_t page = static_cast<size_t>(max_results.value_or(50));
    Json out;
    RETURN_IF_ERROR(catalog_.InTransaction([&](pg::Connection& conn) -> Status {
      ASSIGN_OR_RETURN(auto r,
                       conn.Query(fmt::format("SELECT {}, (SELECT coalesce(array_to_json("
                                              "array_agg(DISTINCT l))::text, '[]') FROM "
                                              "ssm.parameter_versions a, unnest(a.labels) l "
                                              "WHERE a.region = v.region AND a.name = v.name) "
                                              "FROM ssm.parameter_versions v WHERE region = $1 "
                                              "AND (region, name, version) IN (SELECT region, "
                                              "name, version FROM ssm.parameters) ORDER BY name",
                                              kVersionColumns),
                                  {context.region}));
      std::vector<Json> entries;
      for (int i = 0; i < r.rows(); ++i) {
        VersionRow v = VersionFromRow(r, i);
        v.labels.clear();  // a Label filter matches a label on any version
        for (const auto& l : Json::parse(r.Get(i, 14))) v.labels.push_back(l.get<std::string>());
        if (!MatchesFilters(v, filters)) continue;
        Json e{{"Name", v.name}, {"ARN", Arn(context, v.name)}, {"Type", v.type}};
        if (v.key_id) e["KeyId"] = *v.key_id;
        e["LastModifiedDate"] = v.modified_at;
        e["LastModifiedUser"] = v.modified_user;
        if (v.description) e["Description"] = *v.description;
        if (v.allowed_pattern) e["AllowedPattern"] = *v.allowed_pattern;
        e["Version"] = v.version;
        e["Tier"] = v.tier;
        e["Policies"] = Json::array();
        e["DataType"] = v.data_type;
        entries.push_back(std::move(e));
      }
      Json list = Json::array();
      for (size_t i = offset; i < entries.size() && i < offset + page; ++i)
        list.push_back(entries[i]);
      out = Json{{"Parameters", list}};
      if (offset + page < entries.size()) {
        out["NextToken"] = internal::EncodeOffsetToken(offset + page);
      }
      return Status::Ok();
    }));
    return out;
  }

  if (operation == "GetParameterHistory") {
    ASSIGN_OR_RETURN(std::string name, req.RequiredString("Name"));
    ASSIGN_OR_RETURN(auto decrypt, req.Bool("WithDecryption"));
    ASSIGN_OR_RETURN(auto max_results, req.Int("MaxResults"));
    ASSIGN_OR_RETURN(auto next_token, req.String("NextToken"));
    if (max_results && (*max_results < 1 || *max_results > 50)) {
      return MaxResultsError(*max_results, 50);
    }
    ASSIGN_OR_RETURN(size_t offset, PageOffset(next_token));
    const size_t page = static_cast<size_t>(max_results.value_or(50));
    Json out;
    RETURN_IF_ERROR(catalog_.InTransaction([&](pg::Connection& conn) -> Status {
      Ops ops(conn, key_, context);
      ASSIGN_OR_RETURN(NameSelector sel, ParseSelector(context, name));
      ASSIGN_OR_RETURN(auto versions, ops.VersionsOf(sel));
      if (versions.empty()) return ParameterNotFound(sel.name);
      Json list = Json::array();
      for (size_t i = offset; i < versions.size() && i < offset + page; ++i) {
        const VersionRow& v = versions[i];
        ASSIGN_OR_RETURN(std::string value, ops.Value(v, decrypt.value_or(false)));
        Json e{{"Name", v.name}, {"Type", v.type}};
        if (v.key_id) e["KeyId"] = *v.key_id;
        e["LastModifiedDate"] = v.modified_at;
        e["LastModifiedUser"] = v.modified_user;
        if (v.description) e["Description"] = *v.description;
        e["Value"] = value;
        if (v.allowed_pattern) e["AllowedPattern"] = *v.allowed_pattern;
        e["Version"] = v.version;
        e["Labels"] = v.labels;
        e["Tier"] = v.tier;
        e["Policies"] = Json::array();
        e["DataType"] = v.data_type;
        list.push_back(std::move(e));
      }
      out = Json{{"Parameters", list}};
      if (offset + page < versions.size()) {
        out["NextToken"] = internal::EncodeOffsetToken(offset + page);
      }
      return Status::Ok();
    }));
    return out;
  }

  if (operation == "LabelParameterVersion" || operation == "UnlabelParameterVersion") {
    const bool label = operation == "LabelParameterVersion";
    ASSIGN_OR_RETURN(std::string name, req.RequiredString("Name"));
    ASSIGN_OR_RETURN(auto version_opt, req.Int("ParameterVersion"));
    ASSIGN_OR_RETURN(auto labels, req.StringList("Labels"));
    if (labels.empty() || labels.size() > 10) {
      return Validation(
          "1 validation error detected: Value at 'labels' failed to satisfy "
          "constraint: Member must have length less than or equal to 10 and "
          "greater than or equal to 1");
    }
    if (!label && !version_opt) {
      return Validation(
          "1 validation error detected: Value 'null' at 'parameterVersion' failed "
          "to satisfy constraint: Member must not be null");
    }
    Json out;
    RETURN_IF_ERROR(catalog_.InTransaction([&](pg::Connection& conn) -> Status {
      Ops ops(conn, key_, context);
      ASSIGN_OR_RETURN(auto locked, conn.Query("SELECT 1 FROM ssm.parameters WHERE region = $1 "
                                               "AND name = $2 FOR UPDATE",
                                               {context.region, name}));
      if (locked.rows() == 0) return ParameterNotFound(name);
      ASSIGN_OR_RETURN(auto versions, ops.Versions(name));
      const int version = static_cast<int>(version_opt.value_or(versions.back().version));
      const VersionRow* target = nullptr;
      for (const auto& v : versions) {
        if (v.version == version) target = &v;
      }
      if (target == nullptr) return VersionNotFound(name, std::to_string(version));
      Json invalid = Json::array();
      std::vector<std::string> result = target->labels;
      if (label) {
        std::vector<std::string> valid;
        for (const auto& l : labels) {
          if (!ValidLabel(l)) {
            invalid.push_back(l);
          } else if (std::find(result.begin(), result.end(), l) == result.end() &&
                     std::find(valid.begin(), valid.end(), l) == valid.end()) {
            valid.push_back(l);
          }
        }
        if (result.size() + valid.size() > kMaxLabelsPerVersion) {
          return Status::Aws(ErrorCode::kInvalidState, "ParameterVersionLabelLimitExceeded",
                             "A parameter version can have maximum 10 labels. Move one or more "
                             "labels to another version and try again.");
        }
        for (const auto& l : valid) {  // a label moves: off every other version
          RETURN_IF_ERROR(conn.Query("UPDATE ssm.parameter_versions SET labels = "
                                     "array_remove(labels, $3) WHERE region = $1 AND name = $2",
                                     {context.region, name, l})
                              .status());
          result.push_back(l);
        }
        out = Json{{"InvalidLabels", invalid}, {"ParameterVersion", version}};
      } else {
        Json removed = Json::array();
        std::vector<std::string> kept;
        for (const auto& l : labels) {
          if (std::find(result.begin(), result.end(), l) != result.end()) {
            removed.push_back(l);
          } else {
            invalid.push_back(l);
          }
        }
        for (const auto& l : result) {
          if (std::find(labels.begin(), labels.end(), l) == labels.end()) kept.push_back(l);
        }
        result = kept;
        out = Json{{"RemovedLabels", removed}, {"InvalidLabels", invalid}};
      }
      return conn
          .Query(
              "UPDATE ssm.parameter_versions SET labels = $4::text[] WHERE region = $1 AND "
              "name = $2 AND version = $3",
              {context.region, name, std::to_string(version),
               [&] {  // a text[] literal, every element quoted
                 std::string a = "{";
                 for (size_t i = 0; i < result.size(); ++i) {
                   a += (i ? ",\"" : "\"") + result[i] + "\"";  // labels hold no quotes
                 }
                 return a + "}";
               }()})
          .status();
    }));
    return out;
  }

  return Status::Aws(ErrorCode::kInvalidArgument, "UnknownOperationException",
                     "SSM has no operation " + std::string(operation));
}

}  // namespace opendms::secrets
