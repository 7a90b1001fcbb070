// catalog: the control plane's state in PostgreSQL — buckets' settings, secrets, parameters,
// replication instances, endpoints, tasks, stacks. It owns the catalog database (a private
// cluster under the server's data directory, reached by unix socket only, or an existing
// PostgreSQL named by --catalog-url), a pool of connections to it, and versioned schema
// migrations. Each component (secrets, ssm, dms, …) owns its tables, in a PostgreSQL schema
// named after it, and registers its migrations here.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/core.h"
#include "pg/pg.h"

namespace opendms::catalog {

// One step of a component's schema. Versions start at 1 and only grow; a released migration is
// never edited (add a new one).
struct Migration {
  int version;
  std::string description;
  std::string sql;  // may hold several statements
};

struct Options {
  // The server's data directory; the private cluster lives in <data_dir>/catalog.
  std::string data_dir;
  // Non-empty: use this existing PostgreSQL (a libpq URL or conninfo) instead of a private one.
  std::string url;
  int pool_size = 8;
};

class Catalog;

// A pooled connection, returned to the pool when destroyed (a dead one, or one left inside a
// transaction, is closed instead). A Lease must not outlive its Catalog.
class Lease {
 public:
  Lease(Lease&&) noexcept;
  Lease& operator=(Lease&&) = delete;
  ~Lease();
  pg::Connection& operator*() { return *conn_; }
  pg::Connection* operator->() { return conn_.get(); }

 private:
  friend class Catalog;
  Lease(Catalog* owner, std::unique_ptr<pg::Connection> conn);
  Catalog* owner_;
  std::unique_ptr<pg::Connection> conn_;
};

// Thread-safe.
class Catalog {
 public:
  // Starts the private cluster (initdb on first use; as an unprivileged OS user when root) or
  // connects to `url`, and creates the migrations bookkeeping table.
  static Result<std::unique_ptr<Catalog>> Open(Options options);
  ~Catalog();  // closes the pool and stops the private cluster, if any

  // Applies those of `migrations` not yet applied for `component`, in version order, each in its
  // own transaction, serialised across processes by an advisory lock.
  Status Migrate(std::string_view component, const std::vector<Migration>& migrations);

  // A connection from the pool (opened when none is idle; ConnectionError if the catalog is
  // unreachable).
  Result<Lease> Acquire();

  // Runs `work` inside BEGIN … COMMIT on a pooled connection (ROLLBACK when it fails). Retried
  // once on a fresh connection when the failure is transient (pg::IsTransientError) or a
  // serialization failure, so `work` must be safe to run again.
  Status InTransaction(const std::function<Status(pg::Connection&)>& work);

  // How to reach the catalog (for a component that needs a dedicated connection, e.g. LISTEN).
  // Holds no password for the private cluster (trust over the unix socket).
  const std::string& conninfo() const;

  // The private cluster's supervisor (nullptr with --catalog-url): tests kill it.
  pg::LocalCluster* local_cluster();

 private:
  friend class Lease;
  class Impl;
  explicit Catalog(std::unique_ptr<Impl> impl);
  void Return(std::unique_ptr<pg::Connection> conn);
  std::unique_ptr<Impl> impl_;
};

}  // namespace opendms::catalog
