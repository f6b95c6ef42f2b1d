#pragma once
/// \file llm.hpp
/// Umbrella header of the LLM layer (`docs/llm.md`): the `llm_client` concept and every layer that
/// needs no network. The OpenAI-compatible HTTP client is included only when the target
/// `recblocks::llm_http` is linked (it defines RECBLOCKS_HAVE_CURL); include
/// `recblocks/llm/http_client.hpp` directly otherwise.

#include "llm/any_client.hpp"
#include "llm/caching_client.hpp"
#include "llm/chat_request.hpp"
#include "llm/chat_response.hpp"
#include "llm/client.hpp"
#include "llm/json_extract.hpp"
#include "llm/json_schema.hpp"
#include "llm/llm_error.hpp"
#include "llm/message.hpp"
#include "llm/openai_protocol.hpp"
#include "llm/prompt_template.hpp"
#include "llm/rate_limiter.hpp"
#include "llm/recorded_client.hpp"
#include "llm/recording_client.hpp"
#include "llm/replay_client.hpp"
#include "llm/request_hash.hpp"
#include "llm/response_cache.hpp"
#include "llm/retry_policy.hpp"
#include "llm/knowledge_prompts.hpp"
#include "llm/retrying_client.hpp"
#include "llm/scripted_client.hpp"
#include "llm/structured_client.hpp"
#include "llm/throttled_client.hpp"

#if defined(RECBLOCKS_HAVE_CURL)
#include "llm/http_client.hpp"
#endif
