// llm_chat: talk to an OpenAI-compatible server (llama.cpp's llama-server, vLLM, Ollama, a hosted API).
//
//   RECBLOCKS_LLM_URL=http://127.0.0.1:8080 ./llm_chat "Recommend three films for a fan of Alien."
//
// Environment: RECBLOCKS_LLM_URL (required to talk), RECBLOCKS_LLM_MODEL, RECBLOCKS_LLM_KEY,
// RECBLOCKS_LLM_DIALECT (openai | llamacpp | vllm; default openai). Without RECBLOCKS_LLM_URL it
// prints how to start a local server and exits 0.
//
// It streams a free-text answer, then asks for structured output (a JSON ranking validated against a
// schema, re-asked on failure), and prints the token usage.
#include <cstdlib>
#include <iostream>
#include <string>

#include <recblocks/llm.hpp>
#include <recblocks/llm/http_client.hpp>

namespace llm = recblocks::llm;

static void print_setup() {
  std::cout << "RECBLOCKS_LLM_URL is not set, so there is no server to talk to. Start one, e.g.:\n\n"
               "  llama.cpp:  llama-server -m qwen2.5-0.5b-instruct-q4_k_m.gguf --port 8080\n"
               "              export RECBLOCKS_LLM_URL=http://127.0.0.1:8080 RECBLOCKS_LLM_DIALECT=llamacpp\n\n"
               "  vLLM:       vllm serve Qwen/Qwen2.5-0.5B-Instruct --port 8000\n"
               "              export RECBLOCKS_LLM_URL=http://127.0.0.1:8000 "
               "RECBLOCKS_LLM_MODEL=Qwen/Qwen2.5-0.5B-Instruct RECBLOCKS_LLM_DIALECT=vllm\n\n"
               "  Ollama:     ollama pull qwen2.5:0.5b   (the server listens on 11434)\n"
               "              export RECBLOCKS_LLM_URL=http://localhost:11434/v1 RECBLOCKS_LLM_MODEL=qwen2.5:0.5b\n\n"
               "  hosted:     export RECBLOCKS_LLM_URL=https://api.openai.com/v1 RECBLOCKS_LLM_MODEL=gpt-4o-mini "
               "RECBLOCKS_LLM_KEY=sk-...\n\n"
               "then run: llm_chat \"Recommend three films for a fan of Alien.\"\n";
}

int main(int argc, char** argv) {
  const char* url = std::getenv("RECBLOCKS_LLM_URL");
  if (url == nullptr || *url == '\0') {
    print_setup();
    return 0;
  }
  llm::http_client_options options;  // URL, model and key come from the environment
  if (const char* d = std::getenv("RECBLOCKS_LLM_DIALECT")) {
    const std::string dialect = d;
    if (dialect == "llamacpp") options.dialect = llm::schema_dialect::llamacpp;
    else if (dialect == "vllm") options.dialect = llm::schema_dialect::vllm;
  }
  options.retry.max_attempts = 3;
  try {
    llm::http_client client(options);
    const std::string question = argc > 1 ? argv[1] : "Recommend three films for a fan of Alien, one line each.";

    llm::chat_request chat;
    chat.messages = {llm::message::system("You are a concise film recommender."), llm::message::user(question)};
    chat.options.temperature = 0.2;
    chat.options.max_tokens = 200;
    std::cout << "> " << question << "\n";
    const auto answer = client.chat_stream(chat, [](std::string_view delta) { std::cout << delta << std::flush; });
    std::cout << "\n[finish: " << answer.finish_reason << "]\n\n";

    const llm::prompt_template rank("Order these films for a fan of {{liked}}, best first:\n{{films:list}}");
    llm::chat_request ranking;
    ranking.messages = {llm::message::user(rank.render(
        {{"liked", "Alien"}, {"films", {"Paddington 2", "The Thing", "Event Horizon", "Mamma Mia!"}}}))};
    ranking.options.temperature = 0.0;
    ranking.options.seed = 42;
    const nlohmann::json schema = nlohmann::json::parse(R"({
      "type": "object",
      "properties": {"ranking": {"type": "array", "items": {"type": "string"}, "minItems": 4, "maxItems": 4},
                     "reason": {"type": "string"}},
      "required": ["ranking", "reason"]})");
    llm::structured_client structured(client, {.max_attempts = 3});
    const auto value = structured.ask_json(ranking, schema);
    std::cout << "structured answer: " << value.dump(2) << "\n\n";

    const auto t = client.totals();
    std::cout << "usage: " << t.requests << " calls, " << t.attempts << " HTTP requests (" << t.retries << " retries), " << t.tokens.prompt_tokens
              << " prompt + " << t.tokens.completion_tokens << " completion tokens\n";
  } catch (const llm::llm_error& e) {
    std::cerr << "LLM call failed: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
