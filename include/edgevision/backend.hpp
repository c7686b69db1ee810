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
  // Fully convolutional image models (YuNet) often declare a fixed NCHW input, and ONNX Runtime
  // then refuses any other size although the graph would run on it. With this set, every 4-D
  // input's H and W (and the outputs' shapes) are loaded as free dims, patched in memory; the
  // file is not changed. The caller must check that a run at another size works.
  bool free_image_size = false;
  // With optimize: exact load-time graph rewrites (ONNX Runtime; src/backend/onnx_rewrites.hpp),
  // today a space-to-depth (Focus) stem run as one strided convolution. Off only to compare.
  bool fold_stems = true;
};

class InferenceBackend {
 public:
  virtual ~InferenceBackend() = default;
  virtual std::string_view name() const = 0;
  virtual const std::vector<TensorInfo>& inputs() const = 0;
  virtual const std::vector<TensorInfo>& outputs() const = 0;
  // Runs one inference; `outputs` is resized to outputs().size() and filled in order.
  virtual Status run(const std::vector<TensorView>& inputs, std::vector<Tensor>& outputs) = 0;

  // An input buffer lent by a session whose users take turns (RuntimeOptions::
  // one_run_per_session): there are as many as its runs in flight, so cameras queueing for a
  // shared face model do not each keep an input tensor (8.85 MB at 1152x640). Borrow it before
  // preparing the input and give it back (destroy it) after run(); lend_input() waits while
  // all are lent, so a thread holds at most one lent input at a time, of any session.
  class LentInput {
   public:
    virtual ~LentInput() = default;
    virtual std::vector<float>& buffer() = 0;
  };
  // nullptr where runs are not taken in turns: use your own buffer.
  virtual std::unique_ptr<LentInput> lend_input() { return nullptr; }
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

// One inference runtime for the process (ONNX Runtime). Several cameras asking for the same
// model file with the same options get one shared Ort::Session (Run is thread-safe; each
// backend object keeps its own output buffers), so N cameras cost one copy of the weights and
// one thread pool per model instead of N. Set before models are loaded (Service::create does);
// sessions already alive keep the settings they were made with.
struct RuntimeOptions {
  bool share_sessions = true;
  // ORT's intra-op workers spin-wait between operators by default: fast for one stream on an
  // idle machine, but on a shared box they burn the cores the other stages need.
  bool allow_spinning = true;
  // > 0: no session uses more intra-op threads than this (a backend's own `threads` may ask
  // for fewer; 0 there means this value). 0: no cap.
  int max_intra_op_threads = 0;
  // Shared sessions run one inference at a time; the other users wait their turn. Each run in
  // flight holds its own activations (a 1152x640 face run: tens of MB), and on a box with
  // fewer cores than cameras parallel runs of one model only time-slice the same cores.
  bool one_run_per_session = true;
  // While one_run_per_session holds: how many runs a shared session may have in flight at once
  // (values < 1 count as 1). On a box with idle cores, a second run lets one model's users
  // (the cameras' face passes) use them instead of queueing on one intra-op thread.
  int runs_per_session = 1;
  // Shared sessions keep ONNX Runtime's CPU arena (freed buffers kept for the next run). Off:
  // activations go back to malloc after every run, so parallel runs do not each keep their
  // own tens of MB.
  bool shared_session_arena = true;
  bool operator==(const RuntimeOptions&) const = default;
};
void set_runtime_options(const RuntimeOptions& options);
RuntimeOptions runtime_options();
// ONNX Runtime sessions alive in the process (a shared one counts once).
size_t onnxruntime_session_count();
// The most inference runs one ONNX Runtime session had in flight at once since the last reset
// (over all sessions): 1 with one_run_per_session, up to the number of users without.
int onnxruntime_peak_runs_in_flight(bool reset = false);

}  // namespace ev
