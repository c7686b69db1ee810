// `config check`: what the configuration names, resolved the way the service will at start
// (same ModelManager options, same source opener), so a camera that would fail is found now.
#include "edgevision/config_check.hpp"

#include <algorithm>
#include <filesystem>
#include <optional>

#include "edgevision/io.hpp"
#include "edgevision/redact.hpp"

namespace ev {
namespace {

namespace fs = std::filesystem;
using Level = ConfigProblem::Level;

// The manifest model each face detector loads by default (see src/face/*_detector.cpp).
std::string face_model_name(const std::string& detector) {
  if (detector == "ssd") return "ssd-face";
  if (detector == "blazeface") return "blazeface-back";
  if (detector == "blazeface128") return "blazeface-front";
  if (detector == "haar") return "haar-frontalface";
  return detector;  // yunet, yunet2022
}

// Files shipped with the OS (file:// sources, e.g. Debian's Haar cascades) are used in place
// even with downloads off; true when every file of `spec` has such a copy with the right hash.
bool has_local_sources(const ModelSpec& spec) {
  for (const auto& file : spec.files) {
    bool found = false;
    for (const auto& source : file.sources) {
      if (source.rfind("file://", 0) != 0) continue;
      std::error_code ec;
      const fs::path path = source.substr(7);
      if (!fs::is_regular_file(path, ec)) continue;
      auto sha = sha256_file(path);
      if (sha && (file.sha256.empty() || *sha == file.sha256)) {
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  return !spec.files.empty();
}

// Empty when the model resolves offline; otherwise the problem, a warning when the service
// will download it at start.
std::optional<ConfigProblem> check_model(ModelManager& models, const std::string& name,
                                         bool allow_download, const std::string& where) {
  std::error_code ec;
  if (!name.empty() && fs::is_regular_file(name, ec)) return std::nullopt;
  auto located = models.locate(name);
  if (located) return std::nullopt;
  const ModelSpec* spec = models.manifest().find(name);
  if (!spec) return ConfigProblem{Level::error, where, located.error()};
  if (has_local_sources(*spec)) return std::nullopt;
  auto statuses = models.inspect(name);
  bool downloadable = allow_download;
  if (statuses)
    for (const auto& st : *statuses)
      if (st.state != ModelFileStatus::State::present && st.file->sources.empty())
        downloadable = false;
  if (downloadable)
    return ConfigProblem{Level::warning, where,
                         "model '" + name + "' is not here; it will be downloaded at start into " +
                             models.cache_dir().string()};
  return ConfigProblem{Level::error, where,
                       located.error() + (allow_download ? ""
                                                         : "; cannot be had offline "
                                                           "(models.allow_download is false)")};
}

bool is_stream_or_device(const std::string& source) {
  return source.find("://") != std::string::npos || source.rfind("/dev/", 0) == 0 ||
         (!source.empty() && std::all_of(source.begin(), source.end(), ::isdigit));
}

}  // namespace

const char* to_string(ConfigProblem::Level level) {
  return level == Level::warning ? "warning" : "error";
}

std::vector<ConfigProblem> check_config_resources(const Config& config, ModelManager& models,
                                                  const ConfigCheckOptions& options) {
  std::vector<ConfigProblem> out;
  bool any_enabled = false, any_detect = false;
  for (size_t i = 0; i < config.cameras.size(); ++i) {
    const CameraConfig& cam = config.cameras[i];
    if (!cam.enabled) continue;
    any_enabled = true;
    any_detect = any_detect || cam.detect;
    const std::string where = "cameras[" + std::to_string(i) + "] '" + cam.id + "'";
    if (!is_stream_or_device(cam.source)) {
      std::error_code ec;
      if (!fs::exists(cam.source, ec))
        out.push_back({Level::error, where, "source not found: " + cam.source});
      continue;
    }
    if (!options.deep) continue;
    SourceOptions so;
    so.open_timeout_ms = options.stream_timeout_ms;
    so.read_timeout_ms = options.stream_timeout_ms;
    auto source = open_source(cam.source, so);
    if (!source)
      out.push_back({Level::error, where, redact_text("cannot open: " + source.error())});
  }
  if (!any_enabled) return out;
  const bool download = config.models.allow_download;
  const std::string face = face_model_name(config.privacy.detector);
  if (auto p = check_model(models, face, download, "privacy.detector"); p) {
    // The face stage falls back to the next detector (finally the OS's Haar cascade), so a
    // missing face model alone does not stop a camera; it is still worth knowing.
    if (p->level == Level::error) {
      p->level = Level::warning;
      p->message += "; the camera will fall back to another face detector";
    }
    out.push_back(*p);
  }
  if (any_detect)
    if (auto p = check_model(models, config.detection.model, download, "detection.model"); p)
      out.push_back(*p);
  return out;
}

}  // namespace ev
