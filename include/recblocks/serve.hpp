#pragma once
/// \file serve.hpp
/// Serving: a model behind one virtual call (`scoring_model`), request rows decoded and checked
/// against the schema (`row_decoder`), the micro-batching, hot-reloading server (`model_server`) and
/// its counters (`server_stats`). No network code (see examples/serve.cpp for an HTTP service).
#include "serve/model_server.hpp"
#include "serve/row_decoder.hpp"
#include "serve/scoring_model.hpp"
#include "serve/server_stats.hpp"
