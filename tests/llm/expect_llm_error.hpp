#pragma once
/// \file expect_llm_error.hpp
/// Test helper: runs `f`, requires that it throws `recblocks::llm::llm_error` and returns the error so
/// the test can inspect its kind and message (Catch2's REQUIRE_THROWS_AS cannot hand the object back).

#include <catch2/catch.hpp>

#include <recblocks/llm/llm_error.hpp>

#include <stdexcept>

namespace recblocks_test {

using recblocks::llm::llm_error;

template <class F>
llm_error expect_llm_error(F&& f) {
  try {
    f();
  } catch (const llm_error& e) {
    return e;
  }
  FAIL("expected llm_error");
  throw std::logic_error("unreachable");
}

}  // namespace recblocks_test
