// llm_chat: a small prompt set (a few-shot recommendation and a schema-constrained ranking) asked of
// a real model, with the answers shipped as recorded data.
//
//   ./llm_chat                 replay the recorded answers (examples/data/llm_chat.records.jsonl.gz),
//                              offline: no server, same output every time
//   ./llm_chat --live          ask the server in RECBLOCKS_LLM_URL (e.g. tools/llm_server.sh start;
//                              eval "$(tools/llm_server.sh env)") and re-record the file
//   ./llm_chat --records F     another record file; --allow-other-model replays one recorded with
//                              another model than RECBLOCKS_LLM_MODEL (default: the recorded model)
//
// The answers were recorded from Gemma 3 270M (base, Q4_K_M) on llama.cpp's llama-server. A base
// model that small repeats a free-form prompt, so the prompts are few-shot with a stop string, and
// the ranking uses constrained decoding (a tight JSON schema: enums, a fixed-length array) with
// max_tokens set: that is how a base model becomes usable (docs/llm.md has the measurements).
// Environment for --live: RECBLOCKS_LLM_URL, RECBLOCKS_LLM_MODEL, RECBLOCKS_LLM_MODEL_SHA256,
// RECBLOCKS_LLM_SERVER_VERSION, RECBLOCKS_LLM_DIALECT (all printed by tools/llm_server.sh env).
// Exit status: 0 done, 1 an LLM error (a replay miss names the request), 2 bad usage.
#include <chrono>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <optional>
#include <string>

#include <recblocks/llm.hpp>
#include <recblocks/llm/http_client.hpp>

namespace llm = recblocks::llm;

#ifndef RECBLOCKS_LLM_CHAT_RECORDS
#define RECBLOCKS_LLM_CHAT_RECORDS "examples/data/llm_chat.records.jsonl.gz"
#endif

#include <vector>

// Bump when a prompt below changes: old records are then refused instead of silently missing.
static constexpr const char* prompt_version = "llm_chat/1";

// Few-shot as chat turns: the answers of the examples are the assistant's earlier turns.
static llm::chat_request few_shot(const std::string& liked) {
  llm::chat_request r;
  r.messages = {llm::message::user("Fan of: The Godfather. Recommend one film."), llm::message::assistant("Goodfellas"),
                llm::message::user("Fan of: Toy Story. Recommend one film."), llm::message::assistant("Finding Nemo"),
                llm::message::user("Fan of: " + liked + ". Recommend one film.")};
  r.options.temperature = 0.0;
  r.options.seed = 42;
  r.options.max_tokens = 12;
  r.options.stop = {"\n"};
  return r;
}

int main(int argc, char** argv) {
  bool live = false, allow_other_model = false;
  std::string records = RECBLOCKS_LLM_CHAT_RECORDS;
  auto usage = [](const std::string& why) {
    std::cerr << "llm_chat: " << why << "\nusage: llm_chat [--live] [--records FILE] [--allow-other-model]\n";
    std::exit(2);
  };
  for (int i = 1; i < argc; ++i) {  // the LLM layer alone: no dependency on the training examples' parser
    const std::string a = argv[i];
    if (a == "--live") live = true;
    else if (a == "--allow-other-model") allow_other_model = true;
    else if (a == "--records" && i + 1 < argc) records = argv[++i];
    else usage(a == "--help" || a == "-h" ? "help" : "unknown or incomplete option " + a);
  }

  llm::record_meta meta = llm::record_meta::from_env(prompt_version);
  if (!live && meta.model.empty()) meta.model = "gemma-3-270m-q4_k_m";  // what the shipped file holds
  llm::recorded_options options;
  options.allow_other_model = allow_other_model;
  try {
    std::optional<llm::http_client> http;
    llm::any_client upstream;
    if (live) {
      if (!std::getenv("RECBLOCKS_LLM_URL"))
        usage("--live needs RECBLOCKS_LLM_URL (tools/llm_server.sh start; eval \"$(tools/llm_server.sh env)\")");
      llm::http_client_options o;  // URL, model, key and dialect from the environment
      o.retry.max_attempts = 3;
      o.total_timeout = std::chrono::seconds(120);
      http.emplace(o);
      upstream = llm::any_client(std::ref(*http));
      options.mode = llm::record_mode::live;
    }
    llm::recorded_client model(records, meta, options, upstream);
    std::cout << (live ? "asking " + std::string(std::getenv("RECBLOCKS_LLM_URL")) + ", recording to "
                       : "replaying ")
              << records << "\n  model " << model.meta().model << ", prompt version " << model.meta().prompt_version;
    if (!live) std::cout << ", recorded " << model.meta().recorded_at << " on " << model.meta().server;
    std::cout << "\n\n";

    llm::usage used;
    std::cout << "free text, few-shot (a 270M base model: expect weak answers):\n";
    for (const char* liked : {"Alien", "Paddington", "Mamma Mia!"}) {
      const auto answer = model.chat(few_shot(liked));
      used += answer.usage;
      std::string text = answer.text;
      while (!text.empty() && (text.front() == ' ')) text.erase(text.begin());
      std::cout << "fan of " << liked << " -> \"" << text << "\"   [" << answer.finish_reason << ", "
                << answer.usage.completion_tokens << " tokens]\n";
    }

    const llm::prompt_template rank(
        "A viewer loved {{liked}}. Of these films: {{films:list}}\nwhich should they watch first, and is it scary? "
        "Answer in JSON.");
    const std::vector<std::string> films{"Paddington 2", "The Thing", "Event Horizon", "Mamma Mia!"};
    const nlohmann::json schema = {
        {"type", "object"},
        {"properties", {{"film", {{"type", "string"}, {"enum", films}}}, {"scary", {{"type", "boolean"}}}}},
        {"required", {"film", "scary"}},
        {"additionalProperties", false}};
    llm::structured_client structured(model, {.max_attempts = 2});
    std::cout << "\nconstrained decoding (a JSON schema with an enum):\n";
    for (const char* liked : {"Alien", "Paddington"}) {
      llm::chat_request pick;
      pick.messages = {llm::message::user(rank.render({{"liked", liked}, {"films", films}}))};
      pick.options.temperature = 0.0;
      pick.options.seed = 42;
      pick.options.max_tokens = 40;
      std::cout << "fan of " << liked << " -> " << structured.ask_json(pick, schema).dump() << "\n";
    }

    if (live) {
      model.save();
      std::cout << "\nrecorded " << model.size() << " answers to " << records << "\n";
    }
    if (http) {
      const auto t = http->totals();
      std::cout << "usage: " << t.requests << " calls, " << t.attempts << " HTTP requests (" << t.retries
                << " retries), " << t.tokens.prompt_tokens << " prompt + " << t.tokens.completion_tokens
                << " completion tokens\n";
    } else {
      std::cout << "recorded usage of the few-shot answers: " << used.prompt_tokens << " prompt + "
                << used.completion_tokens << " completion tokens\n";
    }
  } catch (const llm::llm_error& e) {
    std::cerr << "llm_chat: " << e.what() << "\n";
    return 1;
  } catch (const recblocks::error& e) {
    std::cerr << "llm_chat: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
