// MovieLens-100K files with bad values (issue 25, items 12 and 13): errors name the file and line the
// user must fix, never the internal joined table; ratings outside 1..5 and duplicate ids are refused.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <recblocks/data/movielens.hpp>

using namespace recblocks;
namespace fs = std::filesystem;

namespace {

struct ml_dir {
  fs::path path;
  ml_dir(const std::string& users, const std::string& data) {
    path = fs::temp_directory_path() / ("recblocks_test_ml_" + std::to_string(::getpid()) + "_" +
                                        std::to_string(reinterpret_cast<std::uintptr_t>(this)));
    fs::create_directories(path);
    std::string items;
    for (int i = 1; i <= 3; ++i) {
      items += std::to_string(i) + "|Movie " + std::to_string(i) + " (1995)|01-Jan-1995||http://x";
      for (int g = 0; g < 19; ++g) items += g == i ? "|1" : "|0";
      items += "\n";
    }
    write("u.user", users);
    write("u.item", items);
    write("u.data", data);
  }
  ~ml_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  void write(const char* name, const std::string& text) const { std::ofstream(path / name, std::ios::binary) << text; }
};

const std::string good_users = "1|24|M|technician|85711\n2|53|F|other|94043\n3|23|M|writer|32067\n";
const std::string good_data = "1\t1\t5\t874965758\n2\t2\t3\t876893171\n3\t3\t4\t878542960\n1\t2\t1\t876893119\n";

void refused(const ml_dir& d, const std::string& needle) {
  INFO(needle);
  try {
    (void)data::movielens(d.path.string());
    FAIL("loaded");
  } catch (const parse_error& e) {
    CHECK_THAT(e.what(), Catch::Contains(needle));
    CHECK_THAT(e.what(), !Catch::Contains("joined"));
  }
}

}  // namespace

TEST_CASE("movielens: bad u.user and u.data values are reported against their file and line", "[data][movielens][hostile]") {
  CHECK(data::movielens(ml_dir(good_users, good_data).path.string()).table().rows() == 4);
  refused(ml_dir("1|24|M|technician|85711\n2|fifty|F|other|94043\n3|23|M|writer|32067\n", good_data), "u.user:2:");
  refused(ml_dir("1|24|M|technician|85711\n2|53|F|other|94043\n2|23|M|writer|32067\n", good_data), "user id 2 is listed twice (first on line 2)");
  refused(ml_dir("1|24|M|technician|85711\n2|53|F|other,x|94043\n3|23|M|writer|32067\n", good_data), "u.user:2:");
  refused(ml_dir(good_users, "1\t1\t5\t874965758\n2\t2\t7\t876893171\n"), "rating 7 is outside 1..5");
  refused(ml_dir(good_users, "1\t1\t0\t874965758\n"), "u.data:1:");
}
