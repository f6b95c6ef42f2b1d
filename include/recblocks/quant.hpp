#pragma once
/// \file quant.hpp
/// Umbrella header of the quantization layer: k-means codebooks, residual and product quantizers.
/// The Thrust assignment backend (`quant/thrust_assign.hpp`) needs `recblocks::thrust` and is
/// included only when that target is linked (it defines `THRUST_DEVICE_SYSTEM`).

#include "quant/kmeans.hpp"
#include "quant/nearest_centroid.hpp"
#include "quant/product_quantizer.hpp"
#include "quant/residual_quantizer.hpp"
#if defined(THRUST_DEVICE_SYSTEM)
#include "quant/thrust_assign.hpp"
#endif
// issue 18 (UserIP-Tuning)
#include "quant/feature_bank.hpp"
#include "quant/vector_quantizer.hpp"
