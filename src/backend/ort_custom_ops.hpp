// edgevision's own ONNX Runtime operators (domain "ai.edgevision"), registered on every session
// the product creates so a model written by `quantize` loads wherever edgevision runs it.
#pragma once

#include <cstddef>
#include <cstdint>

#include <onnxruntime_cxx_api.h>

namespace ev {

inline constexpr const char* kEdgevisionOpDomain = "ai.edgevision";

// QLinearSiLU: uint8 -> uint8 SiLU (x * sigmoid(x)) as one 256-entry table lookup. ORT 1.29 has
// no int8 SiLU: it runs QLinearSigmoid + QLinearMul (two requantizing passes) or a float
// QuickGelu between DequantizeLinear and QuantizeLinear. Attributes x_scale, x_zero_point,
// y_scale, y_zero_point; element-wise, so it runs in whatever layout its input has.
void add_edgevision_ops(Ort::SessionOptions& options);

// The lookup behind QLinearSiLU, y[i] = table[x[i]]: AVX-512 VBMI where the CPU has it, else
// scalar; the scalar one on its own, so tests compare both on any machine.
void table_lookup(const uint8_t* table, const uint8_t* x, uint8_t* y, size_t n);
void table_lookup_scalar(const uint8_t* table, const uint8_t* x, uint8_t* y, size_t n);

}  // namespace ev
