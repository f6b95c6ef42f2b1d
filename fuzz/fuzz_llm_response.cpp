// libFuzzer target: the LLM response parsers on arbitrary bytes (what a hostile or broken server
// can send). The first input byte picks the parser; the rest is the body:
//   0: openai_protocol::parse_chat            1: sse_parser + parse_stream_chunk (split at byte k)
//   2: parse_embeddings (expected 1..4)       3: parse_retry_after (value | value_ms)
//   4: error_message + printable + first_invalid_utf8
//   5: extract_json + json_schema validation of the value against a fixed ranking schema
//   6: chat_response from_json (a recorded answer) and structured_client over a scripted answer
// Only recblocks::llm::llm_error (and recblocks::error from the schema layer) may escape; anything
// else (a crash, a sanitizer report such as a double-to-integer overflow, another exception type)
// is a finding. Every error message must be valid UTF-8 (bodies are shown through `printable`).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <recblocks/llm.hpp>

namespace {
void check_message(const std::exception& e) {
  if (recblocks::llm::first_invalid_utf8(e.what()) != std::string_view::npos) std::abort();
}
const nlohmann::json& ranking_schema() {
  static const nlohmann::json s = nlohmann::json::parse(R"({"type":"object",
    "properties":{"ranking":{"type":"array","items":{"type":"string","enum":["a","b","c"]},"minItems":3,"maxItems":3},
                  "score":{"type":"number","minimum":0,"maximum":1}},
    "required":["ranking"],"additionalProperties":false})");
  return s;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  namespace llm = recblocks::llm;
  using llm::openai_protocol;
  if (size == 0) return 0;
  const std::uint8_t mode = bytes[0];
  const std::string_view body(reinterpret_cast<const char*>(bytes + 1), size - 1);
  try {
    volatile std::size_t sink = 0;
    switch (mode % 7) {
      case 0: {
        const auto r = openai_protocol::parse_chat(body);
        sink = sink + r.text.size() + r.logprobs.size() + static_cast<std::size_t>(r.usage.total_tokens != 0);
        break;
      }
      case 1: {
        openai_protocol::sse_parser p;
        const std::size_t k = body.empty() ? 0 : (mode >> 3) % body.size();
        auto on_data = [&](std::string_view data) {
          try {
            const auto c = openai_protocol::parse_stream_chunk(data);
            sink = sink + c.delta.size() + c.finish_reason.size();
          } catch (const llm::llm_error& e) {
            check_message(e);
          }
        };
        p.feed(body.substr(0, k), on_data);
        p.feed(body.substr(k), on_data);
        p.feed("\n\n", on_data);
        sink = sink + static_cast<std::size_t>(p.done());
        break;
      }
      case 2: {
        const auto v = openai_protocol::parse_embeddings(body, 1 + (mode >> 3) % 4);
        sink = sink + v.size();
        break;
      }
      case 3: {
        const auto bar = body.find('|');
        const auto a = body.substr(0, bar);
        const auto b = bar == std::string_view::npos ? std::string_view{} : body.substr(bar + 1);
        const long ms = openai_protocol::parse_retry_after(a, b);
        if (ms < -1 || ms > openai_protocol::max_retry_after_ms) std::abort();
        llm::retry_policy p;
        const llm::llm_error e(llm::llm_error_kind::http_status, "429", 429, 1, std::string(body), ms);
        sink = sink + static_cast<std::size_t>(p.should_retry(e, 1)) +
               static_cast<std::size_t>(p.delay(1, ms).count() >= 0);
        break;
      }
      case 4: {
        const auto m = openai_protocol::error_message(body);
        if (llm::first_invalid_utf8(m) != std::string_view::npos) std::abort();
        const auto pr = llm::printable(body, (mode >> 3) + 1);
        if (llm::first_invalid_utf8(pr) != std::string_view::npos) std::abort();
        const llm::llm_error e(llm::llm_error_kind::bad_response, "x", 0, 1, std::string(body));
        check_message(e);
        sink = sink + m.size() + pr.size();
        break;
      }
      case 5: {
        if (auto j = llm::extract_json(body)) {
          const llm::json_schema schema(ranking_schema());
          sink = sink + schema.validate(*j).size();
        }
        break;
      }
      case 6: {
        auto j = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
        if (!j.is_discarded()) {
          try {
            const auto r = j.get<llm::chat_response>();
            sink = sink + r.text.size();
          } catch (const nlohmann::json::exception&) {  // a malformed record: the cache counts it corrupt
          }
        }
        llm::scripted_client s;
        s.then_answer(std::string(body)).then_answer(std::string(body));
        llm::structured_client sc(s, {.max_attempts = 2});
        llm::chat_request r;
        r.messages.push_back(llm::message::user("rank a, b, c"));
        try {
          sink = sink + sc.ask_json(r, ranking_schema()).size();
        } catch (const llm::llm_error& e) {
          check_message(e);
          for (const auto& req : s.requests()) {
            std::size_t bytes = 0;
            for (const auto& m : req.messages) bytes += m.content.size();
            if (bytes > 4000) std::abort();  // a re-ask never quotes a huge answer
          }
        }
        break;
      }
    }
  } catch (const llm::llm_error& e) {
    check_message(e);
  } catch (const recblocks::error&) {
  }
  return 0;
}
