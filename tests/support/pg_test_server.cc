#include "support/pg_test_server.h"

#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <filesystem>
#include <fstream>

extern char** environ;

namespace opendms::testing {

namespace {

std::string RandomHex(size_t bytes) {
  std::ifstream urandom("/dev/urandom", std::ios::binary);
  std::string out;
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < bytes; ++i) {
    unsigned char b = static_cast<unsigned char>(urandom.get());
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

// One password per binary: every cluster made from the template has it.
const std::string& TestPassword() {
  static const std::string* password = new std::string("t' \\" + RandomHex(12));
  return *password;
}

// The binary's scratch area (/tmp/opendms-pg-XXXXXX): the template data directory and the
// shared cluster. The cluster is stopped before the directory is removed.
struct SharedState {
  std::optional<ScratchDir> dir;
  std::optional<Status> template_status;  // set once the template was attempted
  std::unique_ptr<pg::LocalCluster> cluster;
  std::optional<Status> cluster_status;  // set once the shared cluster was attempted
};

SharedState& Shared() {
  static SharedState* state = new SharedState();  // emptied by the Environment, never destroyed
  return *state;
}

// Stops the shared cluster after the last test, inside RUN_ALL_TESTS, while logging and the
// rest of the program are still alive (a static destructor would run too late).
class SharedClusterEnvironment : public ::testing::Environment {
 public:
  void TearDown() override {
    SharedState& s = Shared();
    s.cluster.reset();
    s.cluster_status.reset();
    s.template_status.reset();
    s.dir.reset();
  }
};

[[maybe_unused]] ::testing::Environment* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new SharedClusterEnvironment);

Result<std::string> TemplateDataDir() {
  SharedState& s = Shared();
  if (!s.template_status) {
    Result<ScratchDir> dir = ScratchDir::Create("opendms-pg");
    if (!dir.ok()) {
      s.template_status = dir.status();
    } else {
      s.dir.emplace(std::move(dir).value());
      s.template_status =
          pg::LocalCluster::Initialize(TestClusterOptions(s.dir->path() + "/template"))
              .WithContext("initdb of the test template cluster");
    }
  }
  if (!s.template_status->ok()) return *s.template_status;
  return s.dir->path() + "/template/data";
}

// cp -a keeps owners and modes, which the server (the postgres OS user, when we are root) needs.
Status CopyTree(const std::string& from, const std::string& to) {
  std::vector<std::string> args = {"/bin/cp", "-a", from, to};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (int err = posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ); err != 0) {
    return Status::FromErrno("spawn cp", err);
  }
  int wait_status = 0;
  while (waitpid(pid, &wait_status, 0) < 0) {
    if (errno != EINTR) return Status::FromErrno("waitpid cp", errno);
  }
  if (!WIFEXITED(wait_status) || WEXITSTATUS(wait_status) != 0) {
    return Status::IoError("cp -a " + from + " " + to + " failed");
  }
  return Status::Ok();
}

// "PgQuoting.UpperCase/3" → "pgquoting_uppercase_3_<n>".
std::string DatabaseNameFor(const ::testing::TestInfo& info) {
  static int counter = 0;
  std::string raw = std::string(info.test_suite_name()) + "_" + info.name();
  std::string name;
  for (char c : raw) {
    unsigned char u = static_cast<unsigned char>(c);
    name += std::isalnum(u) ? static_cast<char>(std::tolower(u)) : '_';
  }
  if (name.size() > 50) name.resize(50);
  return name + "_" + std::to_string(++counter);
}

}  // namespace

Result<ScratchDir> ScratchDir::Create(std::string_view prefix) {
  std::string templ = "/tmp/" + std::string(prefix) + "-XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) return Status::FromErrno("mkdtemp " + templ, errno);
  ScratchDir dir(templ);
  if (chmod(templ.c_str(), 0755) != 0) return Status::FromErrno("chmod " + templ, errno);
  return dir;
}

ScratchDir& ScratchDir::operator=(ScratchDir&& other) noexcept {
  if (this != &other) {
    ScratchDir old(std::move(*this));
    path_ = std::exchange(other.path_, {});
  }
  return *this;
}

ScratchDir::~ScratchDir() {
  if (path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

pg::LocalCluster::Options TestClusterOptions(const std::string& base_dir) {
  pg::LocalCluster::Options options;
  options.data_dir = base_dir + "/data";
  options.socket_dir = base_dir + "/s";
  options.superuser = "postgres";
  options.superuser_password = TestPassword();
  options.stop_with_parent = true;
  return options;
}

Result<pg::LocalCluster::Options> ScratchClusterOptions(const std::string& base_dir) {
  ASSIGN_OR_RETURN(std::string template_data, TemplateDataDir());
  pg::LocalCluster::Options options = TestClusterOptions(base_dir);
  std::error_code ec;
  std::filesystem::create_directories(base_dir, ec);
  if (ec) return Status::IoError("create " + base_dir + ": " + ec.message());
  if (chmod(base_dir.c_str(), 0755) != 0) return Status::FromErrno("chmod " + base_dir, errno);
  RETURN_IF_ERROR(CopyTree(template_data, options.data_dir));
  return options;
}

Result<pg::LocalCluster*> SharedTestCluster() {
  SharedState& s = Shared();
  if (!s.cluster_status) {
    Result<std::unique_ptr<pg::LocalCluster>> cluster = Status::Internal("not started");
    Result<std::string> dir = TemplateDataDir();
    if (dir.ok()) {
      Result<pg::LocalCluster::Options> options = ScratchClusterOptions(s.dir->path() + "/shared");
      cluster = options.ok() ? pg::LocalCluster::Start(*options) : options.status();
    } else {
      cluster = dir.status();
    }
    if (cluster.ok()) {
      s.cluster = std::move(cluster).value();
      s.cluster_status = Status::Ok();
    } else {
      s.cluster_status = cluster.status().WithContext("starting the test PostgreSQL cluster");
    }
  }
  if (!s.cluster_status->ok()) return *s.cluster_status;
  return s.cluster.get();
}

void PgTest::SetUp() {
  Result<pg::LocalCluster*> cluster = SharedTestCluster();
  ASSERT_TRUE(cluster.ok()) << cluster.status().ToString();
  cluster_ = *cluster;
  const std::string name =
      DatabaseNameFor(*::testing::UnitTest::GetInstance()->current_test_info());
  Status created = cluster_->CreateDatabase(name);
  ASSERT_TRUE(created.ok()) << created.ToString() << "\nserver log:\n" << cluster_->LogTail();
  database_ = name;
  params_ = cluster_->Params(database_);
  Result<pg::Connection> conn = pg::Connection::Open(params_);
  ASSERT_TRUE(conn.ok()) << conn.status().ToString() << "\nserver log:\n" << cluster_->LogTail();
  conn_.emplace(std::move(conn).value());
}

void PgTest::TearDown() {
  conn_.reset();
  if (cluster_ == nullptr || database_.empty()) return;
  Status dropped = cluster_->DropDatabase(database_);
  EXPECT_TRUE(dropped.ok()) << dropped.ToString();
}

std::string PgTest::Scalar(std::string_view sql) {
  Result<pg::QueryResult> r = conn().Query(sql);
  if (!r.ok()) {
    ADD_FAILURE() << r.status().ToString();
    return "";
  }
  if (r->rows() == 0 || r->columns() == 0) {
    ADD_FAILURE() << "no value from: " << sql;
    return "";
  }
  if (r->IsNull(0, 0)) {
    ADD_FAILURE() << "NULL from: " << sql;
    return "";
  }
  return std::string(r->Get(0, 0));
}

int64_t PgTest::RowCount(std::string_view schema, std::string_view table) {
  Result<pg::QueryResult> r =
      conn().Query("SELECT count(*) FROM " + pg::QualifiedName(schema, table));
  if (!r.ok()) {
    ADD_FAILURE() << r.status().ToString();
    return -1;
  }
  return std::stoll(std::string(r->Get(0, 0)));
}

}  // namespace opendms::testing
