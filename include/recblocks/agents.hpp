#pragma once
/// \file agents.hpp
/// Umbrella header of the agents layer (`docs/agents.md`): tools, the toolbox, long-term memory,
/// reflection, the agent loop and the simulated user. `catalogue_search.hpp` needs hnswlib and is
/// included only when its headers are found.

#include "agents/tool.hpp"
#include "agents/toolbox.hpp"
#include "agents/memory_store.hpp"
#include "agents/reflector.hpp"
#include "agents/constraint_critic.hpp"
#include "agents/llm_critic.hpp"
#include "agents/agent.hpp"
#include "agents/simulated_user.hpp"
#include "agents/llm_simulated_user.hpp"
#include "agents/shipped_tools.hpp"
#if __has_include(<hnswlib/hnswlib.h>)
#include "agents/catalogue_search.hpp"
#endif
