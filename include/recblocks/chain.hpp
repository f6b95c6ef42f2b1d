#pragma once
/// \file chain.hpp
/// Umbrella header of the chain layer: UniLLMRec's chain of recommendation over the dynamic item tree
/// (profile, tree walk, leaf recall, rank, rerank) with LLM steps in one multi-turn session
/// (`llm_chain_steps.hpp`, header-only `llm/`; no curl), classical steps, and node labelling.

#include "chain/chain_session.hpp"
#include "chain/chain_step.hpp"
#include "chain/classical_chain_steps.hpp"
#include "chain/llm_chain_steps.hpp"
#include "chain/node_labeler.hpp"
#include "chain/unillmrec_chain.hpp"
