// Test support for tests that need PostgreSQL. Each test binary gets ONE throwaway cluster,
// started on first use in a fresh directory under /tmp and stopped and removed when the tests
// end; PgTest gives each test a fresh database on it. Tests never skip for want of a server:
// if the cluster cannot start, every PgTest fails with the tail of the server log.
//
// The cluster's superuser has a random password (with a quote, a backslash and a space in it,
// so that every test also exercises connection-string escaping) and TCP logins use
// scram-sha-256, so tests can check wrong-password behaviour.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "pg/pg.h"

namespace opendms::testing {

// A fresh directory under /tmp (mkdtemp), removed with its contents on destruction. Mode 0755,
// so that the postgres OS user can reach a cluster inside it when tests run as root. Move-only.
class ScratchDir {
 public:
  static Result<ScratchDir> Create(std::string_view prefix = "opendms-test");

  ScratchDir(ScratchDir&& other) noexcept : path_(std::exchange(other.path_, {})) {}
  ScratchDir& operator=(ScratchDir&& other) noexcept;
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir();

  const std::string& path() const { return path_; }

 private:
  explicit ScratchDir(std::string path) : path_(std::move(path)) {}
  std::string path_;  // empty once moved from
};

// Options for a test cluster under `base_dir` (created if missing): data in <base>/data, socket
// in <base>/s, superuser "postgres" with this binary's random password, scram-sha-256 on TCP,
// stopped if the test binary dies. LocalCluster::Start initdbs <base>/data.
pg::LocalCluster::Options TestClusterOptions(const std::string& base_dir);

// The same options, with <base>/data already made: a copy of a data directory initdb'ed once per
// test binary (initdb costs seconds; a copy, milliseconds). For tests that need a cluster of
// their own, to stop or kill it.
Result<pg::LocalCluster::Options> ScratchClusterOptions(const std::string& base_dir);

// The binary's shared cluster: started on the first call, stopped and removed after the last
// test. If it cannot start, the error (with the server log's tail), and the same error on every
// later call. Main thread only (gtest runs tests there).
Result<pg::LocalCluster*> SharedTestCluster();

// A fixture giving each test a fresh database on the shared cluster, named after the test
// (sanitised, unique), with an open connection to it; the database is dropped afterwards.
class PgTest : public ::testing::Test {
 protected:
  void SetUp() override;     // creates the database and connects; FAILS the test if it cannot
  void TearDown() override;  // disconnects and drops the database

  pg::Connection& conn() { return *conn_; }
  pg::LocalCluster& cluster() { return *cluster_; }

  // The first column of the first row of `sql`'s result. Fails the test (and returns "") on an
  // error, no row, or NULL.
  std::string Scalar(std::string_view sql);
  // SELECT count(*) of "schema"."table"; fails the test (and returns -1) on an error.
  int64_t RowCount(std::string_view schema, std::string_view table);

  pg::ConnectionParams params_;  // TCP, with the superuser's password, for the fresh database
  std::string database_;         // its name

 private:
  pg::LocalCluster* cluster_ = nullptr;
  std::optional<pg::Connection> conn_;
};

}  // namespace opendms::testing
