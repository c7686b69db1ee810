// The optimization toolkit: bench, analyze, quantize (INT8 QDQ, FP16).
#pragma once

#include "edgevision/analyze.hpp"
#include "edgevision/benchmark.hpp"
#include "edgevision/quantize.hpp"
