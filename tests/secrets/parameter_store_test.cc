// SSM Parameter Store at the service level, against a real PostgreSQL: versions, labels and
// selectors, paths and paging, AWS's name rules, SecureString at rest, and the Secrets Manager
// bridge.
#include "secrets_fixture.h"

namespace opendms::secrets {
namespace {

using ParameterStore = SecretsTest;

std::vector<std::string> Names(const Json& parameters) {
  std::vector<std::string> out;
  for (const auto& p : parameters) out.push_back(p["Name"]);
  return out;
}

TEST_F(ParameterStore, PutGetAndOverwriteMakeVersions) {
  Json put = Ssm("PutParameter",
                 {{"Name", "/Acme/Orders/dev/DbUser"}, {"Type", "String"}, {"Value", "dms_user"}});
  EXPECT_EQ(put, Json::parse(R"({"Version":1,"Tier":"Standard"})"));
  Json got = Ssm("GetParameter", {{"Name", "/Acme/Orders/dev/DbUser"}})["Parameter"];
  EXPECT_EQ(got["Value"], "dms_user");
  EXPECT_EQ(got["Type"], "String");
  EXPECT_EQ(got["Version"], 1);
  EXPECT_EQ(got["ARN"], "arn:aws:ssm:us-east-1:000000000000:parameter/Acme/Orders/dev/DbUser");
  EXPECT_EQ(got["DataType"], "text");
  EXPECT_TRUE(got["LastModifiedDate"].is_number());

  EXPECT_EQ(SsmError("PutParameter",
                     {{"Name", "/Acme/Orders/dev/DbUser"}, {"Type", "String"}, {"Value", "other"}}),
            "ParameterAlreadyExists");
  put = Ssm("PutParameter",
            {{"Name", "/Acme/Orders/dev/DbUser"}, {"Value", "dms_user2"}, {"Overwrite", true}});
  EXPECT_EQ(put["Version"], 2);
  EXPECT_EQ(Ssm("GetParameter", {{"Name", "/Acme/Orders/dev/DbUser"}})["Parameter"]["Value"],
            "dms_user2");
  EXPECT_EQ(Ssm("GetParameter", {{"Name", "/Acme/Orders/dev/DbUser:1"}})["Parameter"]["Value"],
            "dms_user");
  got = Ssm("GetParameter", {{"Name",
                              "arn:aws:ssm:us-east-1:000000000000:parameter/Acme/Orders/"
                              "dev/DbUser"}})["Parameter"];
  EXPECT_EQ(got["Name"], "/Acme/Orders/dev/DbUser");

  EXPECT_EQ(SsmError("PutParameter", {{"Name", "flat"}, {"Value", "v"}}), "ValidationException");
  EXPECT_EQ(last_error_, "A parameter type is required when you create a parameter.");
  EXPECT_EQ(SsmError("PutParameter", {{"Name", "/with/tags"},
                                      {"Type", "String"},
                                      {"Value", "v"},
                                      {"Overwrite", true},
                                      {"Tags", {{{"Key", "k"}, {"Value", "v"}}}}}),
            "ValidationException");
  EXPECT_EQ(SsmError("GetParameter", {{"Name", "/nope"}}), "ParameterNotFound");
  EXPECT_EQ(SsmError("GetParameter", {{"Name", "/Acme/Orders/dev/DbUser:7"}}),
            "ParameterVersionNotFound");

  Json history = Ssm("GetParameterHistory", {{"Name", "/Acme/Orders/dev/DbUser"}})["Parameters"];
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0]["Value"], "dms_user");
  EXPECT_EQ(history[1]["Version"], 2);
}

TEST_F(ParameterStore, NameRulesAsOnAws) {
  struct Case {
    std::string name, code;
  };
  const std::string deep = "/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15";
  const std::vector<Case> cases = {
      {"Acme/Orders/dev/DbUser", "ValidationException"},  // a path needs its leading slash
      {"awsName", "ValidationException"},
      {"SSMthing", "ValidationException"},
      {"/ssm/x", "ValidationException"},
      {"/aws/x/y", "AccessDeniedException"},
      {"/has space/x", "ValidationException"},
      {"/bad*char", "ValidationException"},
      {"/trailing/", "ValidationException"},
      {"/a//b", "ValidationException"},
      {deep + "/16", "HierarchyLevelLimitExceededException"},
      {"/" + std::string(1000, 'x'), "ValidationException"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(SsmError("PutParameter", {{"Name", c.name}, {"Type", "String"}, {"Value", "v"}}),
              c.code)
        << c.name;
  }
  EXPECT_EQ(SsmError("PutParameter",
                     {{"Name", "Acme/Orders/dev/DbUser"}, {"Type", "String"}, {"Value", "v"}}),
            "ValidationException");
  EXPECT_EQ(last_error_, "Parameter name must be a fully qualified name.");
  for (const std::string& ok : {deep, std::string("flat.name_with-chars"), std::string("/x"),
                                std::string(" /spaces/trimmed ")}) {
    Ssm("PutParameter", {{"Name", ok}, {"Type", "String"}, {"Value", "v"}});
  }
  EXPECT_EQ(Ssm("GetParameter", {{"Name", "/spaces/trimmed"}})["Parameter"]["Value"], "v");
}

TEST_F(ParameterStore, SecureStringIsEncryptedAndOnlyDecryptedOnRequest) {
  Ssm("PutParameter",
      {{"Name", "/Acme/Orders/dev/DbPassword"}, {"Type", "SecureString"}, {"Value", "hunter2-pw"}});
  Json hidden = Ssm("GetParameter", {{"Name", "/Acme/Orders/dev/DbPassword"}})["Parameter"];
  EXPECT_EQ(hidden["Type"], "SecureString");
  EXPECT_NE(hidden["Value"], "hunter2-pw");
  EXPECT_TRUE(Base64Decode(hidden["Value"].get<std::string>()).ok());
  Json shown = Ssm("GetParameter", {{"Name", "/Acme/Orders/dev/DbPassword"},
                                    {"WithDecryption", true}})["Parameter"];
  EXPECT_EQ(shown["Value"], "hunter2-pw");
  EXPECT_EQ(Scalar("SELECT count(*) FROM ssm.parameter_versions WHERE value IS NULL AND "
                   "position('hunter2' in encode(ciphertext, 'escape')) = 0"),
            "1");
  Json described = Ssm("DescribeParameters", Json::object())["Parameters"][0];
  EXPECT_EQ(described["KeyId"], "alias/aws/ssm");
  EXPECT_FALSE(described.contains("Value"));

  // A ciphertext moved to another version of the same parameter does not decrypt.
  Ssm("PutParameter",
      {{"Name", "/Acme/Orders/dev/DbPassword"}, {"Value", "second-pw"}, {"Overwrite", true}});
  ASSERT_TRUE(conn()
                  .Execute("UPDATE ssm.parameter_versions v SET ciphertext = o.ciphertext FROM "
                           "ssm.parameter_versions o WHERE v.version = 2 AND o.version = 1")
                  .ok());
  EXPECT_EQ(
      SsmError("GetParameter", {{"Name", "/Acme/Orders/dev/DbPassword"}, {"WithDecryption", true}}),
      "DecryptionFailure");
}

TEST_F(ParameterStore, LabelsMoveBetweenVersionsAndSelectVersions) {
  for (int i = 1; i <= 3; ++i) {
    Ssm("PutParameter", {{"Name", "/app/flag"},
                         {"Type", "String"},
                         {"Value", "v" + std::to_string(i)},
                         {"Overwrite", i > 1}});
  }
  Json r =
      Ssm("LabelParameterVersion",
          {{"Name", "/app/flag"}, {"ParameterVersion", 1}, {"Labels", {"prod", "1bad", "awsx"}}});
  EXPECT_EQ(r["ParameterVersion"], 1);
  EXPECT_EQ(r["InvalidLabels"], Json::array({"1bad", "awsx"}));
  EXPECT_EQ(Ssm("GetParameter", {{"Name", "/app/flag:prod"}})["Parameter"]["Value"], "v1");
  Json sel = Ssm("GetParameter", {{"Name", "/app/flag:prod"}})["Parameter"];
  EXPECT_EQ(sel["Name"], "/app/flag");
  EXPECT_EQ(sel["Selector"], ":prod");

  // Without a version: the latest; the label leaves version 1.
  r = Ssm("LabelParameterVersion", {{"Name", "/app/flag"}, {"Labels", {"prod"}}});
  EXPECT_EQ(r["ParameterVersion"], 3);
  EXPECT_EQ(Ssm("GetParameter", {{"Name", "/app/flag:prod"}})["Parameter"]["Value"], "v3");
  Json history = Ssm("GetParameterHistory", {{"Name", "/app/flag"}})["Parameters"];
  EXPECT_EQ(history[0]["Labels"], Json::array());
  EXPECT_EQ(history[2]["Labels"], Json::array({"prod"}));

  EXPECT_EQ(SsmError("GetParameter", {{"Name", "/app/flag:staging"}}), "ParameterVersionNotFound");
  EXPECT_EQ(SsmError("LabelParameterVersion",
                     {{"Name", "/app/flag"}, {"ParameterVersion", 9}, {"Labels", {"x"}}}),
            "ParameterVersionNotFound");
  Json ten = Json::array();
  for (int i = 0; i < 10; ++i) ten.push_back("l" + std::to_string(i));
  Ssm("LabelParameterVersion", {{"Name", "/app/flag"}, {"ParameterVersion", 2}, {"Labels", ten}});
  EXPECT_EQ(SsmError("LabelParameterVersion",
                     {{"Name", "/app/flag"}, {"ParameterVersion", 2}, {"Labels", {"eleven"}}}),
            "ParameterVersionLabelLimitExceeded");
  r = Ssm("UnlabelParameterVersion",
          {{"Name", "/app/flag"}, {"ParameterVersion", 2}, {"Labels", {"l0", "nope"}}});
  EXPECT_EQ(r["RemovedLabels"], Json::array({"l0"}));
  EXPECT_EQ(r["InvalidLabels"], Json::array({"nope"}));
}

TEST_F(ParameterStore, GetParametersByPathRecursionFiltersAndPaging) {
  for (const std::string name : {"/app/a", "/app/b", "/app/c", "/app/sub/d", "/app/sub/deep/e",
                                 "/apple/x", "/other/y"}) {  // NOLINT
    Ssm("PutParameter", {{"Name", name},
                         {"Type", name == "/app/b" ? "SecureString" : "String"},
                         {"Value", "value of " + name}});
  }
  Ssm("PutParameter", {{"Name", "flat"}, {"Type", "String"}, {"Value", "v"}});
  auto by_path = [&](Json in) {
    std::vector<std::string> names;
    for (int pages = 0; pages < 20; ++pages) {
      Json page = Ssm("GetParametersByPath", in);
      for (auto& n : Names(page["Parameters"])) names.push_back(n);
      if (!page.contains("NextToken")) break;
      in["NextToken"] = page["NextToken"];
    }
    return names;
  };
  EXPECT_EQ(by_path({{"Path", "/app"}}), (std::vector<std::string>{"/app/a", "/app/b", "/app/c"}));
  EXPECT_EQ(
      by_path({{"Path", "/app/"}, {"Recursive", true}, {"MaxResults", 2}}),
      (std::vector<std::string>{"/app/a", "/app/b", "/app/c", "/app/sub/d", "/app/sub/deep/e"}));
  EXPECT_EQ(by_path({{"Path", "/"}, {"Recursive", true}}).size(), 7u);  // never "flat"
  EXPECT_EQ(by_path({{"Path", "/app"},
                     {"Recursive", true},
                     {"ParameterFilters", {{{"Key", "Type"}, {"Values", {"SecureString"}}}}}}),
            std::vector<std::string>{"/app/b"});
  Json page = Ssm("GetParametersByPath", {{"Path", "/app"}, {"MaxResults", 2}});
  EXPECT_EQ(page["Parameters"].size(), 2u);
  EXPECT_TRUE(page.contains("NextToken"));
  EXPECT_NE(page["Parameters"][1]["Value"], "value of /app/b");  // not decrypted
  Json dec = Ssm("GetParametersByPath", {{"Path", "/app"}, {"WithDecryption", true}});
  EXPECT_EQ(dec["Parameters"][1]["Value"], "value of /app/b");

  EXPECT_EQ(SsmError("GetParametersByPath", {{"Path", "/app"}, {"MaxResults", 11}}),
            "ValidationException");
  EXPECT_EQ(SsmError("GetParametersByPath", {{"Path", "app"}}), "ValidationException");
  EXPECT_EQ(
      SsmError("GetParametersByPath",
               {{"Path", "/app"}, {"ParameterFilters", {{{"Key", "Name"}, {"Values", {"x"}}}}}}),
      "InvalidFilterKey");
}

TEST_F(ParameterStore, GetParametersDeleteAndDescribe) {
  for (int i = 0; i < 4; ++i) {
    Ssm("PutParameter", {{"Name", "/d/p" + std::to_string(i)},
                         {"Type", "StringList"},
                         {"Value", "a , b,c"},
                         {"Description", "param " + std::to_string(i)}});
  }
  Json got = Ssm("GetParameters", {{"Names", {"/d/p0", "/d/missing", "/d/p1:1", "/d/p2:5"}}});
  EXPECT_EQ(Names(got["Parameters"]), (std::vector<std::string>{"/d/p0", "/d/p1"}));
  EXPECT_EQ(got["InvalidParameters"], Json::array({"/d/missing", "/d/p2:5"}));
  EXPECT_EQ(got["Parameters"][0]["Value"], "a,b,c");

  Json described = Ssm("DescribeParameters", {{"MaxResults", 3}});
  EXPECT_EQ(described["Parameters"].size(), 3u);
  ASSERT_TRUE(described.contains("NextToken"));
  EXPECT_EQ(described["Parameters"][0]["Description"], "param 0");
  EXPECT_EQ(Names(Ssm("DescribeParameters", {{"NextToken", described["NextToken"]}})["Parameters"]),
            std::vector<std::string>{"/d/p3"});
  EXPECT_EQ(
      Names(
          Ssm("DescribeParameters",
              {{"ParameterFilters",
                {{{"Key", "Name"}, {"Option", "Equals"}, {"Values", {"/d/p2"}}}}}})["Parameters"]),
      std::vector<std::string>{"/d/p2"});
  EXPECT_EQ(
      Ssm("DescribeParameters",
          {{"ParameterFilters",
            {{{"Key", "Name"}, {"Option", "BeginsWith"}, {"Values", {"/d/p"}}}}}})["Parameters"]
          .size(),
      4u);
  EXPECT_EQ(Ssm("DescribeParameters",
                {{"ParameterFilters", {{{"Key", "Path"}, {"Values", {"/d"}}}}}})["Parameters"]
                .size(),
            4u);
  EXPECT_EQ(SsmError("DescribeParameters",
                     {{"Filters", {{{"Key", "Name"}, {"Values", {"x"}}}}},
                      {"ParameterFilters", {{{"Key", "Name"}, {"Values", {"x"}}}}}}),
            "ValidationException");

  Ssm("DeleteParameter", {{"Name", "/d/p0"}});
  EXPECT_EQ(SsmError("DeleteParameter", {{"Name", "/d/p0"}}), "ParameterNotFound");
  Json deleted = Ssm("DeleteParameters", {{"Names", {"/d/p1", "/d/nope"}}});
  EXPECT_EQ(deleted["DeletedParameters"], Json::array({"/d/p1"}));
  EXPECT_EQ(deleted["InvalidParameters"], Json::array({"/d/nope"}));
  EXPECT_EQ(Scalar("SELECT count(*) FROM ssm.parameter_versions"), "2");
}

TEST_F(ParameterStore, AllowedPatternTierAndLimits) {
  EXPECT_EQ(
      SsmError(
          "PutParameter",
          {{"Name", "/n"}, {"Type", "String"}, {"Value", "abc"}, {"AllowedPattern", "^[0-9]+$"}}),
      "ParameterPatternMismatchException");
  Ssm("PutParameter",
      {{"Name", "/n"}, {"Type", "String"}, {"Value", "123"}, {"AllowedPattern", "^[0-9]+$"}});
  // The pattern stays with the parameter on overwrite.
  EXPECT_EQ(SsmError("PutParameter", {{"Name", "/n"}, {"Value", "x"}, {"Overwrite", true}}),
            "ParameterPatternMismatchException");
  EXPECT_EQ(SsmError("PutParameter",
                     {{"Name", "/big"}, {"Type", "String"}, {"Value", std::string(5000, 'x')}}),
            "ValidationException");
  Json put = Ssm("PutParameter", {{"Name", "/big"},
                                  {"Type", "String"},
                                  {"Value", std::string(5000, 'x')},
                                  {"Tier", "Advanced"}});
  EXPECT_EQ(put["Tier"], "Advanced");
  EXPECT_EQ(SsmError("PutParameter",
                     {{"Name", "/big"}, {"Value", "x"}, {"Overwrite", true}, {"Tier", "Standard"}}),
            "ValidationException");
  EXPECT_EQ(SsmError("PutParameter", {{"Name", "/t"}, {"Type", "Number"}, {"Value", "1"}}),
            "ValidationException");
}

TEST_F(ParameterStore, SecretsManagerReferenceBridge) {
  Json created = Sm("CreateSecret", {{"Name", "Acme/Orders/dev/DbSecret"},
                                     {"SecretString", R"({"username":"dms","password":"pw"})"}});
  const std::string name = "/aws/reference/secretsmanager/Acme/Orders/dev/DbSecret";
  EXPECT_EQ(SsmError("GetParameter", {{"Name", name}}), "ValidationException");
  EXPECT_EQ(last_error_,
            "WithDecryption flag must be True for retrieving a Secret Manager secret.");
  Json p = Ssm("GetParameter", {{"Name", name}, {"WithDecryption", true}})["Parameter"];
  EXPECT_EQ(p["Name"], name);
  EXPECT_EQ(p["Type"], "SecureString");
  EXPECT_EQ(p["Value"], R"({"username":"dms","password":"pw"})");
  EXPECT_EQ(p["ARN"], created["ARN"]);
  Json source = Json::parse(p["SourceResult"].get<std::string>());
  EXPECT_EQ(source["Name"], "Acme/Orders/dev/DbSecret");
  EXPECT_EQ(source["VersionStages"], Json::array({"AWSCURRENT"}));

  Sm("PutSecretValue", {{"SecretId", "Acme/Orders/dev/DbSecret"}, {"SecretString", "newer"}});
  EXPECT_EQ(Ssm("GetParameter", {{"Name", name}, {"WithDecryption", true}})["Parameter"]["Value"],
            "newer");
  EXPECT_EQ(Ssm("GetParameter",
                {{"Name", name + ":AWSPREVIOUS"}, {"WithDecryption", true}})["Parameter"]["Value"],
            R"({"username":"dms","password":"pw"})");
  EXPECT_EQ(SsmError("GetParameter",
                     {{"Name", "/aws/reference/secretsmanager/missing"}, {"WithDecryption", true}}),
            "ParameterNotFound");
  Json many = Ssm("GetParameters", {{"Names", {name, "/aws/reference/secretsmanager/missing"}},
                                    {"WithDecryption", true}});
  EXPECT_EQ(many["Parameters"].size(), 1u);
  EXPECT_EQ(many["InvalidParameters"], Json::array({"/aws/reference/secretsmanager/missing"}));
}

}  // namespace
}  // namespace opendms::secrets

namespace opendms::secrets {
namespace {

TEST_F(ParameterStore, AHundredVersionsAreKeptAndALabelledOldestBlocksTheNext) {
  Ssm("PutParameter", {{"Name", "/v"}, {"Type", "String"}, {"Value", "1"}});
  for (int i = 2; i <= 101; ++i) {
    Ssm("PutParameter", {{"Name", "/v"}, {"Value", std::to_string(i)}, {"Overwrite", true}});
  }
  EXPECT_EQ(Scalar("SELECT min(version) || '-' || max(version) || ':' || count(*) FROM "
                   "ssm.parameter_versions"),
            "2-101:100");
  Ssm("LabelParameterVersion", {{"Name", "/v"}, {"ParameterVersion", 2}, {"Labels", {"keep"}}});
  EXPECT_EQ(SsmError("PutParameter", {{"Name", "/v"}, {"Value", "x"}, {"Overwrite", true}}),
            "ParameterMaxVersionLimitExceeded");
  EXPECT_EQ(SsmError("GetParameter", {{"Name", "/v:1"}}), "ParameterVersionNotFound");
}

}  // namespace
}  // namespace opendms::secrets
