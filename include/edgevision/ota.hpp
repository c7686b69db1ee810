// Over-the-air model updates: `edgevision models update NAME --version V` and `rollback NAME`.
//
// Installed versions live in the model cache, one folder per model:
//   <cache>/ota/<name>/versions/<version>/{model files, meta.json, manifest.yaml}
//   <cache>/ota/<name>/current  -> versions/<version>   (symlink, swapped with rename(2))
//   <cache>/ota/<name>/previous -> versions/<version>   (what rollback restores)
// An update downloads into a staging folder, checks every file's sha256 and size, runs one
// smoke inference, and only then moves the folder into versions/ and swaps `current`. Any
// failure before the swap leaves `current` (the serving model) untouched. Only current and
// previous are kept on disk.
//
// How the running service switches: it resolves models with resolve_serving() (OTA current
// first, else the ModelManager) and runs an UpdateWatcher over the models it uses. When the
// watcher reports a new version the service builds the new detector on the side and swaps
// it in between two frames; if building fails it keeps the old one. Cameras never stop.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "edgevision/models.hpp"
#include "edgevision/status.hpp"

namespace ev::ota {

// The candidate against the serving model on real images, before anything is switched.
// Detectors: detections matched by class and IoU >= 0.5 (F1, the serving model's detections as
// the reference). Other models, or too few reference detections to judge: the raw outputs
// (channel-balanced SQNR, see ev::output_sqnr_db). Face models: face coverage, the judge of
// `quantize` (ev::FaceCoverageJudge): the faces the serving model finds are the labels, and the
// candidate's coverage of them may fall at most max_face_drop points below the serving model's
// own; with fewer than kMinFacesForCoverage faces on the images (the built-in set has none) the
// raw outputs are compared instead, said in one line.
struct AgreementOptions {
  bool enabled = true;
  std::filesystem::path images;  // folder of real images; empty: a built-in synthetic set
  int max_images = 16;
  double min_f1 = 0.7;
  int min_reference_detections = 5;
  double min_sqnr_db = 12.0;
  double max_face_drop = 2.0;  // face models: coverage points
};

struct AgreementReport {
  std::string method;  // "detections", "faces" or "outputs"
  std::string image_set;
  int images = 0;
  int serving_detections = 0;
  int candidate_detections = 0;
  int matched = 0;
  double f1 = 0;
  double sqnr_db = 0;
  // Face models: faces the serving model finds (the labels) and both models' coverage of them
  // (%, src/anonymize/face_coverage.cpp).
  int serving_faces = 0;
  double serving_coverage = 0;
  double candidate_coverage = 0;
  bool agree = false;
  std::string summary;  // one line with the numbers
};

// Compares two versions of a model (same task and pre-processing expected) on the images.
Result<AgreementReport> compare_versions(const ModelSpec& serving,
                                         const std::vector<std::filesystem::path>& serving_paths,
                                         const ModelSpec& candidate,
                                         const std::vector<std::filesystem::path>& candidate_paths,
                                         const AgreementOptions& options);
// The built-in check images: structured synthetic scenes (shapes, edges, textures), fixed seed.
std::vector<cv::Mat> builtin_check_images();

struct UpdateRequest {
  std::string name;
  std::string version;
  // A release manifest (same format as models/manifest.yaml: URL, file:// or a path) with an
  // entry `name` at `version`. Its files' sources, hashes and pre-processing are used.
  std::string manifest_source;
  // Or a single model file: the base manifest's entry is kept (pre-processing, decoder) with
  // files[0] replaced. sha256 is then required: nothing unverified is ever installed.
  std::string file_source;
  std::string sha256;
  int64_t size = 0;
  bool smoke_test = true;
  AgreementOptions agreement;
  // The files the service uses when nothing was installed through OTA yet (the shipped version,
  // as the ModelManager resolves it): compared with the candidate, and kept as `previous` so
  // the first update can be rolled back. Empty: neither.
  std::vector<std::filesystem::path> shipped_paths;
};

struct InstalledModel {
  std::string name;
  std::string version;
  ModelSpec spec;                            // owning copy (version and files as installed)
  std::vector<std::filesystem::path> paths;  // spec.files order; paths[0] is the model
  std::filesystem::path dir;                 // versions/<version>, or empty (from ModelManager)
  bool from_ota = false;
  std::optional<AgreementReport> agreement;  // set by update() when the check ran
};

// One inference on zeros of the model's input shape; an error says what failed (load, run,
// non-finite output). Haar cascades are loaded instead.
Status smoke_test(const ModelSpec& spec, const std::vector<std::filesystem::path>& paths);

class ModelStore {
 public:
  // root: usually ModelManager::cache_dir() / "ota".
  explicit ModelStore(std::filesystem::path root);
  const std::filesystem::path& root() const { return root_; }

  // base: the manifest that names the model (the built-in one in the product). Concurrent
  // updates of the same model are serialized with a lock file.
  Result<InstalledModel> update(const UpdateRequest& request, const Manifest& base,
                                const ProgressFn& progress = {});
  // Makes `previous` current again (and the rolled-back version previous, so a second rollback
  // undoes the first). Error when there is no previous version.
  Result<InstalledModel> rollback(const std::string& name);
  // The installed current version; error when none was installed through OTA.
  Result<InstalledModel> current(const std::string& name) const;
  // Cheap (one readlink): the version names, for polling.
  std::optional<std::string> current_version(const std::string& name) const;
  std::optional<std::string> previous_version(const std::string& name) const;

 private:
  std::filesystem::path root_;
};

// The model the service should load now: the OTA-installed current version if there is one,
// else what the ModelManager resolves (which may download).
Result<InstalledModel> resolve_serving(ModelManager& models, const std::string& name);

// Polls the `current` links of some models and reports changes on its own thread. Polling (not
// inotify) because the CLI that updates is another process, and a swap is one rename.
class UpdateWatcher {
 public:
  using Callback = std::function<void(const InstalledModel& model)>;
  UpdateWatcher(ModelStore store, std::vector<std::string> names, Callback on_change,
                std::chrono::milliseconds interval = std::chrono::seconds(2));
  ~UpdateWatcher();  // stops and joins
  UpdateWatcher(const UpdateWatcher&) = delete;
  UpdateWatcher& operator=(const UpdateWatcher&) = delete;
  // Checks now on the caller's thread; returns how many models changed.
  int check_now();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace ev::ota
