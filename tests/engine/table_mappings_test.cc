#include "engine/table_mappings.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace opendms::engine {
namespace {

ColumnDefinition Col(std::string name, DmsType type = DmsType::kString, bool pk = false) {
  ColumnDefinition c;
  c.name = std::move(name);
  c.type = type;
  c.length = type == DmsType::kString ? 30 : 0;
  c.is_pk = pk;
  c.nullable = !pk;
  return c;
}

TableDefinition Table(std::string owner, std::string name, std::vector<ColumnDefinition> cols) {
  TableDefinition t;
  t.owner = std::move(owner);
  t.name = std::move(name);
  t.path = t.owner + "/" + t.name + "/";
  t.columns = std::move(cols);
  return t;
}

// hr.Employee, hr.Employee_Archive, hr.dept, sales.Orders, sales.order_items
ExternalTableDefinition Source() {
  ExternalTableDefinition d;
  d.tables.push_back(Table("hr", "Employee",
                           {Col("Id", DmsType::kInt8, true), Col("FirstName"), Col("LastName"),
                            Col("Salary", DmsType::kNumeric)}));
  d.tables.push_back(
      Table("hr", "Employee_Archive", {Col("Id", DmsType::kInt8, true), Col("LastName")}));
  d.tables.push_back(Table("hr", "dept", {Col("DeptId", DmsType::kInt4, true), Col("Name")}));
  d.tables.push_back(
      Table("sales", "Orders",
            {Col("OrderId", DmsType::kInt8, true), Col("Status"), Col("Amount", DmsType::kReal8)}));
  d.tables.push_back(
      Table("sales", "order_items", {Col("OrderId", DmsType::kInt8, true), Col("Sku")}));
  return d;
}

std::string Selection(const std::string& id, const std::string& schema, const std::string& table,
                      const std::string& action, const std::string& extra = "") {
  return R"({"rule-type":"selection","rule-id":")" + id + R"(","rule-name":"s)" + id +
         R"(","object-locator":{"schema-name":")" + schema + R"(","table-name":")" + table +
         R"("},"rule-action":")" + action + "\"" + extra + "}";
}

std::string Rules(const std::vector<std::string>& rules) {
  std::string out = R"({"rules":[)";
  for (size_t i = 0; i < rules.size(); ++i) out += (i ? "," : "") + rules[i];
  return out + "]}";
}

Result<std::vector<MappedTable>> Resolve(const std::string& json,
                                         std::string_view target_schema = "") {
  auto m = ParseTableMappings(json);
  if (!m.ok()) return m.status();
  return ResolveTableMappings(*m, Source(), target_schema);
}

std::vector<std::string> SourceNames(const std::vector<MappedTable>& tables) {
  std::vector<std::string> out;
  for (const MappedTable& t : tables) out.push_back(t.source_schema + "." + t.source_table);
  return out;
}

std::vector<std::string> ColumnNames(const MappedTable& t) {
  std::vector<std::string> out;
  for (const TargetColumn& c : t.columns) out.push_back(c.name);
  return out;
}

TEST(NamePattern, MatchesDmsWildcards) {
  struct Case {
    const char* pattern;
    const char* name;
    bool matches;
  };
  const Case cases[] = {
      {"%", "", true},
      {"%", "anything", true},
      {"Employee", "Employee", true},
      {"Employee", "employee", false},  // case-sensitive
      {"Emp%", "Employee", true},
      {"Emp%", "Em", false},
      {"%ee", "Employee", true},
      {"%plo%", "Employee", true},
      {"E_ployee", "Employee", true},
      {"E_ployee", "Eployee", false},
      {"order_items", "orderXitems", true},  // '_' is a wildcard
      {"order[_]items", "order_items", true},
      {"order[_]items", "orderXitems", false},
      {"t[ab]", "ta", true},
      {"t[ab]", "tc", false},
      {"t[a-d]1", "tc1", true},
      {"t[a-d]1", "te1", false},
      {"t[a-cx]", "tx", true},
      {"a%b%c", "aXXbYYc", true},
      {"a%b%c", "aXXbYY", false},
      {"%%%%%%%%%%%%%%%%%%%%x", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaay", false},
      {"[%]off", "%off", true},
  };
  for (const Case& c : cases) {
    auto p = NamePattern::Compile(c.pattern);
    ASSERT_TRUE(p.ok()) << c.pattern;
    EXPECT_EQ(p->Matches(c.name), c.matches) << c.pattern << " vs " << c.name;
  }
  auto literal = NamePattern::Compile("a_b", /*literal=*/true);
  ASSERT_TRUE(literal.ok());
  EXPECT_TRUE(literal->Matches("a_b"));
  EXPECT_FALSE(literal->Matches("axb"));
  EXPECT_FALSE(NamePattern::Compile("t[ab").ok());
  EXPECT_FALSE(NamePattern::Compile("t[z-a]").ok());
}

TEST(TableMappings, IncludeAndExcludeAreOrderIndependent) {
  for (bool exclude_first : {false, true}) {
    std::string include = Selection("1", "hr", "%", "include");
    std::string exclude = Selection("2", "hr", "%[_]Archive", "exclude");
    auto r = Resolve(exclude_first ? Rules({exclude, include}) : Rules({include, exclude}));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(SourceNames(*r), (std::vector<std::string>{"hr.Employee", "hr.dept"}));
  }
}

TEST(TableMappings, SelectionCombinations) {
  struct Case {
    const char* name;
    std::vector<std::string> rules;
    std::vector<std::string> expected;
  };
  const Case cases[] = {
      {"all",
       {Selection("1", "%", "%", "include")},
       {"hr.Employee", "hr.Employee_Archive", "hr.dept", "sales.Orders", "sales.order_items"}},
      {"explicit exact name",
       {Selection("1", "sales", "order_items", "explicit")},
       {"sales.order_items"}},
      {"explicit treats _ literally", {Selection("1", "sales", "orderXitems", "explicit")}, {}},
      {"exclude only selects nothing", {Selection("1", "%", "%", "exclude")}, {}},
      {"two includes overlap",
       {Selection("1", "hr", "Emp%", "include"), Selection("2", "hr", "%Archive", "include")},
       {"hr.Employee", "hr.Employee_Archive"}},
      {"explicit plus exclude",
       {Selection("1", "hr", "dept", "explicit"), Selection("2", "hr", "%", "exclude")},
       {}},
      {"view selects no S3 table",
       {R"({"rule-type":"selection","rule-id":"1","rule-name":"v","rule-action":"include",)"
        R"("object-locator":{"schema-name":"%","table-name":"%","table-type":"view"}})"},
       {}},
      {"table-type all selects tables",
       {R"({"rule-type":"selection","rule-id":"1","rule-name":"v","rule-action":"include",)"
        R"("object-locator":{"schema-name":"hr","table-name":"dept","table-type":"all"}})"},
       {"hr.dept"}},
      {"case-sensitive", {Selection("1", "HR", "%", "include")}, {}},
  };
  for (const Case& c : cases) {
    auto r = Resolve(Rules(c.rules));
    ASSERT_TRUE(r.ok()) << c.name << ": " << r.status().ToString();
    EXPECT_EQ(SourceNames(*r), c.expected) << c.name;
  }
}

TEST(TableMappings, LoadOrderHigherFirstThenNames) {
  auto r = Resolve(Rules({Selection("1", "%", "%", "include"),
                          Selection("2", "sales", "order_items", "include", R"(,"load-order":"5")"),
                          Selection("3", "hr", "dept", "include", R"(,"load-order":2)")}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(SourceNames(*r),
            (std::vector<std::string>{"sales.order_items", "hr.dept", "hr.Employee",
                                      "hr.Employee_Archive", "sales.Orders"}));
  EXPECT_EQ((*r)[0].load_order, 5);
  EXPECT_EQ((*r)[1].load_order, 2);
}

std::string Transformation(const std::string& id, const std::string& target,
                           const std::string& locator, const std::string& action,
                           const std::string& extra = "") {
  return R"({"rule-type":"transformation","rule-id":")" + id + R"(","rule-name":"t)" + id +
         R"(","rule-target":")" + target + R"(","object-locator":)" + locator +
         R"(,"rule-action":")" + action + "\"" + extra + "}";
}

TEST(TableMappings, RenameThenLowercaseApplyInRuleIdOrder) {
  // Rule 10 sorts after rule 2 numerically: rename first, then lowercase everything.
  auto r = Resolve(Rules({
      Selection("1", "hr", "Employee", "explicit"),
      Transformation("10", "column", R"({"schema-name":"%","table-name":"%","column-name":"%"})",
                     "convert-lowercase"),
      Transformation("2", "column",
                     R"({"schema-name":"hr","table-name":"Employee","column-name":"LastName"})",
                     "rename", R"(,"value":"Surname")"),
      Transformation("3", "table", R"({"schema-name":"hr","table-name":"Employee"})", "rename",
                     R"(,"value":"STAFF")"),
      Transformation("11", "table", R"({"schema-name":"%","table-name":"%"})", "convert-lowercase"),
      Transformation("4", "schema", R"({"schema-name":"hr"})", "rename", R"(,"value":"people")"),
  }));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 1u);
  const MappedTable& t = (*r)[0];
  EXPECT_EQ(t.target_schema, "people");
  EXPECT_EQ(t.target_table, "staff");
  EXPECT_EQ(ColumnNames(t), (std::vector<std::string>{"id", "firstname", "surname", "salary"}));
  // The definition keeps the source name: it is how the column is read.
  EXPECT_EQ(t.columns[2].definition.name, "LastName");
  EXPECT_EQ(t.columns[2].source_index, 2);
}

TEST(TableMappings, NameActions) {
  struct Case {
    const char* action;
    const char* extra;
    const char* expected_table;
  };
  const Case cases[] = {
      {"rename", R"(,"value":"x")", "x"},
      {"convert-uppercase", "", "EMPLOYEE_ARCHIVE"},
      {"convert-lowercase", "", "employee_archive"},
      {"add-prefix", R"(,"value":"dms_")", "dms_Employee_Archive"},
      {"remove-prefix", R"(,"value":"Employee_")", "Archive"},
      {"remove-prefix", R"(,"value":"Nope")", "Employee_Archive"},
      {"replace-prefix", R"(,"value":"Staff","old-value":"Employee")", "Staff_Archive"},
      {"add-suffix", R"(,"value":"_v1")", "Employee_Archive_v1"},
      {"remove-suffix", R"(,"value":"_Archive")", "Employee"},
      {"replace-suffix", R"(,"value":"_Old","old-value":"_Archive")", "Employee_Old"},
  };
  for (const Case& c : cases) {
    auto r = Resolve(Rules({Selection("1", "hr", "Employee[_]Archive", "include"),
                            Transformation("2", "table", R"({"schema-name":"hr","table-name":"%"})",
                                           c.action, c.extra)}));
    ASSERT_TRUE(r.ok()) << c.action << ": " << r.status().ToString();
    ASSERT_EQ(r->size(), 1u);
    EXPECT_EQ((*r)[0].target_table, c.expected_table) << c.action << c.extra;
  }
}

TEST(TableMappings, TargetSchemaSettingReplacesSourceSchema) {
  auto r = Resolve(Rules({Selection("1", "hr", "dept", "include")}), "landing");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].target_schema, "landing");
  EXPECT_EQ((*r)[0].source_schema, "hr");

  // A schema rule still wins over the setting.
  r = Resolve(Rules({Selection("1", "hr", "dept", "include"),
                     Transformation("2", "schema", R"({"schema-name":"hr"})", "rename",
                                    R"(,"value":"people")")}),
              "landing");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].target_schema, "people");
}

TEST(TableMappings, RemoveColumnWithWildcard) {
  auto r = Resolve(Rules({Selection("1", "hr", "Employee", "include"),
                          Transformation("2", "column",
                                         R"({"schema-name":"hr","table-name":"Employee",)"
                                         R"("column-name":"%Name"})",
                                         "remove-column")}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const MappedTable& t = (*r)[0];
  EXPECT_EQ(ColumnNames(t), (std::vector<std::string>{"Id", "Salary"}));
  EXPECT_EQ(t.columns[1].source_index, 3);  // Salary is still read from field 4
  EXPECT_EQ(t.primary_key, (std::vector<int>{0}));
}

TEST(TableMappings, RemovingAPrimaryKeyColumnNeedsANewKey) {
  std::string remove_id = Transformation(
      "2", "column", R"({"schema-name":"hr","table-name":"Employee","column-name":"Id"})",
      "remove-column");
  auto r = Resolve(Rules({Selection("1", "hr", "Employee", "include"), remove_id}));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(
                "rules[1] (rule-name \"t2\") removes primary-key column \"Id\" of hr.Employee"),
            std::string::npos)
      << r.status().message();

  r = Resolve(Rules({Selection("1", "hr", "Employee", "include"), remove_id,
                     Transformation("3", "table", R"({"schema-name":"hr","table-name":"Employee"})",
                                    "define-primary-key",
                                    R"(,"primary-key-def":{"name":"emp_pk",)"
                                    R"("columns":["LastName","FirstName"]})")}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const MappedTable& t = (*r)[0];
  EXPECT_EQ(ColumnNames(t), (std::vector<std::string>{"FirstName", "LastName", "Salary"}));
  EXPECT_EQ(t.primary_key, (std::vector<int>{1, 0}));  // key order from the rule
  EXPECT_TRUE(t.columns[0].definition.is_pk);
  EXPECT_FALSE(t.columns[0].definition.nullable);
  EXPECT_FALSE(t.columns[2].definition.is_pk);
  EXPECT_EQ(t.primary_key_name, "emp_pk");
}

TEST(TableMappings, AddColumnEvaluatesItsExpressionOnSourceFields) {
  auto r = Resolve(Rules({
      Selection("1", "hr", "Employee", "include"),
      Transformation("2", "column", R"({"schema-name":"hr","table-name":"Employee"})", "add-column",
                     R"(,"value":"FullName","expression":"$FirstName || ' ' || $LastName",)"
                     R"("data-type":{"type":"string","length":61})"),
      Transformation("3", "column", R"({"schema-name":"hr","table-name":"Employee"})", "add-column",
                     R"(,"value":"src","expression":"$AR_M_SOURCE_SCHEMA",)"
                     R"("data-type":{"type":"string","length":10})"),
      Transformation("4", "column",
                     R"({"schema-name":"hr","table-name":"Employee","column-name":"FirstName"})",
                     "remove-column"),
  }));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const MappedTable& t = (*r)[0];
  EXPECT_EQ(ColumnNames(t),
            (std::vector<std::string>{"Id", "LastName", "Salary", "FullName", "src"}));
  const TargetColumn& full = t.columns[3];
  EXPECT_EQ(full.source_index, -1);
  EXPECT_EQ(full.definition.type, DmsType::kString);
  EXPECT_EQ(full.definition.length, 61);
  EXPECT_TRUE(full.definition.nullable);
  ASSERT_NE(full.expression, nullptr);
  // A removed source column is still readable by an expression: it reads source fields.
  std::vector<std::string_view> fields = {"1", "Ada", "Lovelace", "10.00"};
  auto v = full.expression->Evaluate(ExpressionContext{fields, {}, "hr", "Employee"});
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, std::optional<std::string>("Ada Lovelace"));
  v = t.columns[4].expression->Evaluate(ExpressionContext{fields, {}, "hr", "Employee"});
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, std::optional<std::string>("hr"));
}

TEST(TableMappings, AddColumnWithBadExpressionNamesRuleAndTable) {
  auto r = Resolve(
      Rules({Selection("1", "hr", "Employee", "include"),
             Transformation("2", "column", R"({"schema-name":"hr","table-name":"%"})", "add-column",
                            R"j(,"value":"x","expression":"upper($Nope)",)j"
                            R"("data-type":{"type":"string","length":5})")}));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(
      r.status().message().find("rules[1] (rule-name \"t2\") add-column \"x\" on hr.Employee: "
                                "expression \"upper($Nope)\" at position 7: unknown column"),
      std::string::npos)
      << r.status().message();
}

TEST(TableMappings, ChangeDataTypeReplacesTheColumnType) {
  auto r = Resolve(Rules({Selection("1", "hr", "dept", "include"),
                          Transformation("2", "column",
                                         R"({"schema-name":"hr","table-name":"dept",)"
                                         R"("column-name":"DeptId"})",
                                         "change-data-type", R"(,"data-type":{"type":"int8"})")}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].columns[0].definition.type, DmsType::kInt8);
  EXPECT_TRUE((*r)[0].columns[0].definition.is_pk);
}

TEST(TableMappings, ResolutionConflictsAreErrors) {
  struct Case {
    const char* name;
    std::vector<std::string> rules;
    const char* message_part;
  };
  const Case cases[] = {
      {"two tables into one",
       {Selection("1", "hr", "Employee%", "include"),
        Transformation("2", "table", R"({"schema-name":"hr","table-name":"Employee%"})", "rename",
                       R"(,"value":"emp")")},
       "source tables hr.Employee and hr.Employee_Archive both map to target table hr.emp"},
      {"two columns one name",
       {Selection("1", "hr", "Employee", "include"),
        Transformation("2", "column",
                       R"({"schema-name":"hr","table-name":"Employee","column-name":"FirstName"})",
                       "rename", R"(,"value":"LastName")")},
       "hr.Employee: two target columns are named \"LastName\""},
      {"lowercase collision",
       {Selection("1", "hr", "Employee", "include"),
        Transformation("2", "column",
                       R"({"schema-name":"hr","table-name":"Employee","column-name":"Id"})",
                       "rename", R"(,"value":"salary")"),
        Transformation("3", "column", R"({"schema-name":"%","table-name":"%","column-name":"%"})",
                       "convert-lowercase")},
       "two target columns are named \"salary\""},
      {"added column collides",
       {Selection("1", "hr", "dept", "include"),
        Transformation(
            "2", "column", R"({"schema-name":"hr","table-name":"dept"})", "add-column",
            R"(,"value":"Name","expression":"'x'","data-type":{"type":"string","length":1})")},
       "two target columns are named \"Name\" (source column \"Name\" and added column)"},
      {"primary key on a missing column",
       {Selection("1", "hr", "dept", "include"),
        Transformation("2", "table", R"({"schema-name":"hr","table-name":"dept"})",
                       "define-primary-key",
                       R"(,"primary-key-def":{"name":"k","columns":["Nope"]})")},
       "primary-key-def.columns names \"Nope\", which hr.dept does not have"},
      {"filter on a missing column",
       {Selection("1", "hr", "dept", "include",
                  R"(,"filters":[{"filter-type":"source","column-name":"Nope",)"
                  R"("filter-conditions":[{"filter-operator":"eq","value":"1"}]}])")},
       "rules[0] (rule-name \"s1\") filters[0]: column \"Nope\" is not a column of hr.dept"},
      {"filter value not a number",
       {Selection("1", "hr", "dept", "include",
                  R"(,"filters":[{"filter-type":"source","column-name":"DeptId",)"
                  R"("filter-conditions":[{"filter-operator":"gte","value":"ten"}]}])")},
       "\"ten\" is not a number, but DeptId is INT4"},
  };
  for (const Case& c : cases) {
    auto r = Resolve(Rules(c.rules));
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_TRUE(r.status().IsInvalidArgument()) << c.name;
    EXPECT_NE(r.status().message().find(c.message_part), std::string::npos)
        << c.name << " → " << r.status().message();
  }
}

TEST(TableMappings, ParseErrorsNameRuleAndKey) {
  struct Case {
    std::string json;
    const char* message_part;
  };
  const Case cases[] = {
      {"[]", "TableMappings must be a JSON object"},
      {"{}", "must have a \"rules\" array"},
      {"{\"rules\":", "TableMappings is not valid JSON"},
      {Rules({R"({"rule-id":"1","rule-name":"a","rule-action":"include"})"}),
       "rules[0].rule-type is required"},
      {Rules({R"({"rule-type":"selection","rule-name":"a","rule-action":"include"})"}),
       "rules[0].rule-id is required"},
      {Rules({Selection("1", "%", "%", "include"), Selection("1", "%", "x", "include")}),
       "rules[1].rule-id \"1\" is used twice"},
      {Rules({R"({"rule-type":"selection","rule-id":"1","rule-name":"a",)"
              R"("object-locator":{"schema-name":"hr"},"rule-action":"include"})"}),
       "rules[0].object-locator.table-name is required"},
      {Rules({Selection("1", "%", "%", "copy")}),
       "rules[0].rule-action must be one of include, exclude, explicit"},
      {Rules({Selection("1", "hr", "Emp%", "explicit")}),
       "rules[0].object-locator of an explicit rule must name one table exactly"},
      {Rules({Selection("1", "hr", "t[ab", "include")}),
       "rules[0].object-locator.table-name: pattern \"t[ab\": unterminated"},
      {Rules({R"({"rule-type":"post-processing","rule-id":"1","rule-name":"a"})"}),
       "rules[0].rule-type must be one of selection, transformation, table-settings"},
      {Rules({Transformation("1", "column", R"({"schema-name":"%","table-name":"%"})", "rename",
                             R"(,"value":"x")")}),
       "rules[0].object-locator.column-name is required"},
      {Rules({Transformation("1", "table", R"({"schema-name":"%","table-name":"%"})", "rename")}),
       "rules[0].value is required"},
      {Rules({Transformation("1", "table", R"({"schema-name":"%","table-name":"%"})",
                             "remove-column")}),
       "rules[0].rule-action \"remove-column\" needs rule-target column"},
      {Rules({Transformation("1", "table", R"({"schema-name":"%","table-name":"%"})",
                             "replace-prefix", R"(,"value":"x")")}),
       "rules[0].old-value is required"},
      {Rules({Transformation("1", "column", R"({"schema-name":"%","table-name":"%"})", "add-column",
                             R"(,"value":"x","expression":"1")")}),
       "rules[0].data-type is required for add-column"},
      {Rules({Transformation("1", "column", R"({"schema-name":"%","table-name":"%"})", "add-column",
                             R"(,"value":"x","expression":"1","data-type":{"type":"string"})")}),
       "rules[0].data-type.length must be 1..2147483647"},
      {Rules({Transformation("1", "column", R"({"schema-name":"%","table-name":"%"})", "add-column",
                             R"(,"value":"x","expression":"1","data-type":{"type":"int9"})")}),
       "rules[0].data-type.type"},
      {Rules({Transformation("1", "column", R"({"schema-name":"%","table-name":"%"})",
                             "add-before-image-columns")}),
       "\"add-before-image-columns\" is not supported"},
      {Rules({Transformation("1", "table-tablespace", R"({"schema-name":"%"})", "rename")}),
       "applies to Oracle targets only"},
      {Rules({Selection("1", "%", "%", "include",
                        R"(,"filters":[{"filter-type":"source","column-name":"a",)"
                        R"("filter-conditions":[{"filter-operator":"like","value":"1"}]}])")}),
       "rules[0].filters[0].filter-conditions[0].filter-operator must be one of eq"},
      {Rules({Selection(
           "1", "%", "%", "include",
           R"(,"filters":[{"filter-type":"source","column-name":"a",)"
           R"("filter-conditions":[{"filter-operator":"between","start-value":"1"}]}])")}),
       "rules[0].filters[0].filter-conditions[0].end-value is required"},
      {Rules({Selection("1", "%", "%", "include",
                        R"(,"filters":[{"filter-type":"source","column-name":"a",)"
                        R"("filter-conditions":[{"filter-operator":"noteq","value":"1"},)"
                        R"({"filter-operator":"eq","value":"2"}]}])")}),
       "negative operator"},
  };
  for (const Case& c : cases) {
    auto r = ParseTableMappings(c.json);
    ASSERT_FALSE(r.ok()) << c.json;
    EXPECT_NE(r.status().message().find(c.message_part), std::string::npos)
        << c.json << " → " << r.status().message();
  }
}

TEST(TableMappings, RuleIdsAndNamesMayBeNumbersAndTableSettingsAreAccepted) {
  auto r = ParseTableMappings(R"({"rules":[
    {"rule-type":"selection","rule-id":1,"rule-name":1,
     "object-locator":{"schema-name":"%","table-name":"%"},"rule-action":"include"},
    {"rule-type":"table-settings","rule-id":2,"rule-name":"parallel",
     "object-locator":{"schema-name":"hr","table-name":"Employee"},
     "parallel-load":{"type":"partitions-auto"}}]})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->selection.size(), 1u);
  EXPECT_EQ(r->selection[0].rule_id, "1");
  EXPECT_EQ(r->selection[0].rule_name, "1");
  EXPECT_TRUE(r->transformations.empty());
}

TEST(TableMappings, SourceFiltersSelectRows) {
  auto r = Resolve(
      Rules({Selection("1", "sales", "Orders", "include",
                       R"(,"filters":[)"
                       R"({"filter-type":"source","column-name":"Amount","filter-conditions":[)"
                       R"({"filter-operator":"between","start-value":"10","end-value":"100"},)"
                       R"({"filter-operator":"gte","value":"1000"}]},)"
                       R"({"filter-type":"source","column-name":"Status","filter-conditions":[)"
                       R"({"filter-operator":"noteq","value":"cancelled"}]}])")}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const RowFilter& f = (*r)[0].row_filter;
  ASSERT_FALSE(f.empty());
  struct Case {
    std::vector<std::string_view> fields;
    std::vector<char> nulls;
    bool selected;
  };
  const Case cases[] = {
      {{"1", "open", "50"}, {}, true},
      {{"1", "open", "9.5"}, {}, false},
      {{"1", "open", "100"}, {}, true},   // between is inclusive
      {{"1", "open", "2000"}, {}, true},  // second condition of the same filter (OR)
      {{"1", "open", "500"}, {}, false},
      {{"1", "cancelled", "50"}, {}, false},  // second filter (AND)
      {{"1", "open", "1e3"}, {}, true},       // numbers compare as numbers, not text
      {{"1", "open", ""}, {0, 0, 1}, false},  // NULL satisfies no comparison
      {{"1", "open", "abc"}, {}, false},      // not a number: no comparison holds
  };
  for (const Case& c : cases) {
    bool nulls[3] = {false, false, false};
    for (size_t i = 0; i < c.nulls.size(); ++i) nulls[i] = c.nulls[i] != 0;
    EXPECT_EQ(f.Matches(c.fields, std::span<const bool>(nulls, c.nulls.empty() ? 0 : 3)),
              c.selected)
        << c.fields[1] << "," << c.fields[2];
  }
}

TEST(TableMappings, NullFiltersAndUnfilteredIncludeWins) {
  std::string null_filter = R"(,"filters":[{"filter-type":"source","column-name":"Status",)"
                            R"("filter-conditions":[{"filter-operator":"null"}]}])";
  auto r = Resolve(Rules({Selection("1", "sales", "Orders", "include", null_filter)}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::vector<std::string_view> fields = {"1", "", "5"};
  bool nulls[3] = {false, true, false};
  EXPECT_TRUE((*r)[0].row_filter.Matches(fields, nulls));
  EXPECT_FALSE((*r)[0].row_filter.Matches(fields, {}));

  // Another include without filters selects every row of the table.
  r = Resolve(Rules({Selection("1", "sales", "Orders", "include", null_filter),
                     Selection("2", "sales", "%", "include")}));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE((*r)[0].row_filter.empty());
  EXPECT_TRUE((*r)[0].row_filter.Matches(fields, {}));
}

}  // namespace
}  // namespace opendms::engine
