#pragma once
/// \file error.hpp
/// The exception hierarchy of recblocks. Every error raised at a boundary (bad input, a wrong
/// shape, a malformed file, a failing LLM server) is a `recblocks::error` whose message names the
/// block, the field and the offending value.
///
///     error                      std::runtime_error
///     ├── shape_error            a tensor shape does not fit the op or block
///     ├── value_error            an argument or datum out of its domain (NaN, id out of range, ...)
///     ├── io_error               a file that cannot be read, is truncated or tampered with
///     ├── parse_error            malformed text (CSV, JSON) with file / line / column
///     ├── state_error            an object used in the wrong state (backward twice, no recording)
///     └── llm_error              (llm/) a remote model failed; carries status, attempts, raw body

#include <stdexcept>
#include <string>

namespace recblocks {

/// Base of every exception recblocks throws.
class error : public std::runtime_error {
 public:
  explicit error(const std::string& what) : std::runtime_error(what) {}
};

/// A tensor shape does not fit: the message names the op and both shapes.
class shape_error : public error {
 public:
  using error::error;
};

/// An argument or datum outside its domain (NaN, an id beyond a table, a label not in {0,1}, ...).
class value_error : public error {
 public:
  using error::error;
};

/// A file could not be read or written, or its contents are truncated or inconsistent.
class io_error : public error {
 public:
  using error::error;
};

/// Malformed text input; the message names file, line and column where known.
class parse_error : public error {
 public:
  using error::error;
};

/// An object used in a state that does not allow the call (e.g. backward on a consumed tape).
class state_error : public error {
 public:
  using error::error;
};

}  // namespace recblocks
