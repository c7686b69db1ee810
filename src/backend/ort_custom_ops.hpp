// edgevision's own ONNX Runtime operators (domain "ai.edgevision"), registered on every session
// the product creates so a model written by `quantize` loads wherever edgevision runs it.
#pragma once

#include <onnxruntime_cxx_api.h>

namespace ev {

inline constexpr const char* kEdgevisionOpDomain = "ai.edgevision";

// QLinearSiLU: uint8 -> uint8 SiLU (x * sigmoid(x)) as one 256-entry table lookup. ORT 1.29 has
// no int8 SiLU: it runs QLinearSigmoid + QLinearMul (two requantizing passes) or a float
// QuickGelu between DequantizeLinear and QuantizeLinear. Attributes x_scale, x_zero_point,
// y_scale, y_zero_point; element-wise, so it runs in whatever layout its input has.
void add_edgevision_ops(Ort::SessionOptions& options);

}  // namespace ev
