// ONNX Runtime backend (C++ API). One Ort::Env per process; one session per model file and
// options, shared by every backend that asks for it (see RuntimeOptions in backend.hpp).
#include "backend/backends.hpp"
#include "backend/onnx_rewrites.hpp"
#include "backend/ort_custom_ops.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <tuple>

#include <onnx/onnx_pb.h>
#include <onnxruntime_cxx_api.h>
#include <spdlog/spdlog.h>

namespace ev {
namespace {

Ort::Env& ort_env() {
  // ERROR: ORT warns about harmless graph clean-ups (unused initializers) on several stock models.
  static Ort::Env env(ORT_LOGGING_LEVEL_ERROR, "edgevision");
  return env;
}

std::vector<TensorInfo> describe(Ort::Session& session, bool inputs) {
  Ort::AllocatorWithDefaultOptions alloc;
  const size_t n = inputs ? session.GetInputCount() : session.GetOutputCount();
  std::vector<TensorInfo> infos(n);
  for (size_t i = 0; i < n; ++i) {
    auto name =
        inputs ? session.GetInputNameAllocated(i, alloc) : session.GetOutputNameAllocated(i, alloc);
    infos[i].name = name.get();
    auto type = inputs ? session.GetInputTypeInfo(i) : session.GetOutputTypeInfo(i);
    if (type.GetONNXType() == ONNX_TYPE_TENSOR)
      infos[i].shape = type.GetTensorTypeAndShapeInfo().GetShape();
  }
  return infos;
}

std::mutex& runtime_mutex() {
  static std::mutex m;
  return m;
}

RuntimeOptions& runtime_settings() {
  static RuntimeOptions options;
  return options;
}

// Sessions by (file, its size and mtime, threads, optimize, spinning, free image size, folded
// stems, arena): a file rewritten in place (quantize, OTA) is a different model. weak_ptr: a
// session goes when its last user does.
using SessionKey = std::tuple<std::string, uintmax_t, int64_t, int, bool, bool, bool, bool, bool>;

// A session and, when its users take turns, how many of them may run at once (0: no bound).
struct SharedSession {
  std::unique_ptr<Ort::Session> session;
  int max_runs = 0;
  std::mutex run_mutex;
  std::condition_variable run_done;
  int running = 0;  // runs holding a turn, guarded by run_mutex
  // Input buffers for InferenceBackend::lend_input, one per run in flight. (One more, letting a
  // user prepare its input while the others run, measured +20 MB RSS at 4 cameras for no gain
  // in fps: not kept.) Guarded by input_mutex; spare_inputs is reserved to max_runs.
  int inputs_lent = 0;
  std::vector<std::vector<float>> spare_inputs;
  std::mutex input_mutex;
  std::condition_variable input_returned;
  std::atomic<int> in_flight{0};
};

// Holds one of a shared session's turns for as long as it lives (none when it is unbounded).
class RunTurn {
 public:
  explicit RunTurn(SharedSession& s) : s_(s) {
    if (s_.max_runs <= 0) return;
    std::unique_lock lock(s_.run_mutex);
    s_.run_done.wait(lock, [&] { return s_.running < s_.max_runs; });
    ++s_.running;
  }
  ~RunTurn() {
    if (s_.max_runs <= 0) return;
    {
      std::lock_guard lock(s_.run_mutex);
      --s_.running;
    }
    s_.run_done.notify_one();
  }
  RunTurn(const RunTurn&) = delete;
  RunTurn& operator=(const RunTurn&) = delete;

 private:
  SharedSession& s_;
};

class SessionInput final : public InferenceBackend::LentInput {
 public:
  explicit SessionInput(std::shared_ptr<SharedSession> s) : s_(std::move(s)) {
    std::unique_lock lock(s_->input_mutex);
    s_->input_returned.wait(lock, [&] { return s_->inputs_lent < s_->max_runs; });
    ++s_->inputs_lent;
    if (!s_->spare_inputs.empty()) {
      buffer_ = std::move(s_->spare_inputs.back());
      s_->spare_inputs.pop_back();
    }
  }
  ~SessionInput() override {
    {
      std::lock_guard lock(s_->input_mutex);
      --s_->inputs_lent;
      // Never reallocates: reserved to max_runs, and at most max_runs buffers exist.
      s_->spare_inputs.push_back(std::move(buffer_));
    }
    s_->input_returned.notify_one();
  }
  std::vector<float>& buffer() override { return buffer_; }

 private:
  std::shared_ptr<SharedSession> s_;
  std::vector<float> buffer_;
};

std::atomic<int> g_peak_in_flight{0};

// Counts a run in flight on its session for as long as it lives.
class RunInFlight {
 public:
  explicit RunInFlight(SharedSession& s) : s_(s) {
    const int now = ++s_.in_flight;
    int peak = g_peak_in_flight.load();
    while (now > peak && !g_peak_in_flight.compare_exchange_weak(peak, now)) {
    }
  }
  ~RunInFlight() { --s_.in_flight; }
  RunInFlight(const RunInFlight&) = delete;
  RunInFlight& operator=(const RunInFlight&) = delete;

 private:
  SharedSession& s_;
};

std::map<SessionKey, std::weak_ptr<SharedSession>>& session_cache() {
  static std::map<SessionKey, std::weak_ptr<SharedSession>> cache;
  return cache;
}

class OnnxRuntimeBackend final : public InferenceBackend {
 public:
  explicit OnnxRuntimeBackend(std::shared_ptr<SharedSession> shared) : shared_(std::move(shared)) {
    inputs_ = describe(*shared_->session, true);
    outputs_ = describe(*shared_->session, false);
    for (auto& i : inputs_) input_names_.push_back(i.name.c_str());
    for (auto& o : outputs_) output_names_.push_back(o.name.c_str());
  }

  std::string_view name() const override { return "onnxruntime"; }
  const std::vector<TensorInfo>& inputs() const override { return inputs_; }
  const std::vector<TensorInfo>& outputs() const override { return outputs_; }

  std::unique_ptr<LentInput> lend_input() override {
    if (shared_->max_runs <= 0) return nullptr;
    return std::make_unique<SessionInput>(shared_);
  }

  Status run(const std::vector<TensorView>& in, std::vector<Tensor>& out) override {
    if (in.size() != inputs_.size())
      return Status::Error("onnxruntime: model expects " + std::to_string(inputs_.size()) +
                           " inputs, got " + std::to_string(in.size()));
    try {
      std::vector<Ort::Value> values;
      values.reserve(in.size());
      for (const auto& t : in) {
        size_t count = 1;
        for (auto d : t.shape) count *= static_cast<size_t>(d);
        values.push_back(Ort::Value::CreateTensor<float>(memory_info_, const_cast<float*>(t.data),
                                                         count, t.shape.data(), t.shape.size()));
      }
      std::optional<RunTurn> turn(std::in_place, *shared_);
      std::optional<RunInFlight> counted(std::in_place, *shared_);
      auto results =
          shared_->session->Run(Ort::RunOptions{nullptr}, input_names_.data(), values.data(),
                                values.size(), output_names_.data(), output_names_.size());
      counted.reset();
      turn.reset();
      out.resize(results.size());
      for (size_t i = 0; i < results.size(); ++i) {
        auto info = results[i].GetTensorTypeAndShapeInfo();
        if (info.GetElementType() != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT)
          return Status::Error("onnxruntime: output '" + outputs_[i].name + "' is not float32");
        out[i].name = outputs_[i].name;
        out[i].shape = info.GetShape();
        const float* src = results[i].GetTensorData<float>();
        out[i].data.assign(src, src + info.GetElementCount());
      }
    } catch (const Ort::Exception& e) {
      return Status::Error(std::string("onnxruntime: ") + e.what());
    }
    return Status::Ok();
  }

 private:
  std::shared_ptr<SharedSession> shared_;
  Ort::MemoryInfo memory_info_ = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  std::vector<TensorInfo> inputs_, outputs_;
  std::vector<const char*> input_names_, output_names_;
};

// A device the runtime lacks is an error, not a silent CPU fallback: a benchmark or a
// deployment that asked for a GPU must not quietly measure or serve on the CPU.
Status append_execution_provider(Ort::SessionOptions& so, const std::string& device) {
  if (device.empty() || device == "cpu") return Status::Ok();
  auto provider = execution_provider_for(device);
  if (!provider) return provider.status();
  const auto available = available_execution_providers();
  if (std::find(available.begin(), available.end(), *provider) == available.end()) {
    std::string have;
    for (const auto& p : available) have += (have.empty() ? "" : ", ") + p;
    return Status::Error("onnxruntime: device '" + device + "' needs " + *provider +
                         ", which this ONNX Runtime does not have (available: " + have + ")");
  }
  if (device == "cuda") {
    so.AppendExecutionProvider_CUDA(OrtCUDAProviderOptions{});
  } else if (device == "tensorrt") {
    so.AppendExecutionProvider_TensorRT(OrtTensorRTProviderOptions{});
    if (std::find(available.begin(), available.end(), "CUDAExecutionProvider") != available.end())
      so.AppendExecutionProvider_CUDA(OrtCUDAProviderOptions{});  // ops TensorRT cannot take
  } else if (device == "openvino") {
    so.AppendExecutionProvider_OpenVINO(OrtOpenVINOProviderOptions{});
  }
  return Status::Ok();
}

}  // namespace

void set_runtime_options(const RuntimeOptions& options) {
  std::lock_guard lock(runtime_mutex());
  runtime_settings() = options;
}

RuntimeOptions runtime_options() {
  std::lock_guard lock(runtime_mutex());
  return runtime_settings();
}

int onnxruntime_peak_runs_in_flight(bool reset) {
  return reset ? g_peak_in_flight.exchange(0) : g_peak_in_flight.load();
}

size_t onnxruntime_session_count() {
  std::lock_guard lock(runtime_mutex());
  size_t n = 0;
  for (const auto& [key, session] : session_cache()) n += session.expired() ? 0 : 1;
  return n;
}

std::vector<std::string> available_execution_providers() {
  try {
    return Ort::GetAvailableProviders();
  } catch (const Ort::Exception&) {
    return {};
  }
}

Result<std::string> execution_provider_for(std::string_view device) {
  if (device == "cpu") return std::string("CPUExecutionProvider");
  if (device == "cuda") return std::string("CUDAExecutionProvider");
  if (device == "tensorrt") return std::string("TensorrtExecutionProvider");
  if (device == "openvino") return std::string("OpenVINOExecutionProvider");
  return Result<std::string>::Error("unknown device '" + std::string(device) +
                                    "' (cpu, cuda, tensorrt, openvino)");
}

// The model's bytes after the load-time changes (onnx_rewrites.hpp): free image dims when
// asked (BackendOptions::free_image_size), exact graph rewrites when optimizing. Empty when
// nothing changed, so the file is loaded as it is; an error when the file is not a readable ONNX
// model.
Result<std::string> patched_model_bytes(const std::filesystem::path& model,
                                        const BackendOptions& options) {
  if (!options.free_image_size && !(options.optimize && options.fold_stems)) return std::string();
  std::ifstream in(model, std::ios::binary);
  std::ostringstream bytes;
  if (!in || !(bytes << in.rdbuf()))
    return Result<std::string>::Error("cannot read " + model.string());
  onnx::ModelProto proto;
  if (!proto.ParseFromString(bytes.str())) {
    if (!options.free_image_size) return std::string();  // ONNX Runtime says what is wrong
    return Result<std::string>::Error(model.string() + " is not an ONNX model");
  }
  onnx::GraphProto& graph = *proto.mutable_graph();
  for (const auto& t : graph.initializer()) {
    // Weights in external files are found relative to the model's folder, which a model loaded
    // from memory does not have.
    if (t.data_location() == onnx::TensorProto::EXTERNAL) return std::string();
  }
  bool changed = options.free_image_size && free_image_dims(graph);
  if (options.optimize && options.fold_stems) {
    if (const int n = fold_space_to_depth_stems(graph); n > 0) {
      spdlog::info("onnxruntime: {}: {} space-to-depth stem{} run as one stride-2 convolution",
                   model.filename().string(), n, n > 1 ? "s" : "");
      changed = true;
    }
  }
  if (!changed) return std::string();
  std::string patched;
  if (!proto.SerializeToString(&patched))
    return Result<std::string>::Error("cannot serialize the patched " + model.string());
  return patched;
}

Result<std::unique_ptr<InferenceBackend>> create_onnxruntime_backend(
    const std::filesystem::path& model, const BackendOptions& options) {
  using R = Result<std::unique_ptr<InferenceBackend>>;
  // Held while loading: two cameras starting together must not both load the same model.
  std::lock_guard lock(runtime_mutex());
  const RuntimeOptions& rt = runtime_settings();
  int threads = options.threads;
  if (rt.max_intra_op_threads > 0)
    threads = threads > 0 ? std::min(threads, rt.max_intra_op_threads) : rt.max_intra_op_threads;
  std::error_code ec;
  std::filesystem::path canonical = std::filesystem::weakly_canonical(model, ec);
  if (ec) canonical = model;
  uintmax_t size = std::filesystem::file_size(model, ec);
  if (ec) size = 0;
  int64_t mtime = std::filesystem::last_write_time(model, ec).time_since_epoch().count();
  if (ec) mtime = 0;
  const SessionKey key{canonical.string(),
                       size,
                       mtime,
                       threads,
                       options.optimize,
                       rt.allow_spinning,
                       options.free_image_size,
                       options.fold_stems,
                       rt.shared_session_arena};
  auto& cache = session_cache();
  for (auto it = cache.begin(); it != cache.end();)
    it = it->second.expired() ? cache.erase(it) : std::next(it);
  if (rt.share_sessions && options.device == "cpu") {
    if (auto it = cache.find(key); it != cache.end()) {
      if (auto shared = it->second.lock()) {
        spdlog::debug("onnxruntime: sharing the session of {}", model.string());
        return std::unique_ptr<InferenceBackend>(new OnnxRuntimeBackend(std::move(shared)));
      }
    }
  }
  try {
    Ort::SessionOptions so;
    if (threads > 0) so.SetIntraOpNumThreads(threads);
    so.SetInterOpNumThreads(1);
    if (!rt.allow_spinning) so.AddConfigEntry("session.intra_op.allow_spinning", "0");
    const bool shared_cpu = rt.share_sessions && options.device == "cpu";
    if (shared_cpu && !rt.shared_session_arena) so.DisableCpuMemArena();
    // The memory pattern plans one block per input shape and keeps it; shared sessions run at
    // many shapes (the face pass's frame and its crops, several cameras), so their arenas grew
    // by a block per shape. Per-tensor allocations from the arena reuse its freed buffers:
    // 4 cameras 11-26 MB less RSS, anonymize 10-22 MB less, same speed (bench/README.md).
    if (shared_cpu) so.DisableMemPattern();
    so.SetGraphOptimizationLevel(options.optimize ? GraphOptimizationLevel::ORT_ENABLE_ALL
                                                  : GraphOptimizationLevel::ORT_DISABLE_ALL);
    add_edgevision_ops(so);
    if (Status st = append_execution_provider(so, options.device); !st)
      return R::Error(st.message());
    auto bytes = patched_model_bytes(model, options);
    if (!bytes) return R::Error("onnxruntime: " + bytes.error());
    const std::string patched = std::move(*bytes);
    auto shared = std::make_shared<SharedSession>();
    shared->session = patched.empty() ? std::make_unique<Ort::Session>(ort_env(), model.c_str(), so)
                                      : std::make_unique<Ort::Session>(ort_env(), patched.data(),
                                                                       patched.size(), so);
    if (shared_cpu) {
      shared->max_runs = rt.one_run_per_session ? std::max(1, rt.runs_per_session) : 0;
      shared->spare_inputs.reserve(static_cast<size_t>(shared->max_runs));
      cache[key] = shared;
    }
    return std::unique_ptr<InferenceBackend>(new OnnxRuntimeBackend(std::move(shared)));
  } catch (const Ort::Exception& e) {
    return R::Error("onnxruntime: cannot load " + model.string() + ": " + e.what());
  }
}

std::string onnxruntime_version() {
  return Ort::GetVersionString();
}

}  // namespace ev
