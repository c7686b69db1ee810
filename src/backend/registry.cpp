// The one place backends are registered. To add one (RKNN, Hailo, ...), write a factory and
// add a row here.
#include <algorithm>

#include "backend/backends.hpp"

namespace ev {
namespace {

struct BackendEntry {
  const char* name;
  BackendFactory factory;
  std::vector<std::string> extensions;  // files this backend is the default for
};

const std::vector<BackendEntry>& registry() {
  static const std::vector<BackendEntry> entries = {
      {"onnxruntime", create_onnxruntime_backend, {".onnx", ".ort"}},
      {"opencv", create_opencv_backend, {".pb", ".caffemodel", ".weights", ".t7", ".net", ".xml"}},
  };
  return entries;
}

}  // namespace

std::string default_backend_for(const std::filesystem::path& model) {
  const std::string ext = model.extension().string();
  for (const auto& e : registry())
    if (std::find(e.extensions.begin(), e.extensions.end(), ext) != e.extensions.end())
      return e.name;
  return "onnxruntime";
}

std::vector<std::string> available_backends() {
  std::vector<std::string> names;
  for (const auto& e : registry()) names.push_back(e.name);
  return names;
}

Result<std::unique_ptr<InferenceBackend>> create_backend(std::string_view kind,
                                                         const std::filesystem::path& model,
                                                         const BackendOptions& options) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(model, ec))
    return Result<std::unique_ptr<InferenceBackend>>::Error("model file not found: " +
                                                            model.string());
  const std::string wanted =
      kind.empty() || kind == "auto" ? default_backend_for(model) : std::string(kind);
  for (const auto& e : registry())
    if (wanted == e.name) return e.factory(model, options);
  return Result<std::unique_ptr<InferenceBackend>>::Error("unknown backend '" + wanted + "'");
}

}  // namespace ev
