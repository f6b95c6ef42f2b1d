#pragma once
/// \file assert.hpp
/// Internal invariants. `RECBLOCKS_ASSERT(cond, msg)` checks only when `NDEBUG` is not defined or
/// `RECBLOCKS_ENABLE_ASSERTS` is; a failure calls the handler, which by default throws
/// `recblocks::state_error` ("internal invariant"). Users may define `RECBLOCKS_ASSERT_HANDLER`
/// (a function-like macro taking `(expr_string, message, file, line)`) before including recblocks.
/// Boundary checks on user input never use this macro: they always throw.

#include <string>

#include "error.hpp"

namespace recblocks::detail {

[[noreturn]] inline void assert_fail(const char* expr, const std::string& msg, const char* file, int line) {
  throw state_error(std::string("recblocks internal invariant failed: ") + expr + " (" + msg + ") at " + file +
                    ":" + std::to_string(line));
}

}  // namespace recblocks::detail

#ifndef RECBLOCKS_ASSERT_HANDLER
#define RECBLOCKS_ASSERT_HANDLER(expr, msg, file, line) ::recblocks::detail::assert_fail(expr, msg, file, line)
#endif

#if !defined(NDEBUG) || defined(RECBLOCKS_ENABLE_ASSERTS)
#define RECBLOCKS_ASSERT(cond, msg)                                 \
  do {                                                              \
    if (!(cond)) RECBLOCKS_ASSERT_HANDLER(#cond, msg, __FILE__, __LINE__); \
  } while (0)
#else
#define RECBLOCKS_ASSERT(cond, msg) \
  do {                              \
  } while (0)
#endif
