#pragma once
/// \file fixed_path_policy.hpp
/// A node policy that walks a fixed path (LLM4Rerank's "GoT" baseline: accuracy -> diversity ->
/// fairness -> stop): the wrapped policy reranks at each node, and its choice of the next node is
/// replaced by the path's next entry.
///
///     decide(ctx) = { inner.decide(ctx).order, path[ctx.step + 1] }
///
/// Requires: a non-empty path starting at the graph's start node and ending with "stop", with no
/// "stop" or "backward" before the end (checked at construction and against the graph's options
/// at each step). The walk stops after `path.size() - 1` nodes, so set the graph's `max_count` at
/// least that high.
/// Errors: `value_error` naming the path entry. Thread-safety: as the wrapped policy.

#include <string>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "aspect_graph.hpp"

namespace recblocks::rerank {

/// Fixed next-node path around any node policy; see the file comment.
template <node_policy Inner>
class fixed_path_policy {
 public:
  fixed_path_policy(Inner inner, std::vector<std::string> path) : inner_(std::forward<Inner>(inner)), path_(std::move(path)) {
    if (path_.size() < 2 || path_.back() != aspect_graph::stop)
      throw value_error("rerank::fixed_path_policy: path must hold at least one node and end with \"stop\"");
    for (std::size_t i = 0; i + 1 < path_.size(); ++i)
      if (path_[i] == aspect_graph::stop || path_[i] == aspect_graph::backward)
        throw value_error("rerank::fixed_path_policy: path[" + std::to_string(i) + "] = \"" + path_[i] +
                          "\" (only aspects before the final stop)");
  }

  node_decision decide(const node_context& ctx) {
    const auto s = static_cast<std::size_t>(ctx.step);
    if (s + 1 >= path_.size() || path_[s] != ctx.node)
      throw value_error("rerank::fixed_path_policy: step " + std::to_string(ctx.step) + " is at node \"" + ctx.node +
                        "\", which is not path[" + std::to_string(ctx.step) + "]");
    node_decision d = inner_.decide(ctx);
    d.next = path_[s + 1];
    return d;
  }

  Inner& inner() { return inner_; }
  const std::vector<std::string>& path() const { return path_; }

 private:
  Inner inner_;
  std::vector<std::string> path_;
};

}  // namespace recblocks::rerank
