#pragma once
/// \file eval.hpp
/// Evaluation metrics: AUC, log loss, per-scenario report (and the Bayes-optimal report of synthetic
/// data), gAUC, NDCG/Recall/MRR@k.
#include "eval/auc.hpp"
#include "eval/bayes_report.hpp"
#include "eval/gauc.hpp"
#include "eval/log_loss.hpp"
#include "eval/ranking.hpp"
#include "eval/scenario_report.hpp"
