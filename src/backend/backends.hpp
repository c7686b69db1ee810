// Factories of the built-in backends; registered in registry.cpp.
#pragma once

#include "edgevision/backend.hpp"

namespace ev {
Result<std::unique_ptr<InferenceBackend>> create_onnxruntime_backend(
    const std::filesystem::path& model, const BackendOptions& options);
Result<std::unique_ptr<InferenceBackend>> create_opencv_backend(const std::filesystem::path& model,
                                                                const BackendOptions& options);
}  // namespace ev
