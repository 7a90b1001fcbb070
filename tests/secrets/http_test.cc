// End to end: the real services behind the real api::Server, driven by the aws CLI and boto3
// (lab_calls.py) with the lab's own calls.
#include <array>
#include <cstdio>

#include "api/api.h"
#include "secrets_fixture.h"

namespace opendms::secrets {
namespace {

constexpr char kAccessKey[] = "AKIAOPENDMSSECRETS01";
constexpr char kSecretKey[] = "secretsTestSecretKey/with+chars0123456789";

class SecretsOverHttp : public SecretsTest {
 protected:
  void SetUp() override {
    SecretsTest::SetUp();
    if (HasFatalFailure()) return;
    api::ServerOptions options;
    options.port = 0;
    options.root = {kAccessKey, kSecretKey};
    options.shutdown_grace = std::chrono::seconds(2);
    server_ = std::make_unique<api::Server>(options);
    server_->RegisterJsonService(*sm_);
    server_->RegisterJsonService(*ssm_);
    Status st = server_->Start();
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  void TearDown() override {
    server_.reset();
    SecretsTest::TearDown();
  }

  // Runs lab_calls.py; "" when it passed, else its output.
  std::string RunLabCalls() {
    std::string command = "python3 " OPENDMS_SOURCE_DIR "/tests/secrets/lab_calls.py " +
                          server_->endpoint() + " " + kAccessKey + " '" + kSecretKey + "' 2>&1";
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) return "cannot run python3";
    std::string output;
    std::array<char, 4096> buf;
    while (size_t n = std::fread(buf.data(), 1, buf.size(), pipe)) output.append(buf.data(), n);
    return ::pclose(pipe) == 0 ? "" : output;
  }

  std::unique_ptr<api::Server> server_;
};

TEST_F(SecretsOverHttp, TheLabsCallsWorkFromTheAwsCliAndBoto3) {
  EXPECT_EQ(RunLabCalls(), "");
  const std::string logs = Logs();
  EXPECT_NE(logs.find("Acme/Orders/dev/DbSecret"), std::string::npos) << "no log captured";
  for (const char* value : {"L4b-Pa55word!", "pw-123"}) {
    EXPECT_EQ(logs.find(value), std::string::npos) << value << " in the log:\n" << logs;
  }
}

}  // namespace
}  // namespace opendms::secrets
