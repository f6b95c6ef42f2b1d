#pragma once
/// \file any_client.hpp
/// `any_client`: a type-erased `llm_client` for code that picks its model at run time (a config
/// file, a command-line flag) or must not be a template. It holds any `llm_client` by value (or a
/// reference through `std::ref`) behind a `std::function`.
///
/// Thread safety: `chat` is as thread-safe as the wrapped client; the wrapper adds no state.

#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

#include "client.hpp"

namespace recblocks::llm {

namespace detail {
template <class T>
inline constexpr bool is_client_ref = false;
template <class T>
inline constexpr bool is_client_ref<std::reference_wrapper<T>> = llm_client<T>;
}  // namespace detail

/// A type-erased `llm_client`. Copying shares the wrapped client.
class any_client {
 public:
  any_client() = default;

  /// Wraps `c`: moved in and shared by copies, or referenced when passed as `std::ref(c)`.
  template <class C>
    requires(!std::same_as<std::remove_cvref_t<C>, any_client> && (llm_client<std::remove_cvref_t<C>> || detail::is_client_ref<std::remove_cvref_t<C>>))
  any_client(C&& c);  // NOLINT(google-explicit-constructor): conversion is the point

  /// Forwards to the wrapped client; throws `llm_error(config)` when empty.
  chat_response chat(const chat_request& r) const;

  explicit operator bool() const noexcept { return static_cast<bool>(fn_); }

 private:
  std::function<chat_response(const chat_request&)> fn_;
};

// ---- implementation ----------------------------------------------------------------------------

template <class C>
  requires(!std::same_as<std::remove_cvref_t<C>, any_client> && (llm_client<std::remove_cvref_t<C>> || detail::is_client_ref<std::remove_cvref_t<C>>))
any_client::any_client(C&& c) {
  using D = std::remove_cvref_t<C>;
  if constexpr (detail::is_client_ref<D>) {
    auto* p = &c.get();
    fn_ = [p](const chat_request& r) { return chat_response(p->chat(r)); };
  } else {
    auto p = std::make_shared<D>(std::forward<C>(c));
    fn_ = [p](const chat_request& r) { return chat_response(p->chat(r)); };
  }
}

inline chat_response any_client::chat(const chat_request& r) const {
  if (!fn_) throw llm_error(llm_error_kind::config, "any_client: no client wrapped", 0, 0);
  return fn_(r);
}

}  // namespace recblocks::llm
