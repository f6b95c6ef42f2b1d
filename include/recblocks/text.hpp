#pragma once
/// \file text.hpp
/// Umbrella header of the text layer: the BERT encoder, and (with utf8proc, target `recblocks::text`)
/// the WordPiece tokenizer and the sentence encoder.
#include "text/bert_encoder.hpp"
#if __has_include(<utf8proc.h>)
#include "text/cross_encoder.hpp"
#include "text/sentence_encoder.hpp"
#include "text/wordpiece_tokenizer.hpp"
#endif
