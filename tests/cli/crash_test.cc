// Crash, restart and recovery of `opendms run-task` (issue 3, sections 2 and 3): the real binary
// SIGKILLed at random points and resumed, the target PostgreSQL restarted under a running task,
// and the lab's failure (a change row with a field the table definition lacks) with both of its
// recovery paths.
//
// Every test ends by comparing the target with a reference model that the test computes from
// the objects it wrote (the full-load rows, then every change object in key order, in a std::map
// per table keyed by primary key), loaded into a reference table and compared with EXCEPT ALL
// both ways. The generated changes never cause an apply error (inserts are of absent keys,
// updates and deletes of present ones), so any row in awsdms_apply_exceptions means a change
// was applied a second time (or out of order): each test also requires that table to be empty.
//
// The data and the kill delays come from one seeded RNG; the seed is printed, and
// OPENDMS_TEST_SEED=<seed> replays the same data and delays (the timing of the processes, and so
// the exact kill points, still vary from run to run).
#include <atomic>
#include <cinttypes>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <unordered_map>

#include "cli_fixture.h"

namespace opendms {
namespace {

using cli_testing::CliTest;
using cli_testing::Outcome;
using cli_testing::TaskProcess;
using std::chrono::milliseconds;

// ---------------------------------------------------------------------------------------------
// The data set: three tables with primary keys (one composite), their full-load objects and
// change objects, generated from a seed.
// ---------------------------------------------------------------------------------------------

struct TableSpec {
  std::string name;
  size_t key_columns;  // the first key_columns columns are the primary key
  std::string columns_json;
};

const std::vector<TableSpec>& Tables() {
  static const std::vector<TableSpec> tables = {
      {"accounts", 1,
       R"([{"ColumnName":"id","ColumnType":"INT8","ColumnIsPk":"true"},
           {"ColumnName":"owner","ColumnType":"STRING","ColumnLength":"40"},
           {"ColumnName":"balance","ColumnType":"NUMERIC","ColumnPrecision":"12","ColumnScale":"2"},
           {"ColumnName":"opened","ColumnType":"DATE","ColumnNullable":"true"},
           {"ColumnName":"note","ColumnType":"STRING","ColumnLength":"400","ColumnNullable":"true"}])"},
      {"events", 2,
       R"([{"ColumnName":"region","ColumnType":"STRING","ColumnLength":"8","ColumnIsPk":"true"},
           {"ColumnName":"seq","ColumnType":"INT4","ColumnIsPk":"true"},
           {"ColumnName":"kind","ColumnType":"STRING","ColumnLength":"12"},
           {"ColumnName":"amount","ColumnType":"NUMERIC","ColumnPrecision":"10","ColumnScale":"3"},
           {"ColumnName":"note","ColumnType":"STRING","ColumnLength":"400","ColumnNullable":"true"}])"},
      {"items", 1,
       R"([{"ColumnName":"sku","ColumnType":"STRING","ColumnLength":"16","ColumnIsPk":"true"},
           {"ColumnName":"qty","ColumnType":"INT4"},
           {"ColumnName":"price","ColumnType":"NUMERIC","ColumnPrecision":"9","ColumnScale":"2"},
           {"ColumnName":"active","ColumnType":"BOOLEAN"},
           {"ColumnName":"note","ColumnType":"STRING","ColumnLength":"400","ColumnNullable":"true"}])"},
  };
  return tables;
}
constexpr size_t kAccounts = 0, kEvents = 1, kItems = 2;

std::string ExternalTableDefinition() {
  std::string tables;
  for (const TableSpec& t : Tables()) {
    if (!tables.empty()) tables += ",";
    tables += R"({"TableName":")" + t.name + R"(","TablePath":"public/)" + t.name +
              R"(/","TableOwner":"public","TableColumns":)" + t.columns_json + "}";
  }
  return R"({"TableCount":")" + std::to_string(Tables().size()) + R"(","Tables":[)" + tables + "]}";
}

std::vector<std::string_view> Split(std::string_view line) {
  std::vector<std::string_view> out;
  for (;;) {
    const size_t comma = line.find(',');
    out.push_back(line.substr(0, comma));
    if (comma == std::string_view::npos) return out;
    line.remove_prefix(comma + 1);
  }
}

// Writes rows and change rows. Keys come from a per-table id; every value is plain text without
// commas or quotes; an empty field is NULL. It tracks which ids exist (and their current row) so
// that updates and deletes are of present rows and inserts of absent ones.
class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed), tables_(Tables().size()) {}

  // A full-load object of table t with `rows` new rows (short notes: the load is row-bound).
  std::string FullLoadObject(size_t t, int rows) {
    std::string out;
    for (int i = 0; i < rows; ++i) {
      const int64_t id = tables_[t].next_id++;
      const std::string row = Row(t, id, Pick(4) == 0 ? 0 : 8);
      Add(t, id, row);
      out += row + "\n";
    }
    return out;
  }

  // A change object of about `changes` rows over `tables` (all when empty): inserts, updates and
  // deletes of present and new keys, and chains on one key within the object (insert, update,
  // update, delete; delete then insert again; …). Notes are `note_length` long.
  std::string ChangeObject(int changes, size_t note_length, std::vector<size_t> tables = {}) {
    if (tables.empty()) {
      for (size_t t = 0; t < tables_.size(); ++t) tables.push_back(t);
    }
    std::string out;
    int written = 0;
    while (written < changes) {
      const size_t t = tables[Pick(tables.size())];
      TableState& s = tables_[t];
      const int dice = static_cast<int>(Pick(100));
      const bool has_rows = !s.live.empty();
      if (dice < 35 || !has_rows) {
        out += Insert(t, s.next_id++, note_length);
        ++written;
      } else if (dice < 70) {
        out += Update(t, Existing(t), note_length);
        ++written;
      } else if (dice < 85) {
        out += Delete(t, Existing(t));
        ++written;
      } else if (dice < 90) {  // a new key's whole life within the object
        const int64_t id = s.next_id++;
        out += Insert(t, id, note_length);
        out += Update(t, id, note_length);
        out += Update(t, id, note_length);
        out += Delete(t, id);
        written += 4;
      } else if (dice < 95) {  // an existing key updated, deleted and inserted again
        const int64_t id = Existing(t);
        out += Update(t, id, note_length);
        out += Delete(t, id);
        out += Insert(t, id, note_length);
        out += Update(t, id, note_length);
        written += 4;
      } else {  // a new key inserted, deleted, inserted again
        const int64_t id = s.next_id++;
        out += Insert(t, id, note_length);
        out += Delete(t, id);
        out += Insert(t, id, note_length);
        written += 3;
      }
    }
    return out;
  }

  // An insert of a new key of table t that later changes never touch (for an object that will be
  // deleted: its rows must not be needed by the objects after it).
  std::string UntrackedInsert(size_t t) {
    const int64_t id = tables_[t].next_id++;
    return "I," + Tables()[t].name + ",public," + Row(t, id, 12) + "\n";
  }

  uint64_t Pick(uint64_t n) { return rng_() % n; }
  double Uniform(double lo, double hi) {
    return std::uniform_real_distribution<double>(lo, hi)(rng_);
  }

 private:
  struct TableState {
    int64_t next_id = 0;
    std::vector<int64_t> live;                  // ids present, any order
    std::unordered_map<int64_t, size_t> index;  // id → position in live
    std::unordered_map<int64_t, std::string> row;
  };

  std::string Row(size_t t, int64_t id, size_t note_length) {
    char buf[160];
    const long long cents = static_cast<long long>(Pick(100000000)) - 50000000;
    const char* sign = cents < 0 ? "-" : "";
    const long long abs_cents = cents < 0 ? -cents : cents;
    std::string note(note_length, 'a');
    for (char& c : note) c = static_cast<char>('a' + Pick(26));
    switch (t) {
      case kAccounts: {
        std::string opened;  // NULL one time in five
        if (Pick(5) != 0) {
          const int year = 2020 + static_cast<int>(Pick(6));
          const int month = 1 + static_cast<int>(Pick(12));
          const int day = 1 + static_cast<int>(Pick(28));
          std::snprintf(buf, sizeof buf, "%d-%02d-%02d", year, month, day);
          opened = buf;
        }
        const int owner = static_cast<int>(Pick(1000000));
        std::snprintf(buf, sizeof buf, "%" PRId64 ",owner%d,%s%lld.%02lld,", id, owner, sign,
                      abs_cents / 100, abs_cents % 100);
        return buf + opened + "," + note;
      }
      case kEvents: {
        static const char* kRegions[] = {"eu", "us", "ap", "sa"};
        static const char* kKinds[] = {"open", "close", "move", "audit", "refund"};
        std::snprintf(buf, sizeof buf, "%s,%" PRId64 ",%s,%s%lld.%03lld,", kRegions[id % 4], id / 4,
                      kKinds[Pick(5)], sign, abs_cents / 1000, abs_cents % 1000);
        return buf + note;
      }
      default: {
        const int qty = static_cast<int>(Pick(2000)) - 100;
        const bool active = Pick(2) != 0;
        std::snprintf(buf, sizeof buf, "SKU-%08" PRId64 ",%d,%lld.%02lld,%s,", id, qty,
                      abs_cents / 100, abs_cents % 100, active ? "true" : "false");
        return buf + note;
      }
    }
  }
  int64_t Existing(size_t t) { return tables_[t].live[Pick(tables_[t].live.size())]; }
  void Add(size_t t, int64_t id, const std::string& row) {
    TableState& s = tables_[t];
    s.index[id] = s.live.size();
    s.live.push_back(id);
    s.row[id] = row;
  }
  void Remove(size_t t, int64_t id) {
    TableState& s = tables_[t];
    const size_t at = s.index.at(id);
    s.index[s.live.back()] = at;
    s.live[at] = s.live.back();
    s.live.pop_back();
    s.index.erase(id);
    s.row.erase(id);
  }
  std::string Change(char op, size_t t, const std::string& row) {
    return std::string(1, op) + "," + Tables()[t].name + ",public," + row + "\n";
  }
  std::string Insert(size_t t, int64_t id, size_t note_length) {
    const std::string row = Row(t, id, note_length);
    Add(t, id, row);
    return Change('I', t, row);
  }
  std::string Update(size_t t, int64_t id, size_t note_length) {
    const std::string row = Row(t, id, note_length);
    tables_[t].row.at(id) = row;
    return Change('U', t, row);
  }
  std::string Delete(size_t t, int64_t id) {
    const std::string row = tables_[t].row.at(id);  // the row's last image, as DMS writes it
    Remove(t, id);
    return Change('D', t, row);
  }

  std::mt19937_64 rng_;
  std::vector<TableState> tables_;
};

// The reference: what the target must hold. It reads the objects themselves (not the
// generator's state): full-load rows, then change rows applied in key order.
class Model {
 public:
  Model() : rows_(Tables().size()), counts_(Tables().size()) {}

  void LoadRows(size_t t, std::string_view object) {
    ForEachLine(object, [&](std::string_view line) {
      const std::string key = Key(t, Split(line));
      EXPECT_TRUE(rows_[t].emplace(key, std::string(line)).second) << "duplicate key " << key;
    });
  }

  // Applies the rows of a change object for `tables` (all when empty); rows for other tables
  // are not looked at.
  void ApplyChanges(std::string_view object, const std::set<size_t>& tables = {}) {
    ForEachLine(object, [&](std::string_view line) {
      const std::vector<std::string_view> f = Split(line);
      ASSERT_GE(f.size(), 3u) << line;
      const size_t t = TableIndex(f[1]);
      if (!tables.empty() && !tables.count(t)) return;
      const std::string values(line.substr(f[0].size() + f[1].size() + f[2].size() + 3));
      const std::string key = Key(t, Split(values));
      auto& rows = rows_[t];
      if (f[0] == "I") {
        EXPECT_TRUE(rows.emplace(key, values).second) << "insert of present key " << key;
        ++counts_[t].inserts;
      } else if (f[0] == "U") {
        auto it = rows.find(key);
        ASSERT_NE(it, rows.end()) << "update of absent key " << key;
        it->second = values;
        ++counts_[t].updates;
      } else {
        ASSERT_EQ(f[0], "D");
        EXPECT_EQ(rows.erase(key), 1u) << "delete of absent key " << key;
        ++counts_[t].deletes;
      }
    });
  }

  const std::map<std::string, std::string>& rows(size_t t) const { return rows_[t]; }
  struct Counts {
    int64_t inserts = 0, updates = 0, deletes = 0;
  };
  const Counts& counts(size_t t) const { return counts_[t]; }

 private:
  template <typename F>
  static void ForEachLine(std::string_view text, F&& f) {
    while (!text.empty()) {
      const size_t nl = text.find('\n');
      if (nl > 0) f(text.substr(0, nl));
      if (nl == std::string_view::npos) break;
      text.remove_prefix(nl + 1);
    }
  }
  static size_t TableIndex(std::string_view name) {
    for (size_t t = 0; t < Tables().size(); ++t) {
      if (Tables()[t].name == name) return t;
    }
    ADD_FAILURE() << "unknown table " << name;
    return 0;
  }
  static std::string Key(size_t t, const std::vector<std::string_view>& values) {
    std::string key;
    for (size_t i = 0; i < Tables()[t].key_columns; ++i) {
      key += std::string(values.at(i)) + ",";
    }
    return key;
  }

  std::vector<std::map<std::string, std::string>> rows_;
  std::vector<Counts> counts_;
};

// An object written to the bucket: its key and its bytes.
struct Object {
  std::string key, data;
};

uint64_t TestSeed() {
  if (const char* env = std::getenv("OPENDMS_TEST_SEED"); env && *env) {
    return std::strtoull(env, nullptr, 10);
  }
  return std::random_device{}() * uint64_t{0x100000001} ^ std::random_device{}();
}

// ---------------------------------------------------------------------------------------------
// The fixture
// ---------------------------------------------------------------------------------------------

class CrashCli : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    if (HasFatalFailure()) return;
    seed_ = TestSeed();
    std::printf("[ seed     ] %" PRIu64 " (OPENDMS_TEST_SEED=%" PRIu64 " replays it)\n", seed_,
                seed_);
    RecordProperty("seed", std::to_string(seed_));
    gen_.emplace(seed_);
    Json source = {{"EndpointIdentifier", "src"},
                   {"EndpointType", "source"},
                   {"EngineName", "s3"},
                   {"S3Settings",
                    {{"BucketName", "landing"},
                     {"CdcPath", "changes"},
                     {"ServiceAccessRoleArn", "arn:aws:iam::000000000000:role/dms"},
                     {"ExternalTableDefinition", ExternalTableDefinition()}}}};
    source_ = WriteJson("source.json", source);
    std::filesystem::create_directories(store() / "landing");
  }

  // A task document. `tables`: the tables it migrates (all when empty).
  std::filesystem::path TaskFile(const std::string& file, const std::string& id,
                                 const std::string& type, bool batch_apply,
                                 const std::vector<size_t>& tables = {},
                                 const std::string& prep_mode = "DROP_AND_CREATE") {
    Json rules = Json::array();
    if (tables.empty()) {
      rules.push_back({{"rule-type", "selection"},
                       {"rule-id", "1"},
                       {"rule-name", "all"},
                       {"object-locator", {{"schema-name", "public"}, {"table-name", "%"}}},
                       {"rule-action", "include"}});
    }
    for (size_t t : tables) {
      const std::string n = std::to_string(rules.size() + 1);
      rules.push_back(
          {{"rule-type", "selection"},
           {"rule-id", n},
           {"rule-name", "r" + n},
           {"object-locator", {{"schema-name", "public"}, {"table-name", Tables()[t].name}}},
           {"rule-action", "include"}});
    }
    Json settings = {
        {"TargetMetadata", {{"BatchApplyEnabled", batch_apply}}},
        {"FullLoadSettings",
         {{"TargetTablePrepMode", prep_mode}, {"CommitRate", 2000}, {"MaxFullLoadSubTasks", 2}}},
        // Batches of at most 512 KiB of change objects: the change phase has several commits.
        {"ChangeProcessingTuning", {{"BatchApplyMemoryLimit", 1}}},
        {"ErrorBehavior", {{"RecoverableErrorInterval", 1}}}};
    Json task = {{"ReplicationTaskIdentifier", id},
                 {"MigrationType", type},
                 {"TableMappings", Json({{"rules", rules}}).dump()},
                 {"ReplicationTaskSettings", settings.dump()}};
    return WriteJson(file, task);
  }

  void Put(const Object& o) { PutObject("landing", o.key, o.data); }

  // A full-load-and-cdc data set: `objects` full-load objects of `rows` rows per table, then
  // `change_objects` change objects of about `changes` changes each.
  void MakeDataSet(int objects, int rows, int change_objects, int changes) {
    for (size_t t = 0; t < Tables().size(); ++t) {
      for (int i = 1; i <= objects; ++i) {
        char key[64];
        std::snprintf(key, sizeof key, "public/%s/LOAD%04d.csv", Tables()[t].name.c_str(), i);
        full_load_.push_back({t, {key, gen_->FullLoadObject(t, rows)}});
      }
    }
    for (int i = 1; i <= change_objects; ++i) {
      changes_.push_back({ChangeKey(i), gen_->ChangeObject(changes, 350)});
    }
  }
  static std::string ChangeKey(int i) {
    char key[64];
    std::snprintf(key, sizeof key, "changes/CDC%06d.csv", i);
    return key;
  }
  void PutDataSet() {
    for (const auto& [t, o] : full_load_) Put(o);
    for (const Object& o : changes_) Put(o);
  }
  // The model after the full load and the first `applied` change objects.
  Model ModelAfter(size_t applied) {
    Model m;
    for (const auto& [t, o] : full_load_) m.LoadRows(t, o.data);
    for (size_t i = 0; i < applied && i < changes_.size(); ++i) m.ApplyChanges(changes_[i].data);
    return m;
  }

  // The target's tables equal the model's: loaded into reference tables, compared with EXCEPT
  // ALL both ways (so duplicates count), and by row count.
  void ExpectTargetEquals(const Model& model, const std::vector<size_t>& tables,
                          const std::string& label) {
    for (size_t t : tables) {
      const std::string name = "public." + pg::QuoteIdentifier(Tables()[t].name);
      const std::string ref = "public." + pg::QuoteIdentifier("ref_" + Tables()[t].name);
      ASSERT_TRUE(db().Execute("DROP TABLE IF EXISTS " + ref + "; CREATE TABLE " + ref + " (LIKE " +
                               name + ")")
                      .ok());
      auto copy = pg::CopyIn::Begin(db(), "COPY " + ref + " FROM STDIN (FORMAT csv)");
      ASSERT_TRUE(copy.ok()) << copy.status().ToString();
      std::string data;
      for (const auto& [key, row] : model.rows(t)) data += row + "\n";
      ASSERT_TRUE(copy->Write(data).ok());
      auto copied = copy->Finish();
      ASSERT_TRUE(copied.ok()) << copied.status().ToString();
      ASSERT_EQ(*copied, model.rows(t).size());
      const std::string extra =
          "SELECT x::text FROM (TABLE " + name + " EXCEPT ALL TABLE " + ref + ") x";
      const std::string missing =
          "SELECT x::text FROM (TABLE " + ref + " EXCEPT ALL TABLE " + name + ") x";
      EXPECT_EQ(Value("SELECT count(*) FROM (" + extra + ") e"), "0")
          << label << ": rows in " << name << " that the model does not have, e.g.\n"
          << Sample(extra + " LIMIT 5");
      EXPECT_EQ(Value("SELECT count(*) FROM (" + missing + ") m"), "0")
          << label << ": model rows missing from " << name << ", e.g.\n"
          << Sample(missing + " LIMIT 5");
      EXPECT_EQ(Value("SELECT count(*) FROM " + name), std::to_string(model.rows(t).size()))
          << label << ": " << name;
    }
  }
  std::string Sample(const std::string& sql) {
    std::string out;
    for (const auto& row : Rows(sql)) out += "  " + row[0] + "\n";
    return out;
  }

  // Nothing was applied twice: no apply exception (the data has no apply error), no rejected
  // full-load row, and every change object in the task's ledger once, applied.
  void ExpectExactlyOnce(const std::string& task, size_t change_objects) {
    EXPECT_EQ(Value("SELECT count(*) FROM public.awsdms_apply_exceptions"), "0")
        << "changes applied twice or out of order, e.g.\n"
        << Sample(
               "SELECT \"STATEMENT\" || ' -> ' || \"ERROR\" FROM public.awsdms_apply_exceptions"
               " LIMIT 5");
    EXPECT_EQ(Value("SELECT count(*) FROM public.awsdms_full_load_exceptions"), "0");
    EXPECT_EQ(Value("SELECT count(*) || ' ' || count(DISTINCT object_key) || ' ' || count(*) "
                    "FILTER (WHERE outcome = 'applied') FROM public.opendms_cdc_ledger WHERE "
                    "task_name = $1",
                    {task}),
              std::to_string(change_objects) + " " + std::to_string(change_objects) + " " +
                  std::to_string(change_objects));
  }

  // Where a task stands in the target's control tables.
  struct Progress {
    bool control_tables = false;  // the task created them
    int tables_planned = 0;
    bool full_load_done = false;
    int64_t rows_loaded = 0;
    int64_t objects_applied = 0;  // ledger entries
    bool cdc_state = false;
  };
  Progress Observe(const std::string& task) {
    Progress p;
    if (Value("SELECT to_regclass('public.opendms_cdc_ledger') IS NOT NULL") != "t") return p;
    p.control_tables = true;
    auto r = Rows(
        "SELECT count(DISTINCT table_name), count(*) FILTER (WHERE table_state <> 'completed'), "
        "coalesce(sum(rows_loaded), 0), (SELECT count(*) FROM public.opendms_cdc_ledger WHERE "
        "task_name = $1), (SELECT count(*) FROM public.opendms_cdc_state WHERE task_name = $1) "
        "FROM public.opendms_full_load_checkpoints WHERE task_name = $1",
        {task});
    if (r.empty()) return p;
    p.tables_planned = std::stoi(r[0][0]);
    p.full_load_done = p.tables_planned == static_cast<int>(Tables().size()) && r[0][1] == "0";
    p.rows_loaded = std::stoll(r[0][2]);
    p.objects_applied = std::stoll(r[0][3]);
    p.cdc_state = r[0][4] != "0";
    return p;
  }

  // The server's clock now (to tell a new run's sessions from a killed one's).
  std::string ServerNow() { return Value("SELECT clock_timestamp()::text"); }
  // Waits until a session of task `task` started after `since` is connected, or the process
  // ended. False when neither happened within 20 s.
  bool WaitConnected(TaskProcess& p, const std::string& task, const std::string& since) {
    for (int i = 0; i < 4000; ++i) {
      if (Value("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND "
                "backend_start >= $2::timestamptz",
                {"opendms:" + task, since}) != "0") {
        return true;
      }
      if (p.WaitFor(milliseconds(5))) return true;
    }
    return false;
  }

  void RunUnderRestarts(bool during_full_load, bool during_cdc, bool batch_apply);

  uint64_t seed_ = 0;
  std::optional<Generator> gen_;
  std::filesystem::path source_;
  std::vector<std::pair<size_t, Object>> full_load_;  // (table, object)
  std::vector<Object> changes_;                       // in key order
};

// ---------------------------------------------------------------------------------------------
// 1. SIGKILL at random points, resume each time
// ---------------------------------------------------------------------------------------------

TEST_F(CrashCli, SigkillAtRandomPointsAndResumeLosesAndDuplicatesNothing) {
  MakeDataSet(/*objects=*/12, /*rows=*/8000, /*change_objects=*/240, /*changes=*/200);
  PutDataSet();
  const std::string id = "crash-task";
  // Runs use batch or transactional apply at random: each resumes the other's position.
  const std::filesystem::path tasks[2] = {
      TaskFile("task-batch.json", id, "full-load-and-cdc", true),
      TaskFile("task-transactional.json", id, "full-load-and-cdc", false)};
  const int64_t n = static_cast<int64_t>(changes_.size());
  // Row counts per table after each number of applied change objects (checked at every kill).
  std::vector<std::vector<size_t>> counts_after;
  {
    Model m = ModelAfter(0);
    for (size_t i = 0; i <= changes_.size(); ++i) {
      if (i > 0) m.ApplyChanges(changes_[i - 1].data);
      counts_after.push_back({});
      for (size_t t = 0; t < Tables().size(); ++t) counts_after.back().push_back(m.rows(t).size());
    }
  }

  enum Phase { kFullLoad, kSwitch, kCdc, kCdcDone };
  const char* kPhaseNames[] = {"full load", "switch to CDC", "CDC", "CDC (all applied)"};
  auto phase_of = [n](const Progress& p) {
    return !p.full_load_done        ? kFullLoad
           : p.objects_applied == 0 ? kSwitch
           : p.objects_applied < n  ? kCdc
                                    : kCdcDone;
  };
  auto progressed = [](const Progress& from, const Progress& to) {
    return to.full_load_done != from.full_load_done || to.rows_loaded != from.rows_loaded ||
           to.objects_applied != from.objects_applied;
  };
  // When to kill a run. The control tables are watched while it runs: a run is killed either at
  // a random time after it connected, or (when the run before it in the same phase made no
  // progress, so that every phase ends) at a random time after it committed something; and soon
  // after it enters a phase that still wants kills (the switch to CDC is short).
  int kills[4] = {0, 0, 0, 0};
  // Kills wanted per phase; CDC makes up for a short switch, so that there are at least 20.
  auto wanted = [&kills](Phase p) {
    return p == kFullLoad ? 8 : p == kSwitch ? 4 : std::max(6, 22 - kills[0] - kills[1]);
  };
  bool stalled = false;  // the last run made no progress
  Progress before = Observe(id);
  int run = 0;
  std::string log;
  using Clock = std::chrono::steady_clock;
  while (run < 80) {
    const Phase phase = phase_of(before);
    if (phase == kCdcDone ||
        (kills[0] + kills[1] + kills[2] >= 20 && kills[0] >= 3 && kills[1] >= 3 && kills[2] >= 3)) {
      break;
    }
    const bool wants_kills = kills[phase] < wanted(phase);
    const bool after_progress = phase == kSwitch ? !wants_kills : stalled || !wants_kills;
    // The switch to CDC ends with the first change object applied, often within 50 ms of
    // connecting (and there is no way back into it): kill it almost at once.
    // A run in CDC applies a change object every few milliseconds once it has started (about
    // 0.05 s after connecting): a short delay, so that the change objects outlast the kills.
    const double delay = after_progress     ? gen_->Uniform(0.0, wants_kills ? 0.05 : 0.5)
                         : phase == kSwitch ? gen_->Uniform(0.0, 0.015)
                         : phase == kCdc    ? gen_->Uniform(0.02, 0.12)
                                            : gen_->Uniform(0.02, 0.2);
    const bool fresh = before.tables_planned == 0 && !before.cdc_state;
    const int mode = static_cast<int>(gen_->Pick(2));  // batch or transactional apply
    const std::string since = ServerNow();
    const int64_t own_backends = BackendsOfThisDatabase();
    TaskProcess p = Start(source_, tasks[mode],
                          {"--start-type", fresh ? "start-replication" : "resume-processing"},
                          "run" + std::to_string(run));
    ASSERT_TRUE(WaitConnected(p, id, since)) << "run " << run << " never connected";
    const auto connected = Clock::now();
    auto kill_at = after_progress ? Clock::time_point::max()
                                  : connected + std::chrono::duration_cast<Clock::duration>(
                                                    std::chrono::duration<double>(delay));
    std::string trigger = after_progress ? "a commit" : "connecting";
    while (Clock::now() < kill_at && !p.WaitFor(milliseconds(0))) {
      ASSERT_LT(Clock::now() - connected, std::chrono::seconds(30)) << "run " << run << " stuck";
      const Progress now = Observe(id);
      const Phase entered = phase_of(now);
      auto soon = [&](double seconds, const char* why) {
        const auto at = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(seconds));
        if (at < kill_at) {
          kill_at = at;
          trigger = why;
        }
      };
      if (entered != phase && entered != kCdcDone && kills[entered] < wanted(entered)) {
        soon(gen_->Uniform(0.0, entered == kSwitch ? 0.015 : 0.1), "entering the phase");
      } else if (after_progress && progressed(before, now)) {
        soon(delay, "a commit");
      }
      std::this_thread::sleep_for(milliseconds(10));
    }
    const double lived = std::chrono::duration<double>(Clock::now() - connected).count();
    Outcome o = p.Kill();
    ASSERT_EQ(o.signal, SIGKILL) << "run " << run << " ended before it was killed:\n"
                                 << o.Describe();
    // A COMMIT the process sent just before it died may still complete on the server: look only
    // once its sessions are gone, so that every query below sees the same committed state.
    ASSERT_TRUE(WaitForBackendsAtMost(own_backends)) << "run " << run << ": sessions linger";
    const Progress after = Observe(id);
    const Phase landed = phase_of(after);
    ++kills[landed];
    stalled = !progressed(before, after);
    char line[240];
    std::snprintf(line, sizeof line,
                  "run %2d (%s, %s) killed %.3f s after connecting (after %s): %s, %" PRId64
                  " rows loaded, %" PRId64 " change objects applied\n",
                  run, mode ? "transactional" : "batch",
                  fresh ? "start-replication" : "resume-processing", lived, trigger.c_str(),
                  kPhaseNames[landed], after.rows_loaded, after.objects_applied);
    log += line;

    // Invariants at every kill: never a row without its checkpoint (nor the reverse), and the
    // change objects applied are exactly the first ones in key order, each once.
    if (!after.control_tables) {
      // Killed before it created them: nothing to check.
    } else if (after.objects_applied == 0) {
      auto rows = Rows(
          "SELECT table_name, sum(rows_loaded) FROM public.opendms_full_load_checkpoints WHERE "
          "task_name = $1 GROUP BY table_name",
          {id});
      for (const auto& r : rows) {
        EXPECT_EQ(Value("SELECT count(*) FROM public." + pg::QuoteIdentifier(r[0])), r[1])
            << "after run " << run << ": rows of " << r[0] << " vs. its checkpoints";
      }
    } else {
      EXPECT_EQ(
          Value("SELECT max(object_key) || ' ' || count(DISTINCT object_key) FROM "
                "public.opendms_cdc_ledger WHERE task_name = $1",
                {id}),
          changes_[after.objects_applied - 1].key + " " + std::to_string(after.objects_applied))
          << "after run " << run;
      for (size_t t = 0; t < Tables().size(); ++t) {
        EXPECT_EQ(Value("SELECT count(*) FROM public." + pg::QuoteIdentifier(Tables()[t].name)),
                  std::to_string(counts_after[after.objects_applied][t]))
            << "after run " << run << ": " << Tables()[t].name << " after " << after.objects_applied
            << " change objects";
      }
    }
    if (after.control_tables) {
      EXPECT_EQ(Value("SELECT count(*) FROM public.awsdms_apply_exceptions"), "0")
          << "after run " << run;
    }
    if (HasFailure()) break;
    before = after;
    ++run;
  }
  std::printf("%s", log.c_str());
  std::printf("[ kills    ] %d in the full load, %d in the switch to CDC, %d in CDC, %d after\n",
              kills[0], kills[1], kills[2], kills[3]);
  ASSERT_FALSE(HasFailure()) << log;
  EXPECT_GE(kills[0] + kills[1] + kills[2], 20) << log;
  EXPECT_GE(kills[kFullLoad], 3) << log;
  EXPECT_GE(kills[kSwitch], 3) << log;
  EXPECT_GE(kills[kCdc], 3) << log;

  // The last run is left to finish: everything is there, once.
  Outcome o = Run(source_, tasks[gen_->Pick(2)],
                  {"--start-type", "resume-processing", "--until-idle", "1"});
  ASSERT_EQ(o.exit_code, 0) << o.Describe();
  EXPECT_EQ(o.task()["Status"], "stopped");
  EXPECT_EQ(o.task()["StopReason"], "Stop Reason NORMAL");
  EXPECT_EQ(o.task()
                .value("RecoveryCheckpoint", "")
                .rfind("checkpoint:V1#S3#" + changes_.back().key + "#", 0),
            0u)
      << o.task().dump();
  ExpectTargetEquals(ModelAfter(changes_.size()), {kAccounts, kEvents, kItems}, "after the kills");
  ExpectExactlyOnce(id, changes_.size());
  EXPECT_EQ(Value("SELECT count(*) FILTER (WHERE table_state = 'completed') || '/' || count(*) "
                  "FROM public.opendms_full_load_checkpoints WHERE task_name = $1",
                  {id}),
            "3/3");
}

// ---------------------------------------------------------------------------------------------
// 2. PostgreSQL restarted under a running task
// ---------------------------------------------------------------------------------------------

// Runs a full-load-and-cdc task (`--until-idle 2`, RecoverableErrorInterval 1) and restarts the
// target under it: a fast shutdown and start while rows are being loaded (`during_full_load`),
// a crash (SIGKILL of the postmaster) and recovery while change objects are being applied
// (`during_cdc`). The task must ride through and finish normally, exactly once.
void CrashCli::RunUnderRestarts(bool during_full_load, bool during_cdc, bool batch_apply) {
  MakeDataSet(/*objects=*/6, /*rows=*/6000, /*change_objects=*/50, /*changes=*/200);
  PutDataSet();
  const std::string id = "restart-task";
  const int64_t n = static_cast<int64_t>(changes_.size());
  TaskProcess p = Start(source_, TaskFile("task.json", id, "full-load-and-cdc", batch_apply),
                        {"--until-idle", "2"});
  Progress seen;
  if (during_full_load) {
    for (int i = 0; i < 3000 && !p.WaitFor(milliseconds(0)); ++i) {
      seen = Observe(id);
      if (seen.rows_loaded > 0 || seen.full_load_done) break;
      std::this_thread::sleep_for(milliseconds(10));
    }
    ASSERT_FALSE(seen.full_load_done) << "the full load ended before the restart: make it longer";
    ASSERT_GT(seen.rows_loaded, 0) << p.Kill().Describe();
    std::printf("[ restart  ] during the full load, %" PRId64 " rows loaded\n", seen.rows_loaded);
    ASSERT_TRUE(cluster().Restart().ok());
    Reconnect();
  }
  if (during_cdc) {
    for (int i = 0; i < 6000 && !p.WaitFor(milliseconds(0)); ++i) {
      seen = Observe(id);
      if (seen.objects_applied > 0) break;
      std::this_thread::sleep_for(milliseconds(5));
    }
    ASSERT_GT(seen.objects_applied, 0) << p.Kill().Describe();
    ASSERT_LT(seen.objects_applied, n) << "CDC ended before the restart: make it longer";
    std::printf("[ restart  ] during CDC, %" PRId64 " of %" PRId64 " change objects applied\n",
                seen.objects_applied, n);
    ASSERT_TRUE(cluster().Kill().ok());
    ASSERT_TRUE(cluster().Restart().ok());
    Reconnect();
  }

  std::optional<Outcome> o = p.WaitFor(std::chrono::seconds(90));
  ASSERT_TRUE(o.has_value()) << "still running 90 s after the restart: " << p.Kill().Describe();
  ASSERT_EQ(o->exit_code, 0) << o->Describe();
  EXPECT_EQ(o->task()["Status"], "stopped");
  EXPECT_EQ(o->task()["StopReason"], "Stop Reason NORMAL");
  const Model model = ModelAfter(changes_.size());
  ExpectTargetEquals(model, {kAccounts, kEvents, kItems}, "after the restart");
  ExpectExactlyOnce(id, changes_.size());
  // One process did all the work: its statistics count every row and change once.
  for (const Json& t : o->doc["TableStatistics"]) {
    size_t i = 0;
    while (i < Tables().size() && Tables()[i].name != t["TableName"]) ++i;
    ASSERT_LT(i, Tables().size());
    EXPECT_EQ(t["TableState"], "Table completed") << t.dump();
    EXPECT_EQ(t["FullLoadRows"], 6 * 6000) << t.dump();
    EXPECT_EQ(t["Inserts"], model.counts(i).inserts) << t.dump();
    EXPECT_EQ(t["Updates"], model.counts(i).updates) << t.dump();
    EXPECT_EQ(t["Deletes"], model.counts(i).deletes) << t.dump();
  }
}

TEST_F(CrashCli, TheTargetCrashedDuringCdcTheTaskReconnectsAndAppliesEverythingOnce) {
  RunUnderRestarts(/*during_full_load=*/false, /*during_cdc=*/true, /*batch_apply=*/true);
}

TEST_F(CrashCli, TheTargetRestartedDuringTheFullLoadTheTaskReconnectsAndFinishes) {
  RunUnderRestarts(/*during_full_load=*/true, /*during_cdc=*/false, /*batch_apply=*/false);
}

// ---------------------------------------------------------------------------------------------
// 3. The lab's failure and both recovery paths
// ---------------------------------------------------------------------------------------------

// A change object that fails any task migrating `events`: untracked inserts for every table
// (nothing later refers to them, so the object can be deleted) and, on line 4, an events row
// with one field more than the table definition has.
Object BadObject(Generator& gen, const std::string& key) {
  std::string bad = gen.UntrackedInsert(kEvents);
  bad.insert(bad.size() - 1, ",surprise");
  std::string data = gen.UntrackedInsert(kAccounts);
  data += gen.UntrackedInsert(kItems);
  data += gen.UntrackedInsert(kEvents);
  data += bad;
  data += gen.UntrackedInsert(kItems);
  return {key, data};
}

void ExpectTheLabFailure(const Outcome& o, const std::string& bad_key,
                         const std::string& checkpoint_key) {
  EXPECT_EQ(o.exit_code, 1) << o.Describe();
  EXPECT_EQ(o.task()["Status"], "failed");
  EXPECT_EQ(o.task()["StopReason"], "Stop Reason FATAL_ERROR");
  const std::string message = o.task().value("LastFailureMessage", "");
  for (const std::string& part :
       std::vector<std::string>{"s3://landing/" + bad_key + " line 4", "has 9 fields, expected 8",
                                "field 9 is not defined"}) {
    EXPECT_NE(message.find(part), std::string::npos) << part << " in: " << message;
    EXPECT_NE(o.err.find(part), std::string::npos) << part << " on stderr: " << o.err;
  }
  EXPECT_EQ(
      o.task().value("RecoveryCheckpoint", "").rfind("checkpoint:V1#S3#" + checkpoint_key + "#", 0),
      0u)
      << o.task().dump();
}

TEST_F(CrashCli, AnUndefinedFieldFailsOnlyItsTaskAndResumeAfterDeletingTheObjectAppliesTheRest) {
  // Task "lab" migrates accounts and events; task "other" migrates items, from the same changes.
  const auto lab_task = TaskFile("lab.json", "lab", "cdc", true, {kAccounts, kEvents});
  const auto other_task = TaskFile("other.json", "other", "cdc", false, {kItems});
  TaskProcess lab = Start(source_, lab_task, {}, "lab");
  TaskProcess other = Start(source_, other_task, {"--until-idle", "3"}, "other");
  for (int i = 0; i < 2000; ++i) {  // both are in change processing
    if (Value("SELECT to_regclass('public.opendms_cdc_state') IS NOT NULL") == "t" &&
        Value("SELECT count(*) FROM public.opendms_cdc_state") == "2") {
      break;
    }
    ASSERT_FALSE(lab.WaitFor(milliseconds(5))) << lab.Kill().Describe();
    ASSERT_FALSE(other.WaitFor(milliseconds(0))) << other.Kill().Describe();
  }
  int next = 1;
  auto land = [&](int count) {
    for (int i = 0; i < count; ++i) {
      changes_.push_back({ChangeKey(next++), gen_->ChangeObject(40, 20)});
      Put(changes_.back());
      std::this_thread::sleep_for(milliseconds(50));
    }
  };
  land(10);
  const Object bad = BadObject(*gen_, ChangeKey(next++));
  Put(bad);
  std::optional<Outcome> failed = lab.WaitFor(std::chrono::seconds(20));
  ASSERT_TRUE(failed.has_value()) << "the lab task did not fail: " << lab.Kill().Describe();
  ExpectTheLabFailure(*failed, bad.key, changes_.back().key);
  // Nothing of the bad object (nor after it) was applied.
  Model before;
  for (const Object& o : changes_) before.ApplyChanges(o.data, {kAccounts, kEvents});
  ExpectTargetEquals(before, {kAccounts, kEvents}, "after the failure");
  const size_t good_before = changes_.size();

  // The other task keeps going through the bad object and what lands after the failure.
  land(8);
  std::optional<Outcome> o = other.WaitFor(std::chrono::seconds(30));
  ASSERT_TRUE(o.has_value()) << other.Kill().Describe();
  ASSERT_EQ(o->exit_code, 0) << o->Describe();
  EXPECT_EQ(o->task()["Status"], "stopped");
  EXPECT_EQ(o->task()["StopReason"], "Stop Reason NORMAL");
  Model items;
  for (size_t i = 0; i < changes_.size(); ++i) {
    if (i == good_before) items.ApplyChanges(bad.data, {kItems});
    items.ApplyChanges(changes_[i].data, {kItems});
  }
  ExpectTargetEquals(items, {kItems}, "the other task");
  ExpectExactlyOnce("other", changes_.size() + 1);

  // Recovery A: the bad object is deleted, more good objects land, the task resumes.
  RemoveObject("landing", bad.key);
  land(5);
  o = Run(source_, lab_task, {"--start-type", "resume-processing", "--until-idle", "1"});
  ASSERT_EQ(o->exit_code, 0) << o->Describe();
  EXPECT_EQ(o->task()["Status"], "stopped");
  Model all;
  for (const Object& c : changes_) all.ApplyChanges(c.data, {kAccounts, kEvents});
  ExpectTargetEquals(all, {kAccounts, kEvents}, "after recovery A");
  ExpectExactlyOnce("lab", changes_.size());
  EXPECT_EQ(o->doc["CdcStatistics"]["ChangeObjectsApplied"], changes_.size() - good_before);
}

TEST_F(CrashCli, ANewTaskFromTheFailedTasksRecoveryCheckpointMissesAndRepeatsNothing) {
  // A writer drops good change objects, 20 a second, the whole time; the 15th object is bad.
  std::mutex mu;
  std::vector<Object> written;  // guarded by mu; the good objects, in key order
  std::string bad_key;          // guarded by mu
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 1; !stop; ++i) {
      const std::string key = ChangeKey(i);
      Object o = i == 15 ? BadObject(*gen_, key) : Object{key, gen_->ChangeObject(40, 20)};
      Put(o);
      {
        std::lock_guard lock(mu);
        if (i == 15) {
          bad_key = key;
        } else {
          written.push_back(std::move(o));
        }
      }
      std::this_thread::sleep_for(milliseconds(50));
    }
  });
  struct JoinWriter {
    std::atomic<bool>& stop;
    std::thread& t;
    ~JoinWriter() {
      stop = true;
      t.join();
    }
  } join_writer{stop, writer};

  TaskProcess failing = Start(source_, TaskFile("lab.json", "lab", "cdc", true), {}, "lab");
  std::optional<Outcome> failed = failing.WaitFor(std::chrono::seconds(30));
  ASSERT_TRUE(failed.has_value()) << "the lab task did not fail: " << failing.Kill().Describe();
  {
    std::lock_guard lock(mu);
    ExpectTheLabFailure(*failed, bad_key, ChangeKey(14));
    // The failed task is given up; the bad object would fail any task, so it goes.
    RemoveObject("landing", bad_key);
  }
  const std::string checkpoint = failed->task().value("RecoveryCheckpoint", "");
  TaskProcess replacement = Start(
      source_, TaskFile("replacement.json", "lab-replacement", "cdc", false, {}, "DO_NOTHING"),
      {"--cdc-start-position", checkpoint, "--until-idle", "2"}, "replacement");
  std::this_thread::sleep_for(std::chrono::seconds(3));
  stop = true;
  ASSERT_FALSE(replacement.WaitFor(milliseconds(0))) << replacement.Kill().Describe();
  std::optional<Outcome> o = replacement.WaitFor(std::chrono::seconds(30));
  ASSERT_TRUE(o.has_value()) << replacement.Kill().Describe();
  ASSERT_EQ(o->exit_code, 0) << o->Describe();
  EXPECT_EQ(o->task()["Status"], "stopped");
  EXPECT_EQ(o->task()["StopReason"], "Stop Reason NORMAL");

  std::lock_guard lock(mu);
  ASSERT_GE(written.size(), 40u) << "the writer was too slow";
  Model all;
  size_t after_checkpoint = 0;
  for (const Object& c : written) {
    all.ApplyChanges(c.data);
    after_checkpoint += c.key > ChangeKey(14);
  }
  ExpectTargetEquals(all, {kAccounts, kEvents, kItems}, "after recovery B");
  EXPECT_EQ(Value("SELECT count(*) FROM public.awsdms_apply_exceptions"), "0");
  EXPECT_EQ(Value("SELECT count(*) FROM public.opendms_cdc_ledger WHERE task_name = 'lab'"), "14");
  ExpectExactlyOnce("lab-replacement", after_checkpoint);
  EXPECT_EQ(o->doc["CdcStatistics"]["ChangeObjectsApplied"], after_checkpoint);
  EXPECT_EQ(o->doc["CdcStatistics"]["LateObjects"], 0);
}

}  // namespace
}  // namespace opendms
