// S3 end to end: a real api::Server on a free port with the S3 handler over a DiskStore, driven
// by the real aws CLI and boto3 (s3_clients.py): s3 mb/ls/cp/mv/rm/rb/sync, a 100 MB multipart
// upload and ranged download, paging past 1,000 objects, keys that need encoding-type=url,
// presigned GETs and the errors the CLI prints.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <array>
#include <cstdio>
#include <filesystem>

#include "api/api.h"
#include "api/api.h"
#include "objectstore/objectstore.h"

namespace opendms::api {
namespace {

constexpr char kAccessKey[] = "AKIAOPENDMSS3E2E0001";
constexpr char kSecret[] = "s3E2EsEcReT/with+chars0123456789abcdefghij";

class S3EndToEnd : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string pattern = (std::filesystem::temp_directory_path() / "s3e2e-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = new std::string(pattern);
    auto store = objectstore::OpenDiskStore(*dir_ + "/buckets");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value().release();
    S3Options s3_options;
    s3_options.staging_dir = *dir_ + "/staging";
    auto handler = NewS3Handler(*store_, s3_options);
    ASSERT_TRUE(handler.ok()) << handler.status().ToString();
    handler_ = std::move(handler).value().release();
    ServerOptions options;
    options.port = 0;
    options.root = {kAccessKey, kSecret};
    options.shutdown_grace = std::chrono::seconds(5);
    server_ = new Server(options);
    server_->SetS3Handler(*handler_);
    Status started = server_->Start();
    ASSERT_TRUE(started.ok()) << started.ToString();
  }
  static void TearDownTestSuite() {
    delete server_;
    delete handler_;
    delete store_;
    std::error_code ec;
    std::filesystem::remove_all(*dir_, ec);
    delete dir_;
  }

  // Runs s3_clients.py's `scenario` in a fresh work folder; "" when it passed, else its output.
  static std::string Run(const std::string& scenario) {
    std::string work = *dir_ + "/work-" + scenario;
    std::filesystem::create_directories(work);
    std::string command = "python3 " OPENDMS_SOURCE_DIR "/tests/api/s3_clients.py " +
                          server_->endpoint() + " " + kAccessKey + " '" + kSecret + "' " + work +
                          " " + scenario + " 2>&1";
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) return "cannot run python3";
    std::string output;
    std::array<char, 4096> buf;
    while (size_t n = std::fread(buf.data(), 1, buf.size(), pipe)) output.append(buf.data(), n);
    int rc = ::pclose(pipe);
    std::filesystem::remove_all(work);
    return rc == 0 ? "" : output;
  }

  static std::string* dir_;
  static objectstore::ObjectStore* store_;
  static Handler* handler_;
  static Server* server_;
};

std::string* S3EndToEnd::dir_ = nullptr;
objectstore::ObjectStore* S3EndToEnd::store_ = nullptr;
Handler* S3EndToEnd::handler_ = nullptr;
Server* S3EndToEnd::server_ = nullptr;

TEST_F(S3EndToEnd, CliBucketAndObjectCommands) { EXPECT_EQ(Run("cli_basics"), ""); }
TEST_F(S3EndToEnd, CliSyncUploadsOnlyWhatChangedAndDeletes) { EXPECT_EQ(Run("cli_sync"), ""); }
TEST_F(S3EndToEnd, CliCopies100MbUpAndDownByteForByte) { EXPECT_EQ(Run("cli_big"), ""); }
TEST_F(S3EndToEnd, ListingPagesPastAThousandObjects) { EXPECT_EQ(Run("paging"), ""); }
TEST_F(S3EndToEnd, Boto3KeysTransfersDeletesAndPresignedGet) { EXPECT_EQ(Run("boto3"), ""); }

}  // namespace
}  // namespace opendms::api
