#pragma once
/// \file synthetic.hpp
/// Synthetic training data: SyNeg's synthetic hard negatives (the `negative_policy` concept, the LLM
/// policy over any `llm::llm_client`, the classical perturbation policy).
#include "synthetic/negative_policy.hpp"
#include "synthetic/llm_negative_policy.hpp"
#include "synthetic/perturbation_policy.hpp"
