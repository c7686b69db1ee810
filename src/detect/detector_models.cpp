// Kept apart from detector.cpp so code that builds detectors from files (tests, bench) does not
// pull in the model manager.
#include <system_error>

#include "edgevision/detect.hpp"

namespace ev {
namespace fs = std::filesystem;

Result<std::unique_ptr<ObjectDetector>> ObjectDetector::create(const DetectorParams& params,
                                                               ModelManager& models) {
  std::error_code ec;
  const fs::path path(params.model);
  if (fs::is_regular_file(path, ec)) {
    // A file the user points at is trusted as is; when its name is a manifest model's, that
    // entry still supplies the pre-processing, decoder and thresholds, and its companions are
    // looked up next to it.
    for (const auto& spec : models.manifest().models) {
      if (spec.task != "detect" || spec.files.empty() || spec.files[0].file != path.filename())
        continue;
      std::vector<fs::path> files{path};
      for (size_t i = 1; i < spec.files.size(); ++i)
        files.push_back(path.parent_path() / spec.files[i].file);
      return create(params, files, &spec);
    }
    return create(params, std::vector<fs::path>{path}, nullptr);
  }
  auto resolved = models.resolve(params.model);
  if (!resolved) return Result<std::unique_ptr<ObjectDetector>>(resolved.status());
  if (resolved->spec && !resolved->spec->task.empty() && resolved->spec->task != "detect")
    return Result<std::unique_ptr<ObjectDetector>>::Error(
        "model '" + params.model + "' is a " + resolved->spec->task + " model, not a detector");
  return create(params, resolved->paths, resolved->spec);
}

}  // namespace ev
