#include "catalog/catalog.h"

#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <set>

#include <libpq-fe.h>

namespace opendms::catalog {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kDatabase = "opendms";

// One advisory lock key for every migration of every component: migrations are rare and short,
// and one key also serialises the bookkeeping table's creation.
constexpr std::string_view kMigrationLock = "SELECT pg_advisory_xact_lock(7306547117565211489)";

constexpr std::string_view kBookkeepingSql =
    "CREATE SCHEMA IF NOT EXISTS opendms_catalog;"
    "CREATE TABLE IF NOT EXISTS opendms_catalog.schema_migrations ("
    "  component text NOT NULL,"
    "  version int NOT NULL,"
    "  description text NOT NULL,"
    "  applied_at timestamptz NOT NULL DEFAULT now(),"
    "  PRIMARY KEY (component, version))";

// Transient for InTransaction's retry: the environment failed, or the server chose this
// transaction as a serialization or deadlock victim.
bool IsRetryable(const Status& status) {
  if (pg::IsTransientError(status)) return true;
  std::string_view state = pg::SqlState(status);
  return state == "40001" || state == "40P01";
}

// An idle pooled connection worth handing out: libpq still thinks it is fine and nothing arrived
// on its socket while it sat idle. Input on an idle session is either a notice or, far more
// likely, the server closing it (shutdown, crash, restart), so such connections are dropped
// rather than inspected; a reconnect is cheap.
bool LooksAlive(pg::Connection& conn) {
  if (!conn.IsHealthy()) return false;
  PGconn* raw = conn.raw();
  if (PQtransactionStatus(raw) != PQTRANS_IDLE) return false;
  pollfd pfd{PQsocket(raw), POLLIN, 0};
  if (pfd.fd < 0) return false;
  int n = poll(&pfd, 1, 0);
  return n == 0;
}

// The private cluster runs as an unprivileged OS user when we are root; it must be able to pass
// through the data directory to reach <data_dir>/catalog and its socket directory. Execute-only
// for others keeps the directory's listing (and master.key, mode 0600) private.
Status PrepareDataDir(const std::string& data_dir) {
  std::error_code ec;
  fs::create_directories(data_dir, ec);
  if (ec) return Status::IoError("create data directory " + data_dir + ": " + ec.message());
  if (geteuid() != 0) return Status::Ok();
  struct stat st;
  if (stat(data_dir.c_str(), &st) != 0) return Status::FromErrno("stat " + data_dir, errno);
  mode_t wanted = (st.st_mode & 07777) | S_IXGRP | S_IXOTH;
  if (wanted != (st.st_mode & 07777) && chmod(data_dir.c_str(), wanted) != 0) {
    return Status::FromErrno("chmod " + data_dir, errno);
  }
  for (fs::path p = fs::path(data_dir).parent_path(); !p.empty() && p != p.root_path();
       p = p.parent_path()) {
    if (stat(p.c_str(), &st) != 0) return Status::FromErrno("stat " + p.string(), errno);
    if ((st.st_mode & S_IXOTH) == 0) {
      return Status::InvalidArgument(
          "the catalog's PostgreSQL runs as an unprivileged user, "
          "which cannot traverse " +
          p.string() + " (mode " + fmt::format("{:o}", st.st_mode & 07777) +
          "); choose a data directory below traversable directories");
    }
  }
  return Status::Ok();
}

}  // namespace

class Catalog::Impl {
 public:
  Options options;
  std::unique_ptr<pg::LocalCluster> cluster;  // null with a url
  std::string conninfo;

  std::mutex mutex;
  std::vector<std::unique_ptr<pg::Connection>> idle;  // guarded by mutex

  Result<std::unique_ptr<pg::Connection>> Connect() const {
    auto conn = pg::Connection::Open(conninfo);
    if (!conn.ok()) return conn.status().WithContext("catalog");
    return std::make_unique<pg::Connection>(std::move(conn).value());
  }
};

// ---------------------------------------------------------------------------------------------
// Lease
// ---------------------------------------------------------------------------------------------

Lease::Lease(Catalog* owner, std::unique_ptr<pg::Connection> conn)
    : owner_(owner), conn_(std::move(conn)) {}

Lease::Lease(Lease&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)), conn_(std::move(other.conn_)) {}

Lease::~Lease() {
  if (owner_ != nullptr && conn_ != nullptr) owner_->Return(std::move(conn_));
}

// ---------------------------------------------------------------------------------------------
// Catalog
// ---------------------------------------------------------------------------------------------

Catalog::Catalog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Catalog::~Catalog() {
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->idle.clear();
  }
  if (impl_->cluster != nullptr) {
    Status st = impl_->cluster->Stop();
    if (!st.ok()) spdlog::warn("[catalog] stopping the catalog's PostgreSQL: {}", st.ToString());
  }
}

Result<std::unique_ptr<Catalog>> Catalog::Open(Options options) {
  if (options.pool_size < 0) {
    return Status::InvalidArgument("catalog pool_size must not be negative");
  }
  auto impl = std::make_unique<Impl>();
  if (options.url.empty()) {
    if (options.data_dir.empty()) {
      return Status::InvalidArgument("the catalog needs a data directory or a url");
    }
    options.data_dir = fs::absolute(options.data_dir).lexically_normal().string();
    RETURN_IF_ERROR(PrepareDataDir(options.data_dir));
    pg::LocalCluster::Options cluster_options;
    cluster_options.data_dir = options.data_dir + "/catalog";
    cluster_options.listen_tcp = false;
    auto cluster = pg::LocalCluster::Start(std::move(cluster_options));
    if (!cluster.ok()) return cluster.status().WithContext("starting the catalog's PostgreSQL");
    impl->cluster = std::move(cluster).value();
    Status created = impl->cluster->CreateDatabase(kDatabase);
    if (!created.ok() && !created.IsAlreadyExists()) {
      return created.WithContext("creating the catalog database");
    }
    impl->conninfo = impl->cluster->SocketParams(kDatabase).ToConnInfo();
  } else {
    impl->conninfo = options.url;
  }
  impl->options = std::move(options);
  std::unique_ptr<Catalog> catalog(new Catalog(std::move(impl)));

  // The bookkeeping table, created under the migration lock: several processes may start at once.
  Status st = catalog->InTransaction([](pg::Connection& conn) {
    RETURN_IF_ERROR(conn.Execute(kMigrationLock));
    return conn.Execute(kBookkeepingSql);
  });
  if (!st.ok()) return st.WithContext("creating the catalog's migration table");
  return catalog;
}

Status Catalog::Migrate(std::string_view component, const std::vector<Migration>& migrations) {
  if (component.empty()) return Status::InvalidArgument("a migration needs a component name");
  std::vector<const Migration*> ordered;
  for (const Migration& m : migrations) ordered.push_back(&m);
  std::sort(ordered.begin(), ordered.end(),
            [](const Migration* a, const Migration* b) { return a->version < b->version; });
  for (size_t i = 0; i < ordered.size(); ++i) {
    if (ordered[i]->version < 1 || (i > 0 && ordered[i]->version == ordered[i - 1]->version)) {
      return Status::Internal(
          fmt::format("component {}: migration versions must be unique and "
                      ">= 1 (version {})",
                      component, ordered[i]->version));
    }
  }
  const int newest_known = ordered.empty() ? 0 : ordered.back()->version;
  const std::string component_text(component);

  // One transaction per migration; each re-reads what is applied under the lock, so two
  // processes (or threads) migrating at once apply every version exactly once.
  auto check_and_maybe_apply = [&](const Migration* m) {
    return InTransaction([&](pg::Connection& conn) -> Status {
      RETURN_IF_ERROR(conn.Execute(kMigrationLock));
      ASSIGN_OR_RETURN(auto applied,
                       conn.Query("SELECT coalesce(max(version), 0), "
                                  "  coalesce(bool_or(version = $2), false) "
                                  "FROM opendms_catalog.schema_migrations WHERE component = $1",
                                  {component_text, std::to_string(m ? m->version : 0)}));
      int newest_applied = std::stoi(std::string(applied.Get(0, 0)));
      if (newest_applied > newest_known) {
        return Status::InvalidState(fmt::format(
            "the catalog's schema for component {} is at version {}, newer than this opendms "
            "knows (version {}): it was written by a newer opendms; downgrades are not supported",
            component, newest_applied, newest_known));
      }
      if (m == nullptr || applied.Get(0, 1) == "t") return Status::Ok();
      Status st = conn.Execute(m->sql);
      if (!st.ok()) {
        return st.WithContext(fmt::format("catalog migration {} version {} ({})", component,
                                          m->version, m->description));
      }
      auto inserted = conn.Query(
          "INSERT INTO opendms_catalog.schema_migrations (component, version, description) "
          "VALUES ($1, $2, $3)",
          {component_text, std::to_string(m->version), m->description});
      if (!inserted.ok()) return inserted.status();
      spdlog::info("[catalog] applied migration {} version {}: {}", component, m->version,
                   m->description);
      return Status::Ok();
    });
  };
  RETURN_IF_ERROR(check_and_maybe_apply(nullptr));  // a downgrade is refused before anything runs
  for (const Migration* m : ordered) RETURN_IF_ERROR(check_and_maybe_apply(m));
  return Status::Ok();
}

Result<Lease> Catalog::Acquire() {
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    while (!impl_->idle.empty()) {
      std::unique_ptr<pg::Connection> conn = std::move(impl_->idle.back());
      impl_->idle.pop_back();
      if (LooksAlive(*conn)) return Lease(this, std::move(conn));
    }
  }
  ASSIGN_OR_RETURN(auto conn, impl_->Connect());
  return Lease(this, std::move(conn));
}

void Catalog::Return(std::unique_ptr<pg::Connection> conn) {
  // A connection left inside a transaction (a caller bailed out between BEGIN and COMMIT) or a
  // broken one is closed rather than handed to the next caller.
  if (!conn->IsHealthy() || PQtransactionStatus(conn->raw()) != PQTRANS_IDLE) return;
  std::lock_guard<std::mutex> lock(impl_->mutex);
  if (impl_->idle.size() < static_cast<size_t>(impl_->options.pool_size)) {
    impl_->idle.push_back(std::move(conn));
  }
}

Status Catalog::InTransaction(const std::function<Status(pg::Connection&)>& work) {
  Status last;
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto lease = Acquire();
    if (!lease.ok()) {
      last = lease.status();
      if (attempt == 0 && IsRetryable(last)) continue;
      return last;
    }
    pg::Connection& conn = **lease;
    last = conn.Execute("BEGIN");
    if (last.ok()) {
      last = work(conn);
      if (last.ok()) {
        last = conn.Execute("COMMIT");
        if (last.ok()) return last;
      } else if (conn.IsHealthy()) {
        (void)conn.Execute("ROLLBACK");
      }
    }
    if (attempt == 0 && IsRetryable(last)) {
      spdlog::debug("[catalog] transaction failed transiently, retrying once: {}", last.ToString());
      continue;
    }
    return last;
  }
  return last;
}

const std::string& Catalog::conninfo() const { return impl_->conninfo; }

pg::LocalCluster* Catalog::local_cluster() { return impl_->cluster.get(); }

}  // namespace opendms::catalog
