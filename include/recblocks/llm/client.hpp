#pragma once
/// \file client.hpp
/// The `llm_client` concept and its refinements, with generic fallbacks.
///
/// 1. `llm_client<C>`: `c.chat(const chat_request&)` returns something convertible to `chat_response`.
///    That single call is all a user implements; every other layer (batching, structured output,
///    caching, recording, replay, retries, rate limits) is a template over this concept.
/// 2. `batch_llm_client<C>`: also `c.chat_batch(std::span<const chat_request>)` returning
///    `std::vector<chat_response>` in request order (e.g. concurrent HTTP calls).
/// 3. `streaming_llm_client<C>`: also `c.chat_stream(const chat_request&, const stream_callback&)`,
///    calling the callback with each text delta as it arrives and returning the whole response.
/// 4. `embedding_client<C>`: `c.embed(std::span<const std::string>)` returning one
///    `std::vector<float>` per input, in order.
/// 5. `logprob_llm_client<C>`: an `llm_client` whose `supports_logprobs()` returns true when the
///    server fills `chat_response::logprobs` for requests with `options.logprobs` set.
///
/// Generic entry points dispatch to the member when present and fall back otherwise:
/// `llm::chat_batch(c, reqs)` loops over `chat` when there is no `chat_batch` member;
/// `llm::chat_stream(c, r, cb)` calls `chat` and passes the whole text to `cb` once;
/// `llm::chat_logprobs(c, r, top)` sets `options.logprobs` (and at least one top alternative) and throws `llm_error(bad_response)` when
/// the answer carries none. Errors: whatever the client throws (by convention `llm_error`).
///
/// Thread safety: the concepts say nothing; each client documents its own.
/// @see any_client (type erasure), scripted_client (tests), http_client (OpenAI-compatible servers)

#include <concepts>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "chat_request.hpp"
#include "chat_response.hpp"
#include "llm_error.hpp"

namespace recblocks::llm {

/// Receives each streamed text delta, in order.
using stream_callback = std::function<void(std::string_view delta)>;

template <class C>
concept llm_client = requires(C& c, const chat_request& r) {
  { c.chat(r) } -> std::convertible_to<chat_response>;
};

template <class C>
concept batch_llm_client = llm_client<C> && requires(C& c, std::span<const chat_request> rs) {
  { c.chat_batch(rs) } -> std::convertible_to<std::vector<chat_response>>;
};

template <class C>
concept streaming_llm_client = llm_client<C> && requires(C& c, const chat_request& r, const stream_callback& cb) {
  { c.chat_stream(r, cb) } -> std::convertible_to<chat_response>;
};

template <class C>
concept embedding_client = requires(C& c, std::span<const std::string> texts) {
  { c.embed(texts) } -> std::convertible_to<std::vector<std::vector<float>>>;
};

template <class C>
concept logprob_llm_client = llm_client<C> && requires(const C& c) {
  { c.supports_logprobs() } -> std::convertible_to<bool>;
};

/// Answers every request, in order: `c.chat_batch` when the client has it, else a loop over `c.chat`.
template <llm_client C>
std::vector<chat_response> chat_batch(C& c, std::span<const chat_request> requests);

/// Streams the answer to `cb`: `c.chat_stream` when the client has it, else one call of `cb` with
/// the whole text after `c.chat` returns.
template <llm_client C>
chat_response chat_stream(C& c, const chat_request& r, const stream_callback& cb);

/// Asks with `options.logprobs = true` and `top_logprobs = max(top, 1)` (some servers, llama.cpp's
/// among them, answer `top_logprobs: 0` or a missing `top_logprobs` with no logprobs at all); throws
/// `llm_error(bad_response)` when the answer has no logprobs (the server does not serve them).
template <llm_client C>
chat_response chat_logprobs(C& c, chat_request r, int top = 1);

/// One-shot convenience: a single user message in, the answer text out.
template <llm_client C>
std::string ask(C& c, std::string prompt, chat_options options = {});

// ---- implementation ----------------------------------------------------------------------------

template <llm_client C>
std::vector<chat_response> chat_batch(C& c, std::span<const chat_request> requests) {
  if constexpr (batch_llm_client<C>) {
    return c.chat_batch(requests);
  } else {
    std::vector<chat_response> out;
    out.reserve(requests.size());
    for (const auto& r : requests) out.push_back(c.chat(r));
    return out;
  }
}

template <llm_client C>
chat_response chat_stream(C& c, const chat_request& r, const stream_callback& cb) {
  if constexpr (streaming_llm_client<C>) {
    return c.chat_stream(r, cb);
  } else {
    chat_response resp = c.chat(r);
    if (cb && !resp.text.empty()) cb(resp.text);
    return resp;
  }
}

template <llm_client C>
chat_response chat_logprobs(C& c, chat_request r, int top) {
  if constexpr (logprob_llm_client<C>) {
    if (!c.supports_logprobs())
      throw llm_error(llm_error_kind::config, "chat_logprobs: this client does not serve logprobs", 0, 0);
  }
  r.options.logprobs = true;
  r.options.top_logprobs = top > 1 ? top : 1;
  chat_response resp = c.chat(r);
  if (resp.logprobs.empty() && !resp.text.empty())
    throw llm_error(llm_error_kind::bad_response, "chat_logprobs: the answer carries no logprobs", 0, 1, resp.text);
  return resp;
}

template <llm_client C>
std::string ask(C& c, std::string prompt, chat_options options) {
  chat_request r;
  r.messages.push_back(message::user(std::move(prompt)));
  r.options = std::move(options);
  return chat_response(c.chat(r)).text;
}

}  // namespace recblocks::llm
