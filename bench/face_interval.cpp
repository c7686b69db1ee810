// Small-face runs on every n-th video frame (PrivacyParams::small_face_interval) against every
// frame: the same clip through two anonymizers at level medium, one with the runs on every
// frame (the reference) and one with them every n-th frame. For each frame, every mask the
// reference applied must be covered by the other's masks (at least half its area, the
// coverage test's rule for a covered face); prints the share covered, the frames with a
// reference mask left uncovered, and the face-pass time of both. `--upscale U` gives the other
// anonymizer small-face runs at U instead of the level's 2 (with `--interval 1`: the upscale
// alone). See bench/README.md.
//   build/bench/bench_face_interval [--models DIR] [--interval N] [--upscale U] [--fps F]
//                                   [--frames N] CLIP...
// Frames are taken at --fps (default 10, what a camera analyses) from the clip's own rate.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "edgevision/anonymize.hpp"
#include "edgevision/models.hpp"

namespace {

// Share of `box` covered by the union of `masks`.
double covered(const cv::Rect& box, const std::vector<cv::Rect>& masks) {
  if (box.area() <= 0) return 1.0;
  cv::Mat m(box.height, box.width, CV_8U, cv::Scalar(0));
  for (const cv::Rect& r : masks) {
    const cv::Rect in = (r & box) - box.tl();
    if (in.area() > 0) m(in).setTo(255);
  }
  return static_cast<double>(cv::countNonZero(m)) / box.area();
}

struct Run {
  std::unique_ptr<ev::Anonymizer> anonymizer;
  double detect_ms = 0;
};

}  // namespace

int main(int argc, char** argv) {
  std::string models_dir = std::string(EV_SHARED_DIR) + "/models";
  int interval = 2, max_frames = 0;
  double fps = 10, upscale = 0;
  std::vector<std::string> clips;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--models" && i + 1 < argc)
      models_dir = argv[++i];
    else if (a == "--interval" && i + 1 < argc)
      interval = std::atoi(argv[++i]);
    else if (a == "--upscale" && i + 1 < argc)
      upscale = std::atof(argv[++i]);
    else if (a == "--fps" && i + 1 < argc)
      fps = std::atof(argv[++i]);
    else if (a == "--frames" && i + 1 < argc)
      max_frames = std::atoi(argv[++i]);
    else
      clips.push_back(a);
  }
  if (clips.empty() || interval < 1 || fps <= 0) {
    std::fprintf(stderr,
                 "usage: %s [--models DIR] [--interval N] [--upscale U] [--fps F] [--frames N] "
                 "CLIP...\n",
                 argv[0]);
    return 2;
  }
  ev::ModelManagerOptions mo;
  mo.model_dirs = {models_dir};
  mo.allow_download = false;
  ev::ModelManager models(mo);
  std::printf("reference: small-face runs on every frame at 2x; other: every %d frame(s) at %gx\n",
              interval, upscale > 0 ? upscale : 2.0);
  std::printf(
      "| clip | frames | reference masks | covered | frames with one uncovered | "
      "face pass ms/frame: reference | other |\n|---|---|---|---|---|---|---|\n");
  int rc = 0;
  for (const std::string& clip : clips) {
    cv::VideoCapture cap(clip);
    if (!cap.isOpened()) {
      std::fprintf(stderr, "cannot open %s\n", clip.c_str());
      rc = 1;
      continue;
    }
    const double clip_fps = cap.get(cv::CAP_PROP_FPS) > 0 ? cap.get(cv::CAP_PROP_FPS) : fps;
    const int step = std::max(1, static_cast<int>(std::lround(clip_fps / fps)));
    Run runs[2];
    for (int k = 0; k < 2; ++k) {
      ev::AnonymizerOptions o;
      o.level = ev::PrivacyLevel::kMedium;
      o.small_face_interval = k == 0 ? 1 : interval;
      if (k == 1 && upscale > 0) o.detector.upscale = static_cast<float>(upscale);
      auto a = ev::Anonymizer::create(o, models);
      if (!a) {
        std::fprintf(stderr, "%s\n", a.error().c_str());
        return 1;
      }
      runs[k].anonymizer = std::move(*a);
    }
    int frames = 0, reference = 0, hit = 0, frames_missing = 0;
    cv::Mat frame;
    for (int index = 0; cap.read(frame); ++index) {
      if (index % step != 0) continue;
      if (max_frames > 0 && frames >= max_frames) break;
      ++frames;
      ev::FrameResult r[2];
      for (int k = 0; k < 2; ++k) {
        cv::Mat copy = frame.clone();
        r[k] = runs[k].anonymizer->process(copy);
        runs[k].detect_ms += r[k].detect_ms;
      }
      bool missing = false;
      for (const cv::Rect& m : r[0].masks) {
        ++reference;
        if (covered(m, r[1].masks) >= 0.5)
          ++hit;
        else
          missing = true;
      }
      frames_missing += missing;
    }
    std::printf("| %s | %d | %d | %.2f%% | %d | %.1f | %.1f |\n", clip.c_str(), frames, reference,
                reference ? 100.0 * hit / reference : 100.0, frames_missing,
                frames ? runs[0].detect_ms / frames : 0.0,
                frames ? runs[1].detect_ms / frames : 0.0);
    std::fflush(stdout);
  }
  return rc;
}
