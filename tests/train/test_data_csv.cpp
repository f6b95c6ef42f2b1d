// CSV reader, encoders and the CSV -> dataset builder.
#include <catch2/catch.hpp>

#include <recblocks/data.hpp>
#include <recblocks/data/csv_dataset.hpp>
#include <recblocks/data/feature_hasher.hpp>

using namespace recblocks;
using data::csv_options;
using data::csv_reader;

TEST_CASE("csv_reader: RFC 4180 quoting, CRLF, BOM, blank lines", "[data][csv]") {
  const std::string text =
      "\xEF\xBB\xBFid,name,note\r\n"
      "1,\"Smith, J\",\"said \"\"hi\"\"\"\r\n"
      "\r\n"
      "2,plain,\"two\nlines\"\r\n"
      "3,,last";  // no final newline, empty middle field
  const csv_reader r(text, {}, "t.csv");
  REQUIRE(r.columns() == 3);
  REQUIRE(r.rows() == 3);
  CHECK(r.header() == std::vector<std::string>{"id", "name", "note"});  // BOM stripped
  CHECK(r.cell(0, 1) == "Smith, J");
  CHECK(r.cell(0, 2) == "said \"hi\"");
  CHECK(r.cell(1, 2) == "two\nlines");
  CHECK(r.cell(2, 1).empty());
  CHECK(r.cell(2, 2) == "last");
  CHECK(r.line(0) == 2);
  CHECK(r.line(1) == 4);  // the blank line 3 is skipped
  CHECK(r.line(2) == 6);  // the quoted newline makes record 2 span lines 4-5
  CHECK(r.integer(2, r.column("id")) == 3);
  CHECK_THROWS_WITH(r.number(2, 1), Catch::Contains("t.csv:6:2 ('name'): missing value"));
  CHECK_THROWS_WITH(r.integer(0, 1), Catch::Contains("t.csv:2:2 ('name')") && Catch::Contains("'Smith, J'"));
  CHECK_THROWS_AS(r.column("nope"), value_error);

  // a quote inside an unquoted field is literal; quoting can be turned off
  const csv_reader q("a|b\n5\"|x\"y\n", {.delimiter = '|', .quote = '\0'});
  CHECK(q.cell(0, 0) == "5\"");
  CHECK(q.cell(0, 1) == "x\"y");
  const csv_reader tab("1\t2.5\n3\t-4e2\n", {.delimiter = '\t', .header = false});
  CHECK(tab.header().empty());
  CHECK(tab.number(1, 1) == -400.0);
  CHECK(tab.number(0, 1) == 2.5);
  const csv_reader trailing("a,b\n1,\n", {});
  CHECK(trailing.cell(0, 1).empty());
}

TEST_CASE("csv_reader: malformed input names file, line and column", "[data][csv]") {
  CHECK_THROWS_WITH(csv_reader("", {}, "e.csv"), Catch::Contains("e.csv:1:1: empty input"));
  CHECK_THROWS_AS(csv_reader("\xEF\xBB\xBF\n\n", {}, "e.csv"), parse_error);
  // line 3 has 4 fields: the first extra one is column 4
  CHECK_THROWS_WITH(csv_reader("a,b,c\n1,2,3\n4,5,6,7\n", {}, "w.csv"),
                    Catch::Equals("w.csv:3:4: expected 3 fields, found 4"));
  CHECK_THROWS_WITH(csv_reader("a,b,c\n1,2\n", {}, "w.csv"), Catch::Equals("w.csv:2:3: expected 3 fields, found 2"));
  CHECK_THROWS_WITH(csv_reader("a,b\n1,\"open\n2,3\n", {}, "u.csv"), Catch::Contains("u.csv:2:2: unterminated quoted field"));
  CHECK_THROWS_WITH(csv_reader("a,b\n1,\"x\"y\n", {}, "c.csv"), Catch::Contains("c.csv:2:2: unexpected character 'y'"));
  CHECK_THROWS_AS(csv_reader("a,b", {.delimiter = '"'}), value_error);
  // invalid UTF-8 (a Latin-1 byte) is named by line and field; it passes when validation is off
  CHECK_THROWS_WITH(csv_reader("a,b\n1,caf\xE9\n", {}, "l.csv"), Catch::Contains("l.csv:2:2: invalid UTF-8 byte 0xE9"));
  CHECK(csv_reader("a,b\n1,caf\xE9\n", {.validate_utf8 = false}).cell(0, 1).size() == 4);
  CHECK(csv_reader(data::latin1_to_utf8("a,b\n1,caf\xE9\n")).cell(0, 1) == "caf\xC3\xA9");
  CHECK(csv_reader("a\n\xE5\x8C\x97\xE4\xBA\xAC\n").cell(0, 0) == "\xE5\x8C\x97\xE4\xBA\xAC");  // valid 3-byte UTF-8
  CHECK(data::utf8_invalid_offset("ok\xC0\xAF") == 2);      // overlong '/'
  CHECK(data::utf8_invalid_offset("\xED\xA0\x80") == 0);   // surrogate
  CHECK(data::utf8_invalid_offset("\xF0\x9F\x98\x80") == std::string_view::npos);

  // skip mode drops and counts the bad records and keeps the good ones
  const csv_reader s("a,b\n1,2\n3\n4,5\n6,\"x\"y,7\n8,9\n", {.errors = data::on_error::skip}, "s.csv");
  CHECK(s.rows() == 3);
  CHECK(s.skipped() == 2);
  CHECK(s.cell(2, 0) == "8");
  CHECK(s.line(2) == 6);
  REQUIRE(s.skipped_messages().size() == 2);
  CHECK(s.skipped_messages()[0] == "s.csv:3:2: expected 2 fields, found 1");

  const csv_reader v("x,y\n1,2\nabc,1.5\nnan,0\n, 7 \n", {}, "v.csv");
  CHECK_THROWS_WITH(v.number(1, 0), Catch::Equals("v.csv:3:1 ('x'): expected a finite number, got 'abc'"));
  CHECK_THROWS_AS(v.number(2, 0), parse_error);
  CHECK(v.number(3, 1) == 7.0);
  CHECK_THROWS_WITH(v.binary(0, 1), Catch::Equals("v.csv:2:2 ('y'): expected a binary label 0 or 1, got '2'"));
  CHECK(v.binary(2, 1) == 0.0);
}

TEST_CASE("label_encoder, min_max_scaler and feature_hasher", "[data][encoders]") {
  const std::vector<std::string> train{"b", "a", "c", "a", "b", "a"};
  data::label_encoder e;
  e.fit(train);
  CHECK(e.vocabulary() == 4);
  CHECK(e.transform("a") == 1);
  CHECK(e.transform("c") == 3);
  CHECK(e.transform("zzz") == 0);
  CHECK(e.inverse(2) == "b");
  CHECK(e.inverse(0).empty());
  CHECK_THROWS_AS(e.inverse(4), value_error);
  const auto back = data::label_encoder::from_json(e.to_json());
  CHECK(back.classes() == e.classes());
  CHECK(back.transform("b") == 2);
  data::label_encoder rare(2);  // "c" occurs once -> unknown
  rare.fit(train);
  CHECK(rare.vocabulary() == 3);
  CHECK(rare.transform("c") == 0);
  CHECK_THROWS_AS(data::label_encoder(0), value_error);
  CHECK_THROWS_AS(data::label_encoder::from_json(nlohmann::json::parse(R"({"classes":["a","a"]})")), parse_error);

  const std::vector<double> v{7, 1, 4};
  data::min_max_scaler m;
  CHECK_THROWS_AS(m.transform(1.0), state_error);
  m.fit(v);
  CHECK(m.transform(4) == Approx(0.5));
  CHECK(m.transform(10) == Approx(1.5));  // extrapolates like sklearn
  CHECK(data::min_max_scaler(true).fit(v).transform(10) == 1.0);
  CHECK(data::min_max_scaler::from_json(m.to_json()).transform(1) == 0.0);
  const std::vector<double> same{3, 3};
  CHECK(data::min_max_scaler().fit(same).transform(3) == 0.0);
  const std::vector<double> none;
  CHECK_THROWS_AS(data::min_max_scaler().fit(none), value_error);

  data::feature_hasher h(8, 5);
  CHECK(h("") == 0);
  for (const char* s : {"a", "bb", "zip:12345"}) {
    CHECK(h(s) >= 1);
    CHECK(h(s) < 8);
    CHECK(h(s) == 1 + static_cast<index_t>(mix64(hash_string(s) ^ 5) % 7));
  }
  CHECK_THROWS_AS(data::feature_hasher(1), value_error);
}

TEST_CASE("csv_dataset: roles, train-only fitting, scenarios and errors", "[data][csv_dataset]") {
  // 10 rows; scenario column 'dom' (book/music/movie, plus one 'tv' row to drop)
  const std::string text =
      "user,item,price,dom,click\n"
      "u1,i1,10,book,1\n"
      "u2,i2,20,music,0\n"
      "u1,i3,30,movie,1\n"
      "u3,i1,40,book,0\n"
      "u2,i2,50,music,1\n"
      "u4,i4,60,movie,0\n"
      "u1,i2,70,book,1\n"
      "u5,i5,80,tv,0\n"
      "u3,i3,90,movie,1\n"
      "u2,i1,100,music,0\n";
  const csv_reader r(text, {}, "d.csv");
  data::csv_dataset_config cfg;
  cfg.sparse = {"user", "item"};
  cfg.dense = {"price"};
  cfg.labels = {{"click"}};
  cfg.scenario_column = "dom";
  cfg.scenario_values = {"book", "music", "movie"};
  CHECK_THROWS_WITH(data::csv_dataset(cfg).load(r, {0.8, 0.1, 0.1}, 1), Catch::Contains("d.csv:9:4 ('dom'): scenario value 'tv'"));
  cfg.drop_unknown_scenarios = true;
  data::csv_dataset b(cfg);
  const auto parts = b.load(r, {0.8, 0.1, 0.1}, 1);
  CHECK(parts.dropped == 1);
  CHECK(parts.train.rows() + parts.validation.rows() + parts.test.rows() == 9);
  CHECK(parts.train.rows() == 8);  // floor(7.2) + the leftover
  const auto& s = b.get_schema();
  CHECK(s.sparse_count() == 2);
  CHECK(s.scenario_count() == 3);
  CHECK(s.features()[2].name == "price");
  CHECK(s.at("user").vocabulary == b.encoder("user").vocabulary());
  parts.train.validate();
  parts.test.validate();
  // encoders and scaler saw train rows only: the scaled train prices span exactly [0, 1]
  const auto price = parts.train.dense_column(0);
  CHECK(*std::min_element(price.begin(), price.end()) == 0.0);
  CHECK(*std::max_element(price.begin(), price.end()) == 1.0);
  const auto json = b.to_json();
  CHECK(json["scenario_map"] == nlohmann::json::array({0, 1, 2}));
  CHECK(json["sparse"]["user"]["classes"].size() == static_cast<std::size_t>(b.encoder("user").vocabulary() - 1));

  // transform: unseen user -> 0
  const csv_reader more("user,item,price,dom,click\nnew,i1,55,movie,1\n", {}, "m.csv");
  const auto extra = b.transform(more);
  REQUIRE(extra.rows() == 1);
  CHECK(extra.sparse_column(0)[0] == 0);
  CHECK(extra.scenario_column()[0] == 2);

  // a missing column is named, with the file's columns
  auto bad = cfg;
  bad.dense = {"cost"};
  CHECK_THROWS_WITH(data::csv_dataset(bad).load(r, {0.8, 0.1, 0.1}, 1),
                    Catch::Contains("dense column 'cost' not found in d.csv") && Catch::Contains("user, item, price"));
  // a scenario without rows
  auto empty = cfg;
  empty.scenario_values = {"book", "music", "movie", "games"};
  CHECK_THROWS_WITH(data::csv_dataset(empty).load(r, {0.8, 0.1, 0.1}, 1),
                    Catch::Contains("scenario 3 ('games') of column 'dom' has no rows in d.csv"));
  // compaction renumbers the present scenarios
  auto compact = empty;
  compact.compact_scenarios = true;
  data::csv_dataset cb(compact);
  cb.load(r, {1, 0, 0}, 1);
  CHECK(cb.get_schema().scenario_count() == 3);
  CHECK(cb.scenario_map() == std::vector<index_t>{0, 1, 2, -1});

  // bad cells: raise with position, or skip and count
  const csv_reader dirty("user,item,price,dom,click\nu1,i1,x,book,1\nu2,i2,3,book,2\nu3,i3,4,book,\nu4,i4,5,book,0\n", {},
                         "x.csv");
  auto one = cfg;
  one.scenario_values = {"book"};
  CHECK_THROWS_WITH(data::csv_dataset(one).load(dirty, {1, 0, 0}, 1),
                    Catch::Contains("x.csv:2:3 ('price'): expected a finite number, got 'x'"));
  one.dense.clear();
  CHECK_THROWS_WITH(data::csv_dataset(one).load(dirty, {1, 0, 0}, 1),
                    Catch::Contains("x.csv:3:5 ('click'): expected a binary label 0 or 1, got '2'"));
  one.dense = {"price"};
  one.errors = data::on_error::skip;
  const auto kept = data::csv_dataset(one).load(dirty, {1, 0, 0}, 1);
  CHECK(kept.skipped == 3);
  CHECK(kept.train.rows() == 1);

  // threshold labels and a scenario function
  const csv_reader rt("age,rating\n20,5\n30,3\n40,4\n", {}, "r.csv");
  data::csv_dataset_config tc;
  tc.dense = {"age"};
  tc.labels = {{"rating", 3.0}};
  tc.scenario_column = "age";
  tc.scenario_of = [](std::string_view a) { return a < "25" ? index_t{0} : a < "35" ? index_t{1} : index_t{2}; };
  data::csv_dataset tb(tc);
  const auto tp = tb.load(rt, {1, 0, 0}, 3);
  CHECK(tp.train.label_column(0)[0] == 1.0);
  CHECK(tp.train.label_column(0)[1] == 0.0);
  CHECK(tp.train.label_column(0)[2] == 1.0);
  CHECK(tp.train.scenario_counts() == std::vector<index_t>{1, 1, 1});
  CHECK_THROWS_AS(data::csv_dataset(tc).get_schema(), state_error);
}

TEST_CASE("csv_dataset: keep_encoded_ids keeps the ids, unseen ids go to bucket 0", "[data][csv_dataset]") {
  const csv_reader train("u,item,dom,y\n0,5,a,1\n3,2,b,0\n1,5,a,0\n2,0,b,1\n", {}, "train.csv");
  const csv_reader valid("u,item,dom,y\n3,6,a,1\n7,1,b,0\n", {}, "valid.csv");
  const csv_reader test("u,item,dom,y\n0,0,c,1\n2,5,b,0\n", {}, "test.csv");
  data::csv_dataset_config c;
  c.sparse = {"u", "item"};
  c.labels = {{"y"}};
  c.scenario_column = "dom";
  c.scenario_values = {"a", "b"};
  c.drop_unknown_scenarios = true;
  c.keep_encoded_ids = true;
  data::csv_dataset b(c);
  const auto s = b.load(train, valid, test);
  const auto& sc = b.get_schema();
  CHECK(sc.at("u").vocabulary == 5);     // largest training id 3, + 1 shift, + bucket 0
  CHECK(sc.at("item").vocabulary == 7);  // largest training id 5
  REQUIRE(s.train.rows() == 4);
  CHECK(s.train.sparse_column(0)[0] == 1);  // id 0 -> 1
  CHECK(s.train.sparse_column(1)[1] == 3);  // id 2 -> 3
  REQUIRE(s.validation.rows() == 2);
  CHECK(s.validation.sparse_column(0)[0] == 4);  // id 3 seen in training
  CHECK(s.validation.sparse_column(1)[0] == 0);  // item 6 > 5: the unseen bucket
  CHECK(s.validation.sparse_column(0)[1] == 0);  // user 7 > 3: the unseen bucket
  CHECK(s.test.rows() == 1);                     // scenario "c" dropped
  CHECK(s.dropped == 1);
  CHECK(b.to_json().at("keep_encoded_ids") == true);
  CHECK_THROWS_AS(b.encoder("u"), state_error);
  // a cell that is not an id is an error naming file, line and column
  const csv_reader bad("u,item,dom,y\n0,x1,a,1\n1,2,b,0\n", {}, "bad.csv");
  data::csv_dataset b2(c);
  CHECK_THROWS_WITH(b2.load(bad, valid, test), Catch::Contains("bad.csv") && Catch::Contains("not an encoded id"));
  c.errors = data::on_error::skip;
  data::csv_dataset b3(c);
  CHECK(b3.load(bad, valid, test).skipped == 1);
}
