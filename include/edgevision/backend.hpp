// Inference backends: one small interface, implementations registered in
// src/backend/registry.cpp (ONNX Runtime, OpenCV DNN). A stage asks for a backend by name
// ("onnxruntime", "opencv") or "auto" (chosen from the model file's extension).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "edgevision/status.hpp"

namespace ev {

struct TensorInfo {
  std::string name;
  std::vector<int64_t> shape;  // -1 for a dynamic dimension
};

// Non-owning float32 input; shape is the concrete shape for this call.
struct TensorView {
  const float* data = nullptr;
  std::vector<int64_t> shape;
};

// Owning float32 output. Backends reuse the buffer across calls when the size is unchanged.
struct Tensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;
  size_t elements() const { return data.size(); }
};

struct BackendOptions {
  int threads = 0;               // 0: backend default (all cores)
  std::filesystem::path config;  // companion file: .pbtxt (TensorFlow), .cfg (Darknet), .prototxt
  bool optimize = true;          // graph optimizations (ORT_ENABLE_ALL)
  std::string device = "cpu";    // execution provider: cpu, cuda, tensorrt, openvino
};

class InferenceBackend {
 public:
  virtual ~InferenceBackend() = default;
  virtual std::string_view name() const = 0;
  virtual const std::vector<TensorInfo>& inputs() const = 0;
  virtual const std::vector<TensorInfo>& outputs() const = 0;
  // Runs one inference; `outputs` is resized to outputs().size() and filled in order.
  virtual Status run(const std::vector<TensorView>& inputs, std::vector<Tensor>& outputs) = 0;
};

using BackendFactory = std::function<Result<std::unique_ptr<InferenceBackend>>(
    const std::filesystem::path& model, const BackendOptions& options)>;

// kind: "auto", "onnxruntime", "opencv".
Result<std::unique_ptr<InferenceBackend>> create_backend(std::string_view kind,
                                                         const std::filesystem::path& model,
                                                         const BackendOptions& options = {});
// Backend chosen by "auto" for a file: .onnx -> onnxruntime, .pb/.caffemodel/.weights -> opencv.
std::string default_backend_for(const std::filesystem::path& model);
std::vector<std::string> available_backends();
// ONNX Runtime's execution providers in this build ("CPUExecutionProvider", ...).
std::vector<std::string> available_execution_providers();
// The execution provider a device name maps to: cpu, cuda, tensorrt, openvino; error otherwise.
// The ONNX Runtime backend refuses a device whose provider the runtime does not have.
Result<std::string> execution_provider_for(std::string_view device);
// ONNX Runtime version string, for diagnose/logs.
std::string onnxruntime_version();

}  // namespace ev
