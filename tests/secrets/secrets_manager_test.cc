// Secrets Manager at the service level, against a real PostgreSQL: staging labels, idempotency,
// deletion and recovery with simulated time, lookups, paging and filters, random passwords,
// encryption at rest, and no secret value in the logs.
#include <algorithm>
#include <set>

#include "secrets_fixture.h"

namespace opendms::secrets {
namespace {

constexpr std::string_view kToken1 = "11111111-1111-4111-8111-111111111111";
constexpr std::string_view kToken2 = "22222222-2222-4222-8222-222222222222";
constexpr std::string_view kToken3 = "33333333-3333-4333-8333-333333333333";

using SecretsManager = SecretsTest;

// {"Key": key, "Values": [value]}
Json F(std::string_view key, std::string_view value) {
  Json f = Json::object();
  f["Key"] = key;
  f["Values"] = Json::array({value});
  return f;
}

std::vector<std::string> Stages(const Json& describe, std::string_view version) {
  std::vector<std::string> out;
  const Json& map = describe.contains("VersionIdsToStages") ? describe["VersionIdsToStages"]
                                                            : describe["SecretVersionsToStages"];
  if (!map.contains(version)) return out;
  for (const auto& s : map[std::string(version)]) out.push_back(s.get<std::string>());
  std::sort(out.begin(), out.end());
  return out;
}

TEST_F(SecretsManager, CreateThenGetByNameFullArnAndPartialArn) {
  Json created =
      Sm("CreateSecret", {{"Name", "Acme/Orders/dev/DbSecret"},
                          {"ClientRequestToken", kToken1},
                          {"SecretString", R"({"username":"dms","password":"s3cr3t!"})"}});
  const std::string arn = created["ARN"];
  EXPECT_EQ(created["Name"], "Acme/Orders/dev/DbSecret");
  EXPECT_EQ(created["VersionId"], kToken1);
  const std::string prefix =
      "arn:aws:secretsmanager:us-east-1:000000000000:secret:"
      "Acme/Orders/dev/DbSecret-";
  ASSERT_EQ(arn.rfind(prefix, 0), 0u) << arn;
  EXPECT_EQ(arn.size(), prefix.size() + 6);

  for (const std::string& id :
       {std::string("Acme/Orders/dev/DbSecret"), arn, arn.substr(0, arn.size() - 7)}) {
    Json got = Sm("GetSecretValue", {{"SecretId", id}});
    EXPECT_EQ(got["SecretString"], R"({"username":"dms","password":"s3cr3t!"})") << id;
    EXPECT_EQ(got["ARN"], arn);
    EXPECT_EQ(got["VersionId"], kToken1);
    EXPECT_EQ(got["VersionStages"], Json::array({"AWSCURRENT"}));
    EXPECT_TRUE(got["CreatedDate"].is_number());
  }
  EXPECT_EQ(SmError("GetSecretValue", {{"SecretId", "Acme/Orders/dev/Nope"}}),
            "ResourceNotFoundException");
  EXPECT_EQ(last_error_, "Secrets Manager can't find the specified secret.");
  auto current = sm_->CurrentSecretString(arn, ctx_);
  ASSERT_TRUE(current.ok()) << current.status().ToString();
  EXPECT_EQ(*current, R"({"username":"dms","password":"s3cr3t!"})");
}

TEST_F(SecretsManager, SecretBinaryRoundTripsAsBase64) {
  const std::string bytes("\x00\x01\xff binary", 10);
  Sm("CreateSecret", {{"Name", "bin"}, {"SecretBinary", Base64Encode(bytes)}});
  Json got = Sm("GetSecretValue", {{"SecretId", "bin"}});
  EXPECT_FALSE(got.contains("SecretString"));
  EXPECT_EQ(got["SecretBinary"], Base64Encode(bytes));
  EXPECT_EQ(SmError("CreateSecret",
                    {{"Name", "both"}, {"SecretString", "a"}, {"SecretBinary", Base64Encode("b")}}),
            "InvalidParameterException");
}

TEST_F(SecretsManager, PutSecretValueMovesCurrentAndPreviousAndKeepsDeprecatedVersions) {
  Sm("CreateSecret", {{"Name", "s"}, {"ClientRequestToken", kToken1}, {"SecretString", "v1"}});
  Json put = Sm("PutSecretValue",
                {{"SecretId", "s"}, {"ClientRequestToken", kToken2}, {"SecretString", "v2"}});
  EXPECT_EQ(put["VersionStages"], Json::array({"AWSCURRENT"}));
  Json d = Sm("DescribeSecret", {{"SecretId", "s"}});
  EXPECT_EQ(Stages(d, kToken1), std::vector<std::string>{"AWSPREVIOUS"});
  EXPECT_EQ(Stages(d, kToken2), std::vector<std::string>{"AWSCURRENT"});

  Sm("PutSecretValue",
     {{"SecretId", "s"}, {"ClientRequestToken", kToken3}, {"SecretString", "v3"}});
  d = Sm("DescribeSecret", {{"SecretId", "s"}});
  EXPECT_FALSE(d["VersionIdsToStages"].contains(kToken1));  // deprecated: no labels
  EXPECT_EQ(Stages(d, kToken2), std::vector<std::string>{"AWSPREVIOUS"});
  EXPECT_EQ(Stages(d, kToken3), std::vector<std::string>{"AWSCURRENT"});
  EXPECT_EQ(
      Sm("GetSecretValue", {{"SecretId", "s"}, {"VersionStage", "AWSPREVIOUS"}})["SecretString"],
      "v2");
  // The deprecated version still answers by VersionId, and is listed only on request.
  EXPECT_EQ(Sm("GetSecretValue", {{"SecretId", "s"}, {"VersionId", kToken1}})["SecretString"],
            "v1");
  EXPECT_EQ(Sm("ListSecretVersionIds", {{"SecretId", "s"}})["Versions"].size(), 2u);
  Json all = Sm("ListSecretVersionIds", {{"SecretId", "s"}, {"IncludeDeprecated", true}});
  ASSERT_EQ(all["Versions"].size(), 3u);
  EXPECT_EQ(all["Versions"][2]["VersionId"], kToken1);
  EXPECT_EQ(all["Versions"][2]["VersionStages"], Json::array());
  // Both selectors must name the same version.
  EXPECT_EQ(SmError("GetSecretValue",
                    {{"SecretId", "s"}, {"VersionId", kToken1}, {"VersionStage", "AWSCURRENT"}}),
            "ResourceNotFoundException");
}

TEST_F(SecretsManager, PendingVersionAndUpdateSecretVersionStageAsRotationUsesThem) {
  Sm("CreateSecret", {{"Name", "r"}, {"ClientRequestToken", kToken1}, {"SecretString", "old"}});
  Json put = Sm("PutSecretValue", {{"SecretId", "r"},
                                   {"ClientRequestToken", kToken2},
                                   {"SecretString", "new"},
                                   {"VersionStages", {"AWSPENDING"}}});
  EXPECT_EQ(put["VersionStages"], Json::array({"AWSPENDING"}));
  EXPECT_EQ(Sm("GetSecretValue", {{"SecretId", "r"}})["SecretString"], "old");
  EXPECT_EQ(
      Sm("GetSecretValue", {{"SecretId", "r"}, {"VersionStage", "AWSPENDING"}})["SecretString"],
      "new");

  // AWSCURRENT sits on version 1: moving it needs RemoveFromVersionId naming that version.
  EXPECT_EQ(
      SmError("UpdateSecretVersionStage",
              {{"SecretId", "r"}, {"VersionStage", "AWSCURRENT"}, {"MoveToVersionId", kToken2}}),
      "InvalidParameterException");
  EXPECT_EQ(SmError("UpdateSecretVersionStage", {{"SecretId", "r"},
                                                 {"VersionStage", "AWSCURRENT"},
                                                 {"MoveToVersionId", kToken2},
                                                 {"RemoveFromVersionId", kToken2}}),
            "InvalidParameterException");
  Sm("UpdateSecretVersionStage", {{"SecretId", "r"},
                                  {"VersionStage", "AWSCURRENT"},
                                  {"MoveToVersionId", kToken2},
                                  {"RemoveFromVersionId", kToken1}});
  Json d = Sm("DescribeSecret", {{"SecretId", "r"}});
  EXPECT_EQ(Stages(d, kToken1), std::vector<std::string>{"AWSPREVIOUS"});
  EXPECT_EQ(Stages(d, kToken2), (std::vector<std::string>{"AWSCURRENT", "AWSPENDING"}));
  EXPECT_EQ(Sm("GetSecretValue", {{"SecretId", "r"}})["SecretString"], "new");

  // Only RemoveFromVersionId: the label is removed.
  Sm("UpdateSecretVersionStage",
     {{"SecretId", "r"}, {"VersionStage", "AWSPENDING"}, {"RemoveFromVersionId", kToken2}});
  d = Sm("DescribeSecret", {{"SecretId", "r"}});
  EXPECT_EQ(Stages(d, kToken2), std::vector<std::string>{"AWSCURRENT"});
  EXPECT_EQ(SmError("GetSecretValue", {{"SecretId", "r"}, {"VersionStage", "AWSPENDING"}}),
            "ResourceNotFoundException");
  EXPECT_EQ(last_error_,
            "Secrets Manager can't find the specified secret value for staging label: AWSPENDING");
  // A custom label moves freely when it sits nowhere yet.
  Sm("UpdateSecretVersionStage",
     {{"SecretId", "r"}, {"VersionStage", "blue"}, {"MoveToVersionId", kToken1}});
  EXPECT_EQ(Sm("GetSecretValue", {{"SecretId", "r"}, {"VersionStage", "blue"}})["SecretString"],
            "old");
}

TEST_F(SecretsManager, ClientRequestTokenMakesRetriesIdempotent) {
  Json first = Sm("CreateSecret",
                  {{"Name", "idem"}, {"ClientRequestToken", kToken1}, {"SecretString", "a"}});
  Json again = Sm("CreateSecret",
                  {{"Name", "idem"}, {"ClientRequestToken", kToken1}, {"SecretString", "a"}});
  EXPECT_EQ(first, again);
  EXPECT_EQ(SmError("CreateSecret",
                    {{"Name", "idem"}, {"ClientRequestToken", kToken1}, {"SecretString", "b"}}),
            "ResourceExistsException");
  EXPECT_EQ(SmError("CreateSecret",
                    {{"Name", "idem"}, {"ClientRequestToken", kToken2}, {"SecretString", "a"}}),
            "ResourceExistsException");
  EXPECT_EQ(last_error_, "The operation failed because the secret idem already exists.");

  Sm("PutSecretValue",
     {{"SecretId", "idem"}, {"ClientRequestToken", kToken2}, {"SecretString", "c"}});
  Json retry = Sm("PutSecretValue",
                  {{"SecretId", "idem"}, {"ClientRequestToken", kToken2}, {"SecretString", "c"}});
  EXPECT_EQ(retry["VersionId"], kToken2);
  EXPECT_EQ(SmError("PutSecretValue",
                    {{"SecretId", "idem"}, {"ClientRequestToken", kToken2}, {"SecretString", "d"}}),
            "ResourceExistsException");
  // Nothing moved: version 2 is current, version 1 previous, only two versions exist.
  Json all = Sm("ListSecretVersionIds", {{"SecretId", "idem"}, {"IncludeDeprecated", true}});
  EXPECT_EQ(all["Versions"].size(), 2u);
  EXPECT_EQ(Sm("GetSecretValue", {{"SecretId", "idem"}})["SecretString"], "c");
  EXPECT_EQ(SmError("PutSecretValue",
                    {{"SecretId", "idem"}, {"ClientRequestToken", "short"}, {"SecretString", "x"}}),
            "InvalidParameterException");
}

TEST_F(SecretsManager, UpdateSecretChangesDescriptionAndOptionallyTheValue) {
  Sm("CreateSecret", {{"Name", "u"}, {"Description", "first"}, {"SecretString", "1"}});
  Json upd = Sm("UpdateSecret", {{"SecretId", "u"}, {"Description", "second"}});
  EXPECT_FALSE(upd.contains("VersionId"));
  EXPECT_EQ(Sm("DescribeSecret", {{"SecretId", "u"}})["Description"], "second");
  upd = Sm("UpdateSecret", {{"SecretId", "u"}, {"SecretString", "2"}});
  ASSERT_TRUE(upd.contains("VersionId"));
  Json got = Sm("GetSecretValue", {{"SecretId", "u"}});
  EXPECT_EQ(got["SecretString"], "2");
  EXPECT_EQ(got["VersionId"], upd["VersionId"]);
}

TEST_F(SecretsManager, DeleteRestoreForceAndPurgeAfterTheRecoveryWindow) {
  Sm("CreateSecret", {{"Name", "del"}, {"SecretString", "x"}});
  EXPECT_EQ(SmError("DeleteSecret", {{"SecretId", "del"}, {"RecoveryWindowInDays", 6}}),
            "InvalidParameterException");
  EXPECT_EQ(SmError("DeleteSecret", {{"SecretId", "del"},
                                     {"RecoveryWindowInDays", 7},
                                     {"ForceDeleteWithoutRecovery", true}}),
            "InvalidParameterException");
  Json deleted = Sm("DeleteSecret", {{"SecretId", "del"}, {"RecoveryWindowInDays", 7}});
  const double now = ToEpochSeconds(Clock::Now());
  EXPECT_NEAR(deleted["DeletionDate"].get<double>(), now + 7 * 86400, 5);

  EXPECT_EQ(SmError("GetSecretValue", {{"SecretId", "del"}}), "InvalidRequestException");
  EXPECT_NE(last_error_.find("marked for deletion"), std::string::npos) << last_error_;
  EXPECT_EQ(SmError("PutSecretValue", {{"SecretId", "del"}, {"SecretString", "y"}}),
            "InvalidRequestException");
  EXPECT_EQ(SmError("CreateSecret", {{"Name", "del"}, {"SecretString", "y"}}),
            "InvalidRequestException");
  EXPECT_EQ(last_error_,
            "You can't create this secret because a secret with this name is "
            "already scheduled for deletion.");
  EXPECT_TRUE(Sm("DescribeSecret", {{"SecretId", "del"}}).contains("DeletedDate"));
  EXPECT_EQ(Sm("ListSecrets", Json::object())["SecretList"].size(), 0u);
  EXPECT_EQ(Sm("ListSecrets", {{"IncludePlannedDeletion", true}})["SecretList"].size(), 1u);

  Sm("RestoreSecret", {{"SecretId", "del"}});
  EXPECT_EQ(Sm("GetSecretValue", {{"SecretId", "del"}})["SecretString"], "x");
  EXPECT_FALSE(Sm("DescribeSecret", {{"SecretId", "del"}}).contains("DeletedDate"));

  // Six days later it is still recoverable; eight days later it is gone and the name is free.
  Sm("DeleteSecret", {{"SecretId", "del"}, {"RecoveryWindowInDays", 7}});
  Clock::SetOffset(std::chrono::hours(24 * 6));
  EXPECT_TRUE(Sm("DescribeSecret", {{"SecretId", "del"}}).contains("DeletedDate"));
  Clock::SetOffset(std::chrono::hours(24 * 8));
  EXPECT_EQ(SmError("DescribeSecret", {{"SecretId", "del"}}), "ResourceNotFoundException");
  EXPECT_EQ(Scalar("SELECT count(*) FROM secretsmanager.versions"), "0");
  Sm("CreateSecret", {{"Name", "del"}, {"SecretString", "again"}});

  // Force: gone at once. Force on a missing secret is not an error.
  Sm("DeleteSecret", {{"SecretId", "del"}, {"ForceDeleteWithoutRecovery", true}});
  EXPECT_EQ(SmError("GetSecretValue", {{"SecretId", "del"}}), "ResourceNotFoundException");
  Sm("DeleteSecret", {{"SecretId", "never-was"}, {"ForceDeleteWithoutRecovery", true}});
  EXPECT_EQ(SmError("DeleteSecret", {{"SecretId", "never-was"}}), "ResourceNotFoundException");
}

TEST_F(SecretsManager, ListSecretsPagesAndFilters) {
  for (int i = 0; i < 5; ++i) {
    Json tags = Json::array({Json{{"Key", "team"}, {"Value", i % 2 ? "blue" : "green"}}});
    Sm("CreateSecret", {{"Name", "app/" + std::to_string(i)},
                        {"Description", i == 3 ? "The Special one" : "plain"},
                        {"SecretString", "v"},
                        {"Tags", tags}});
  }
  Sm("CreateSecret", {{"Name", "other"}, {"SecretString", "v"}});
  std::vector<std::string> names;
  Json in = {{"MaxResults", 2}};
  int pages = 0;
  while (true) {
    Json page = Sm("ListSecrets", in);
    ++pages;
    for (const auto& s : page["SecretList"]) names.push_back(s["Name"]);
    if (!page.contains("NextToken")) break;
    in["NextToken"] = page["NextToken"];
    ASSERT_LT(pages, 10);
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(names,
            (std::vector<std::string>{"app/0", "app/1", "app/2", "app/3", "app/4", "other"}));

  // One Json per filter (a braced single element would not become an array).
  auto filtered = [&](std::vector<Json> filters) {
    std::vector<std::string> out;
    Json in = Json::object();
    in["Filters"] = Json(filters);
    Json listed = Sm("ListSecrets", in);  // kept alive: the loop reads into it
    for (const auto& s : listed["SecretList"]) {
      out.push_back(s["Name"]);
    }
    return out;
  };
  EXPECT_EQ(filtered({F("name", "app/")}).size(), 5u);
  EXPECT_EQ(filtered({F("name", "App/")}).size(), 0u);  // case-sensitive
  EXPECT_EQ(filtered({F("description", "the special")}), std::vector<std::string>{"app/3"});
  EXPECT_EQ(filtered({F("tag-value", "blue")}), (std::vector<std::string>{"app/1", "app/3"}));
  EXPECT_EQ(filtered({F("tag-key", "team"), F("tag-value", "!green")}),
            (std::vector<std::string>{"app/1", "app/3"}));
  EXPECT_EQ(filtered({F("all", "special")}), std::vector<std::string>{"app/3"});
  EXPECT_EQ(
      SmError("ListSecrets", {{"Filters", Json::array({{{"Key", "colour"}, {"Values", {"x"}}}})}}),
      "InvalidParameterException");
  EXPECT_EQ(SmError("ListSecrets", {{"NextToken", "garbage"}}), "InvalidNextTokenException");
  Json entry =
      Sm("ListSecrets",
         {{"Filters", Json::array({{{"Key", "name"}, {"Values", {"other"}}}})}})["SecretList"][0];
  EXPECT_TRUE(entry.contains("SecretVersionsToStages"));
  EXPECT_FALSE(entry.contains("SecretString"));
}

TEST_F(SecretsManager, TagsAndDescribe) {
  Sm("CreateSecret",
     {{"Name", "t"}, {"SecretString", "v"}, {"Tags", {{{"Key", "a"}, {"Value", "1"}}}}});
  Sm("TagResource", {{"SecretId", "t"},
                     {"Tags", {{{"Key", "a"}, {"Value", "2"}}, {{"Key", "b"}, {"Value", "3"}}}}});
  Json d = Sm("DescribeSecret", {{"SecretId", "t"}});
  EXPECT_EQ(d["Tags"], Json::parse(R"([{"Key":"a","Value":"2"},{"Key":"b","Value":"3"}])"));
  Sm("UntagResource", {{"SecretId", "t"}, {"TagKeys", {"a"}}});
  d = Sm("DescribeSecret", {{"SecretId", "t"}});
  EXPECT_EQ(d["Tags"], Json::parse(R"([{"Key":"b","Value":"3"}])"));
  EXPECT_TRUE(d["CreatedDate"].is_number());
  EXPECT_TRUE(d["LastChangedDate"].is_number());
  EXPECT_FALSE(d.contains("RotationRules"));
  EXPECT_FALSE(d.contains("SecretString"));
  Sm("GetSecretValue", {{"SecretId", "t"}});
  d = Sm("DescribeSecret", {{"SecretId", "t"}});
  ASSERT_TRUE(d.contains("LastAccessedDate"));
  EXPECT_EQ(std::fmod(d["LastAccessedDate"].get<double>(), 86400.0), 0.0);  // day granularity
}

TEST_F(SecretsManager, GetRandomPasswordHonoursEveryOption) {
  std::string p = Sm("GetRandomPassword", Json::object())["RandomPassword"];
  EXPECT_EQ(p.size(), 32u);
  EXPECT_EQ(p.find(' '), std::string::npos);
  for (int i = 0; i < 20; ++i) {
    p = Sm("GetRandomPassword",
           {{"PasswordLength", 4}, {"ExcludeCharacters", "/@\"'\\"}})["RandomPassword"];
    ASSERT_EQ(p.size(), 4u);
    EXPECT_EQ(p.find_first_of("/@\"'\\"), std::string::npos) << p;
    // One of each included type: upper, lower, digit, punctuation.
    EXPECT_TRUE(std::any_of(p.begin(), p.end(), ::isupper)) << p;
    EXPECT_TRUE(std::any_of(p.begin(), p.end(), ::islower)) << p;
    EXPECT_TRUE(std::any_of(p.begin(), p.end(), ::isdigit)) << p;
    EXPECT_TRUE(std::any_of(p.begin(), p.end(), ::ispunct)) << p;
  }
  p = Sm("GetRandomPassword", {{"PasswordLength", 64},
                               {"ExcludeUppercase", true},
                               {"ExcludeNumbers", true},
                               {"ExcludePunctuation", true}})["RandomPassword"];
  EXPECT_TRUE(std::all_of(p.begin(), p.end(), ::islower)) << p;
  p = Sm("GetRandomPassword", {{"PasswordLength", 3},
                               {"IncludeSpace", true},
                               {"ExcludeUppercase", true},
                               {"ExcludeLowercase", true},
                               {"ExcludePunctuation", true},
                               {"ExcludeNumbers", true}})["RandomPassword"];
  EXPECT_EQ(p, "   ");
  EXPECT_EQ(SmError("GetRandomPassword", {{"PasswordLength", 0}}), "InvalidParameterException");
  EXPECT_EQ(SmError("GetRandomPassword", {{"PasswordLength", 4097}}), "InvalidParameterException");
  EXPECT_EQ(SmError("GetRandomPassword", {{"PasswordLength", 2}}), "InvalidParameterException");
  std::set<std::string> distinct;
  for (int i = 0; i < 10; ++i)
    distinct.insert(Sm("GetRandomPassword", Json::object())["RandomPassword"]);
  EXPECT_EQ(distinct.size(), 10u);
}

TEST_F(SecretsManager, ValuesAreEncryptedAtRestAndBoundToTheirRow) {
  Sm("CreateSecret", {{"Name", "one"}, {"SecretString", "plaintext-one-value"}});
  Sm("CreateSecret", {{"Name", "two"}, {"SecretString", "plaintext-two-value"}});
  const std::string dump =
      Scalar("SELECT string_agg(encode(ciphertext, 'escape'), '|') FROM secretsmanager.versions");
  EXPECT_EQ(dump.find("plaintext-one"), std::string::npos);
  EXPECT_EQ(Scalar("SELECT count(DISTINCT key_id) FROM secretsmanager.versions"), "1");
  // Swap the two ciphertexts: each now sits on the other's row and must not decrypt.
  ASSERT_TRUE(conn()
                  .Execute("UPDATE secretsmanager.versions v SET ciphertext = o.ciphertext "
                           "FROM secretsmanager.versions o WHERE o.secret_id <> v.secret_id")
                  .ok());
  EXPECT_EQ(SmError("GetSecretValue", {{"SecretId", "one"}}), "DecryptionFailure");
  EXPECT_EQ(last_error_.find("plaintext"), std::string::npos) << last_error_;
  // Another master key cannot read the values either.
  auto other = MasterKey::FromBytes(std::string(32, '\x07'));
  ASSERT_TRUE(other.ok());
  EXPECT_NE(other->key_id(), key_->key_id());
  std::string sealed = key_->Seal("x", "aad");
  EXPECT_FALSE(other->Unseal(key_->key_id(), sealed, "aad").ok());
  EXPECT_TRUE(key_->Unseal(key_->key_id(), sealed, "aad").ok());
  EXPECT_FALSE(key_->Unseal(key_->key_id(), sealed, "other aad").ok());
}

TEST_F(SecretsManager, NoSecretValueInLogsOrErrors) {
  const std::string value = "Sup3rSecretValue-xyz";
  Sm("CreateSecret", {{"Name", "logged"}, {"SecretString", value}});
  Sm("GetSecretValue", {{"SecretId", "logged"}});
  SmError("PutSecretValue", {{"SecretId", "missing"}, {"SecretString", value}});
  SmError("CreateSecret", {{"Name", "logged"}, {"SecretString", value}});
  Sm("DescribeSecret", {{"SecretId", "logged"}});
  Ssm("PutParameter", {{"Name", "/p/secure"}, {"Type", "SecureString"}, {"Value", value}});
  Ssm("GetParameter", {{"Name", "/p/secure"}, {"WithDecryption", true}});
  SsmError("PutParameter", {{"Name", "/p/pattern"},
                            {"Type", "SecureString"},
                            {"Value", value},
                            {"AllowedPattern", "^[0-9]+$"}});
  EXPECT_EQ(last_error_.find(value), std::string::npos) << last_error_;
  const std::string logs = Logs();
  EXPECT_NE(logs.find("logged"), std::string::npos) << "the log capture does not work";
  EXPECT_EQ(logs.find(value), std::string::npos) << logs;
}

TEST(MasterKeyFile, CreatedOnceWithMode0600AndReloaded) {
  auto dir = ::opendms::testing::ScratchDir::Create("opendms-mk");
  ASSERT_TRUE(dir.ok());
  unsetenv("OPENDMS_MASTER_KEY");
  auto first = MasterKey::Load(dir->path() + "/data");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  struct stat st;
  ASSERT_EQ(stat((dir->path() + "/data/master.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto second = MasterKey::Load(dir->path() + "/data");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(first->key_id(), second->key_id());
  EXPECT_EQ(*second->Unseal(first->key_id(), first->Seal("v", "a"), "a"), "v");

  setenv("OPENDMS_MASTER_KEY", Base64Encode(std::string(32, 'k')).c_str(), 1);
  auto from_env = MasterKey::Load(dir->path() + "/data");
  ASSERT_TRUE(from_env.ok());
  EXPECT_EQ(from_env->key_id(), MasterKey::FromBytes(std::string(32, 'k'))->key_id());
  setenv("OPENDMS_MASTER_KEY", Base64Encode("short").c_str(), 1);
  EXPECT_FALSE(MasterKey::Load(dir->path() + "/data").ok());
  unsetenv("OPENDMS_MASTER_KEY");
}

}  // namespace
}  // namespace opendms::secrets

namespace opendms::secrets {
namespace {

TEST_F(SecretsManager, DeprecatedVersionsArePrunedPastAHundredOnceADayOld) {
  Sm("CreateSecret", {{"Name", "many"}, {"SecretString", "v0"}});
  for (int i = 1; i <= 104; ++i) {
    Sm("PutSecretValue", {{"SecretId", "many"}, {"SecretString", "v" + std::to_string(i)}});
  }
  // Everything from the last 24 hours is kept.
  EXPECT_EQ(Scalar("SELECT count(*) FROM secretsmanager.versions"), "105");
  Clock::SetOffset(std::chrono::hours(25));
  Sm("PutSecretValue", {{"SecretId", "many"}, {"SecretString", "latest"}});
  EXPECT_EQ(Scalar("SELECT count(*) FROM secretsmanager.versions"), "100");
  // The labelled versions survive; the oldest deprecated ones went first.
  EXPECT_EQ(Sm("GetSecretValue", {{"SecretId", "many"}})["SecretString"], "latest");
  EXPECT_EQ(
      Sm("GetSecretValue", {{"SecretId", "many"}, {"VersionStage", "AWSPREVIOUS"}})["SecretString"],
      "v104");
  Json all = Sm("ListSecretVersionIds",
                {{"SecretId", "many"}, {"IncludeDeprecated", true}, {"MaxResults", 100}});
  EXPECT_EQ(all["Versions"].size(), 100u);
  EXPECT_FALSE(all.contains("NextToken"));
}

}  // namespace
}  // namespace opendms::secrets
