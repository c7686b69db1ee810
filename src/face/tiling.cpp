// Frame -> network runs (upscale small frames, tile large ones) and the cross-pass merge.
#include <algorithm>
#include <cmath>

#include <spdlog/spdlog.h>
#include <opencv2/imgproc.hpp>

#include "edgevision/preprocess.hpp"
#include "edgevision/rects.hpp"
#include "face/face_internal.hpp"

namespace ev::face {
namespace {

// Upscaling beyond this only magnifies JPEG blocks; the DNNs then see texture, not faces.
float max_upscale(DetectMode mode) {
  switch (mode) {
    case DetectMode::kFast:
      return 1.5f;
    case DetectMode::kBalanced:
      return 2.f;
    case DetectMode::kAccurate:
      return 3.f;
  }
  return 1.f;
}

// Evenly spread tile origins covering [0, length) with at least `overlap` shared pixels.
std::vector<int> tile_origins(int length, int tile, int overlap) {
  if (tile >= length) return {0};
  overlap = std::min(overlap, tile / 2);
  const int n =
      static_cast<int>(std::ceil(static_cast<double>(length - overlap) / (tile - overlap)));
  std::vector<int> origins;
  const double step = static_cast<double>(length - tile) / std::max(1, n - 1);
  for (int i = 0; i < n; ++i) origins.push_back(static_cast<int>(std::lround(i * step)));
  return origins;
}

}  // namespace

std::vector<Pass> plan_passes(cv::Size frame, cv::Size net, DetectMode mode, bool multi_scale) {
  std::vector<Pass> passes;
  if (frame.width <= 0 || frame.height <= 0) return passes;
  const cv::Rect whole(0, 0, frame.width, frame.height);
  const float up = max_upscale(mode);
  // A network that takes any size is planned as a 640x640 one (the size YuNet was trained at)
  // but gets one run at the chosen scale instead of tiles: the same pixels per face, no tile
  // overlap computed twice, no face cut by a tile edge.
  const bool dynamic = net.width <= 0 || net.height <= 0;
  const cv::Size plan_net = dynamic ? cv::Size(640, 640) : net;
  const float fit = std::min(static_cast<float>(plan_net.width) / frame.width,
                             static_cast<float>(plan_net.height) / frame.height);
  // Scale at which the frame is processed: fast fits the network; balanced keeps the short side
  // at the network size (one row of tiles on a landscape frame, no downscale of small
  // frames); accurate works at native resolution.
  float target = fit;
  if (mode == DetectMode::kBalanced) {
    const float short_fit = std::max(static_cast<float>(plan_net.width) / frame.width,
                                     static_cast<float>(plan_net.height) / frame.height);
    target = std::min(1.f, short_fit);
  } else if (mode == DetectMode::kAccurate) {
    target = 1.f;
  }
  if (fit >= target) {
    passes.push_back({whole, std::min(fit, up)});
    return passes;
  }
  if (dynamic) {
    if (multi_scale) passes.push_back({whole, fit});
    passes.push_back({whole, target});
    return passes;
  }
  passes.push_back({whole, fit});
  const int rw = std::min(frame.width, static_cast<int>(std::floor(net.width / target)));
  const int rh = std::min(frame.height, static_cast<int>(std::floor(net.height / target)));
  const int overlap =
      static_cast<int>(std::lround(0.2f * std::min(net.width, net.height) / target));
  for (int y : tile_origins(frame.height, rh, overlap))
    for (int x : tile_origins(frame.width, rw, overlap)) {
      passes.push_back({cv::Rect(x, y, rw, rh) & whole, target});
    }
  return passes;
}

std::vector<Face> merge_faces(std::vector<Face> faces, float iou_threshold) {
  std::stable_sort(faces.begin(), faces.end(),
                   [](const Face& a, const Face& b) { return a.score > b.score; });
  std::vector<Face> kept;
  kept.reserve(faces.size());
  for (auto& f : faces) {
    bool suppressed = false;
    for (const auto& k : kept) {
      const float inter = (f.box & k.box).area();
      const float smaller = std::min(f.box.area(), k.box.area());
      if (iou(f.box, k.box) > iou_threshold || (smaller > 0.f && inter >= 0.8f * smaller)) {
        suppressed = true;
        break;
      }
    }
    if (!suppressed) kept.push_back(std::move(f));
  }
  return kept;
}

cv::Mat to_bgr8(const cv::Mat& image) {
  if (image.empty() || image.dims != 2) return {};
  cv::Mat img8 = image;
  if (image.depth() != CV_8U) {
    const double scale = image.depth() == CV_16U                                ? 1.0 / 256.0
                         : (image.depth() == CV_32F || image.depth() == CV_64F) ? 255.0
                                                                                : 1.0;
    image.convertTo(img8, CV_8U, scale);
  }
  switch (img8.channels()) {
    case 3:
      return img8;
    case 1: {
      cv::Mat out;
      cv::cvtColor(img8, out, cv::COLOR_GRAY2BGR);
      return out;
    }
    case 4: {
      cv::Mat out;
      cv::cvtColor(img8, out, cv::COLOR_BGRA2BGR);
      return out;
    }
    default:
      return {};
  }
}

std::vector<Pass> plan_upscaled_passes(cv::Size frame, cv::Size net, float scale) {
  std::vector<Pass> passes;
  if (frame.width <= 0 || frame.height <= 0 || scale <= 0.f) return passes;
  // Dynamic networks: tiles of 640 network pixels keep the cost per run bounded.
  if (net.width <= 0 || net.height <= 0) net = {640, 640};
  const cv::Rect whole(0, 0, frame.width, frame.height);
  const int rw = std::min(frame.width, static_cast<int>(std::floor(net.width / scale)));
  const int rh = std::min(frame.height, static_cast<int>(std::floor(net.height / scale)));
  // Faces this pass is for are small, so a small overlap keeps each whole in one tile.
  const int overlap = static_cast<int>(std::lround(64.f / scale));
  for (int y : tile_origins(frame.height, rh, overlap))
    for (int x : tile_origins(frame.width, rw, overlap))
      passes.push_back({cv::Rect(x, y, rw, rh) & whole, scale});
  return passes;
}

std::vector<Pass> plan_small_face_passes(cv::Size frame, cv::Size net, float scale,
                                         const std::vector<cv::Rect2f>& faces) {
  std::vector<Pass> passes;
  if (faces.empty() || frame.width <= 0 || frame.height <= 0 || scale <= 0.f) return passes;
  const cv::Rect whole(0, 0, frame.width, frame.height);
  if (net.width > 0 && net.height > 0) {
    // A fixed-size network costs the same per run whatever the crop: run the grid tiles that
    // hold a face's centre.
    for (const Pass& tile : plan_upscaled_passes(frame, net, scale)) {
      const bool holds = std::any_of(faces.begin(), faces.end(), [&](const cv::Rect2f& b) {
        return tile.region.contains(
            cv::Point(static_cast<int>(b.x + b.width / 2), static_cast<int>(b.y + b.height / 2)));
      });
      if (holds) passes.push_back(tile);
    }
    return passes;
  }
  // A network that takes any size costs what it is given: a crop around each face, wide
  // enough for the neighbours a group has (6 face heights each side, at least 48 pixels;
  // measured against whole tiles on faces_wider: 4 heights lost 2 faces, 6 none, at 16% less
  // CPU for 720p traffic video, bench/README.md), crops that touch merged into one.
  constexpr float kContext = 6.f;
  const int tile = static_cast<int>(std::floor(640.f / scale));
  std::vector<cv::Rect> regions;
  for (const cv::Rect2f& b : faces) {
    // At most one 640x640 run around a lone face.
    const float pad = std::min(std::max(kContext * b.height, 48.f),
                               (static_cast<float>(tile) - std::max(b.width, b.height)) / 2.f);
    const cv::Rect r(
        cv::Point(static_cast<int>(std::floor(b.x - pad)), static_cast<int>(std::floor(b.y - pad))),
        cv::Point(static_cast<int>(std::ceil(b.x + b.width + pad)),
                  static_cast<int>(std::ceil(b.y + b.height + pad))));
    if ((r & whole).area() > 0) regions.push_back(r & whole);
  }
  regions = merge_overlapping_rects(std::move(regions));
  // A merged crop is one run up to 1152x640 network pixels (the frame pass of a 16:9 frame of
  // 640 lines or more at balanced), so one run's activation memory stays bounded. Cutting it into
  // 640x640 runs instead computed the overlap of the evenly spread tiles twice: on 720p
  // traffic that was 1.64x the crops' pixels (bench/README.md, "Small-face crops in one run").
  // A larger crop is cut into 640x640 runs.
  constexpr double kMaxRunPixels = 1152.0 * 640.0;
  for (const cv::Rect& r : regions) {
    if (static_cast<double>(r.width) * r.height * scale * scale <= kMaxRunPixels) {
      passes.push_back({r, scale});
      continue;
    }
    for (Pass pass : plan_upscaled_passes(r.size(), {0, 0}, scale)) {
      pass.region += r.tl();
      passes.push_back(pass);
    }
  }
  return passes;
}

Status TiledFaceDetector::run_pass(const cv::Mat& bgr, const Pass& pass, std::vector<Face>& all) {
  const cv::Size net = net_size();
  const cv::Rect2f frame_box(0.f, 0.f, static_cast<float>(bgr.cols), static_cast<float>(bgr.rows));
  const cv::Mat crop = bgr(pass.region);
  cv::Size size(std::max(1, static_cast<int>(std::lround(crop.cols * pass.scale))),
                std::max(1, static_cast<int>(std::lround(crop.rows * pass.scale))));
  if (net.width > 0) size = {std::min(size.width, net.width), std::min(size.height, net.height)};
  cv::Mat scaled;
  if (size == crop.size()) {
    scaled = crop;
  } else {
    // INTER_AREA averages every source pixel, which only pays against aliasing on strong
    // downscales; at 0.9 it costs 3x INTER_LINEAR for the same faces.
    cv::resize(crop, scaled, size, 0, 0, pass.scale < 0.5f ? cv::INTER_AREA : cv::INTER_LINEAR);
  }
  const float sx = static_cast<float>(size.width) / crop.cols;
  const float sy = static_cast<float>(size.height) / crop.rows;
  std::vector<Face> local;
  if (Status s = detect_scaled(scaled, local); !s.ok()) return s;
  for (auto& f : local) {
    f.box = cv::Rect2f(f.box.x / sx + pass.region.x, f.box.y / sy + pass.region.y, f.box.width / sx,
                       f.box.height / sy) &
            frame_box;
    for (auto& p : f.landmarks) p = {p.x / sx + pass.region.x, p.y / sy + pass.region.y};
    if (f.box.width < 1.f || f.box.height < 1.f) continue;
    const float side = std::max(f.box.width, f.box.height);
    if (min_face_ > 0 && side < static_cast<float>(min_face_)) continue;
    if (f.score < large_face_score_ && side >= static_cast<float>(large_face_px_)) continue;
    all.push_back(std::move(f));
  }
  return Status::Ok();
}

Result<std::vector<Face>> TiledFaceDetector::detect(const cv::Mat& input) {
  std::vector<Face> all;
  if (input.empty()) return all;
  try {
    const cv::Mat bgr = to_bgr8(input);
    if (bgr.empty())
      return Result<std::vector<Face>>::Error(name() + ": unsupported image (" +
                                              std::to_string(input.channels()) + " channels)");
    const std::vector<Pass> passes = plan_passes(bgr.size(), net_size(), mode_, multi_scale_);
    float first_scale = 0.f;  // the finest scale the first pass used
    for (const Pass& pass : passes) {
      first_scale = std::max(first_scale, pass.scale);
      if (Status s = run_pass(bgr, pass, all); !s.ok()) return s;
    }
    if (upscale_ > first_scale && small_face_runs_) {
      // Small faces come in groups (crowds, a far-away queue, the people in a car): the area
      // around a face found near the first pass's size limit is worth an upscaled run, since
      // the next face there is smaller still.
      const float small = 32.f / first_scale;
      std::vector<cv::Rect2f> near_limit;
      for (const Face& f : all)
        if (f.box.height < small && f.score >= small_face_min_score_) near_limit.push_back(f.box);
      const std::vector<Pass> passes =
          upscale_everywhere_
              ? plan_upscaled_passes(bgr.size(), net_size(), upscale_)
              : plan_small_face_passes(bgr.size(), net_size(), upscale_, near_limit);
      for (const Pass& pass : passes)
        if (Status s = run_pass(bgr, pass, all); !s.ok()) return s;
    }
  } catch (const cv::Exception& e) {
    return Result<std::vector<Face>>::Error(name() + ": " + e.what());
  }
  return merge_faces(std::move(all), nms_threshold());
}

}  // namespace ev::face
