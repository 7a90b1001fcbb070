// The fixture of the secrets tests: a fresh database on the shared test server, a Catalog on it
// (url mode), a master key, and both services. Every log line the services write during a test is
// captured, so tests can check that no secret value reaches the log.
#pragma once

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <memory>
#include <sstream>

#include "catalog/catalog.h"
#include "secrets/secrets.h"
#include "support/pg_test_server.h"

namespace opendms::secrets {

class SecretsTest : public ::opendms::testing::PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    if (HasFatalFailure()) return;
    Clock::SetOffset(std::chrono::seconds(0));
    log_sink_ = std::make_shared<spdlog::sinks::ostream_sink_mt>(log_);
    log_sink_->set_level(spdlog::level::trace);
    spdlog::default_logger()->sinks().push_back(log_sink_);
    saved_level_ = spdlog::default_logger()->level();
    spdlog::default_logger()->set_level(spdlog::level::trace);

    catalog::Options options;
    options.url = params_.ToConnInfo();
    options.pool_size = 2;
    auto catalog = catalog::Catalog::Open(options);
    ASSERT_TRUE(catalog.ok()) << catalog.status().ToString();
    catalog_ = std::move(catalog).value();
    auto key = MasterKey::FromBytes(std::string(32, '\x42'));
    ASSERT_TRUE(key.ok());
    key_ = std::make_unique<MasterKey>(std::move(key).value());
    auto sm = SecretsManagerService::Create(*catalog_, *key_);
    ASSERT_TRUE(sm.ok()) << sm.status().ToString();
    sm_ = std::move(sm).value();
    auto ssm = ParameterStoreService::Create(*catalog_, *key_, *sm_);
    ASSERT_TRUE(ssm.ok()) << ssm.status().ToString();
    ssm_ = std::move(ssm).value();
  }

  void TearDown() override {
    ssm_.reset();
    sm_.reset();
    catalog_.reset();
    auto& sinks = spdlog::default_logger()->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), log_sink_), sinks.end());
    spdlog::default_logger()->set_level(saved_level_);
    Clock::SetOffset(std::chrono::seconds(0));
    PgTest::TearDown();
  }

  // Calls and fails the test if the call fails.
  Json Sm(std::string_view op, const Json& in) { return Ok(sm_->Call(op, in, ctx_), op); }
  Json Ssm(std::string_view op, const Json& in) { return Ok(ssm_->Call(op, in, ctx_), op); }
  // The AWS error code of a call that must fail ("" and a test failure if it succeeded).
  std::string SmError(std::string_view op, const Json& in) { return Err(sm_->Call(op, in, ctx_)); }
  std::string SsmError(std::string_view op, const Json& in) {
    return Err(ssm_->Call(op, in, ctx_));
  }

  Json Ok(Result<Json> r, std::string_view op) {
    EXPECT_TRUE(r.ok()) << op << ": " << r.status().ToString() << " [" << r.status().aws_code()
                        << "]";
    return r.ok() ? *r : Json();
  }
  std::string Err(Result<Json> r) {
    EXPECT_FALSE(r.ok()) << "succeeded: " << (r.ok() ? r->dump() : "");
    if (r.ok()) return "";
    last_error_ = r.status().message();
    return r.status().aws_code();
  }

  std::string Logs() const { return log_.str(); }

  CallContext ctx_;
  std::string last_error_;  // the message of the last Err()
  std::unique_ptr<catalog::Catalog> catalog_;
  std::unique_ptr<MasterKey> key_;
  std::unique_ptr<SecretsManagerService> sm_;
  std::unique_ptr<ParameterStoreService> ssm_;

 private:
  std::ostringstream log_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> log_sink_;
  spdlog::level::level_enum saved_level_ = spdlog::level::info;
};

}  // namespace opendms::secrets
