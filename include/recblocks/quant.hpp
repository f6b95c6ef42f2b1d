#pragma once
/// \file quant.hpp
/// Umbrella header of the quantization layer: k-means codebooks, residual and product quantizers.
/// The Thrust assignment backend (`quant/thrust_assign.hpp`) needs `recblocks::thrust` and is not
/// included here.

#include "quant/kmeans.hpp"
#include "quant/product_quantizer.hpp"
#include "quant/residual_quantizer.hpp"
