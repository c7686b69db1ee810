#include "edgevision/face_coverage.hpp"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <sstream>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace ev {
namespace fs = std::filesystem;
namespace {

std::string face_key(const std::string& image, const cv::Rect& box) {
  return image + "," + std::to_string(box.x) + "," + std::to_string(box.y) + "," +
         std::to_string(box.width) + "," + std::to_string(box.height);
}

}  // namespace

Result<std::vector<LabelledFace>> load_face_labels(const fs::path& csv) {
  using R = Result<std::vector<LabelledFace>>;
  std::ifstream in(csv);
  if (!in) return R::Error("cannot open " + csv.string());
  std::vector<LabelledFace> faces;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (line_no == 1 && line.rfind("image", 0) == 0)) continue;
    std::stringstream ss(line);
    std::string image, field;
    int v[4];
    std::getline(ss, image, ',');
    bool ok = !image.empty();
    for (int i = 0; i < 4 && ok; ++i) {
      ok = static_cast<bool>(std::getline(ss, field, ','));
      try {
        v[i] = ok ? std::stoi(field) : 0;
      } catch (const std::exception&) {
        ok = false;
      }
    }
    if (!ok || v[2] <= 0 || v[3] <= 0)
      return R::Error(csv.string() + ":" + std::to_string(line_no) + ": expected image,x,y,w,h");
    faces.push_back({image, cv::Rect(v[0], v[1], v[2], v[3])});
  }
  if (faces.empty()) return R::Error(csv.string() + ": no labelled faces");
  return faces;
}

Result<std::map<std::string, std::vector<std::string>>> load_face_tags(const fs::path& csv) {
  using R = Result<std::map<std::string, std::vector<std::string>>>;
  std::ifstream in(csv);
  if (!in) return R::Error("cannot open " + csv.string());
  std::map<std::string, std::vector<std::string>> tags;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (line_no == 1 && line.rfind("image", 0) == 0)) continue;
    const size_t last = line.rfind(',');
    // image,x,y,w,h,tag: the key is everything before the last comma.
    if (last == std::string::npos || last + 1 >= line.size() ||
        std::count(line.begin(), line.begin() + static_cast<long>(last), ',') != 4)
      return R::Error(csv.string() + ":" + std::to_string(line_no) +
                      ": expected image,x,y,w,h,tag");
    tags[line.substr(0, last)].push_back(line.substr(last + 1));
  }
  if (tags.empty()) return R::Error(csv.string() + ": no tags");
  return tags;
}

namespace {

cv::Rect scaled(const cv::Rect& r, double s) {
  return cv::Rect(cv::Point(static_cast<int>(r.x * s), static_cast<int>(r.y * s)),
                  cv::Point(static_cast<int>(std::ceil((r.x + r.width) * s)),
                            static_cast<int>(std::ceil((r.y + r.height) * s))));
}

cv::Rect grown(const cv::Rect& r, float fraction) {
  const int dx = static_cast<int>(r.width * fraction), dy = static_cast<int>(r.height * fraction);
  return cv::Rect(r.x - dx, r.y - dy, r.width + 2 * dx, r.height + 2 * dy);
}

}  // namespace

Result<CoverageReport> evaluate_face_coverage(const fs::path& data_dir, Anonymizer& anonymizer,
                                              const CoverageOptions& options) {
  auto labels = load_face_labels(data_dir / "labels.csv");
  if (!labels) return Result<CoverageReport>(labels.status());
  std::map<std::string, std::vector<std::string>> tags;
  if (!options.tags_csv.empty()) {
    auto loaded = load_face_tags(options.tags_csv);
    if (!loaded) return Result<CoverageReport>(loaded.status());
    tags = std::move(*loaded);
  }
  std::map<std::string, std::vector<cv::Rect>> by_image;
  for (const auto& f : *labels) by_image[f.image].push_back(f.box);

  CoverageReport report;
  report.detector = anonymizer.detector_name();
  for (double s : options.scales) {
    ScaleCoverage sc;
    sc.scale = s;
    std::map<std::string, TagCoverage> by_tag;
    double total_ms = 0, outside_sum = 0, collateral_sum = 0;
    for (const auto& [image_name, boxes] : by_image) {
      cv::Mat original = cv::imread((data_dir / image_name).string(), cv::IMREAD_COLOR);
      if (original.empty())
        return Result<CoverageReport>::Error("cannot read " + (data_dir / image_name).string());
      cv::Mat input;
      if (s == 1.0)
        input = original;
      else
        cv::resize(original, input, cv::Size(), s, s, cv::INTER_AREA);
      cv::Mat img = input.clone();
      anonymizer.reset_tracking();
      const auto t0 = std::chrono::steady_clock::now();
      FrameResult r = anonymizer.process(img);
      total_ms +=
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (!r.emitted)
        return Result<CoverageReport>::Error("face detection failed on " + image_name + ": " +
                                             r.error);

      // Per pixel: the largest change over the colour channels.
      cv::Mat diff, change;
      cv::absdiff(input, img, diff);
      cv::Mat channels[3];
      cv::split(diff, channels);
      cv::max(channels[0], channels[1], change);
      cv::max(change, channels[2], change);
      const cv::Mat changed = change > options.changed_level;
      const cv::Mat strongly_changed = change > options.collateral_level;

      const cv::Rect bounds(0, 0, img.cols, img.rows);
      cv::Mat masked = cv::Mat::zeros(img.size(), CV_8U), zone = cv::Mat::zeros(img.size(), CV_8U);
      for (const auto& m : r.masks) masked(m & bounds).setTo(255);
      std::vector<cv::Rect> label_boxes;
      for (const auto& b : boxes) {
        label_boxes.push_back(scaled(b, s) & bounds);
        zone(grown(label_boxes.back(), options.face_zone_padding) & bounds).setTo(255);
      }
      ImageCoverage ic;
      ic.image = image_name;
      ic.masks = r.masks;
      for (size_t k = 0; k < label_boxes.size(); ++k) {
        const cv::Rect& lb = label_boxes[k];
        const float cf = options.central_fraction;
        cv::Rect centre(lb.x + static_cast<int>(lb.width * (1 - cf) / 2),
                        lb.y + static_cast<int>(lb.height * (1 - cf) / 2),
                        std::max(1, static_cast<int>(lb.width * cf)),
                        std::max(1, static_cast<int>(lb.height * cf)));
        centre &= bounds;
        const double frac = centre.area() > 0 ? cv::countNonZero(changed(centre)) /
                                                    static_cast<double>(centre.area())
                                              : 0;
        const bool covered = frac >= options.covered_threshold;
        ++sc.faces;
        ++ic.faces;
        ic.covered += covered ? 1 : 0;
        if (!options.save_dir.empty())
          cv::rectangle(img, lb, covered ? cv::Scalar(0, 255, 0) : cv::Scalar(0, 0, 255), 1);
        if (covered) {
          ++sc.covered;
        } else {
          // The share already masked tells a mask placed or sized wrong from a face not found.
          sc.missed.push_back(image_name + "#" + std::to_string(k) + " (" +
                              std::to_string(lb.width) + "x" + std::to_string(lb.height) + ", " +
                              std::to_string(static_cast<int>(100 * frac)) + "% masked)");
        }
        if (!tags.empty()) {
          auto it = tags.find(face_key(image_name, boxes[k]));
          if (it == tags.end())
            return Result<CoverageReport>::Error(options.tags_csv.string() + " has no tags for " +
                                                 face_key(image_name, boxes[k]));
          for (const auto& tag : it->second) {
            TagCoverage& tc = by_tag[tag];
            tc.tag = tag;
            ++tc.faces;
            tc.covered += covered ? 1 : 0;
          }
        }
      }
      sc.masks += static_cast<int>(r.masks.size());
      for (const auto& m : r.masks) {
        bool touches = false;
        for (const auto& lb : label_boxes) touches = touches || (m & lb).area() > 0;
        if (!touches) ++sc.masks_off_labels;
      }
      cv::Mat outside;
      cv::bitwise_and(masked, ~zone, outside);
      outside_sum += cv::countNonZero(outside) / static_cast<double>(img.total());
      const int outside_zone = static_cast<int>(img.total()) - cv::countNonZero(zone);
      cv::Mat collateral;
      cv::bitwise_and(strongly_changed, ~zone, collateral);
      if (outside_zone > 0)
        ic.collateral = cv::countNonZero(collateral) / static_cast<double>(outside_zone);
      collateral_sum += ic.collateral;
      sc.images.push_back(std::move(ic));
      if (!options.save_dir.empty()) {
        const fs::path out = options.save_dir / fs::path(image_name).filename();
        fs::create_directories(options.save_dir);
        if (!cv::imwrite(out.string(), img))
          return Result<CoverageReport>::Error("cannot write " + out.string());
      }
    }
    sc.ms_per_image = by_image.empty() ? 0 : total_ms / by_image.size();
    sc.masked_outside_fraction = by_image.empty() ? 0 : outside_sum / by_image.size();
    sc.collateral = by_image.empty() ? 0 : collateral_sum / by_image.size();
    for (auto& [tag, tc] : by_tag) sc.tags.push_back(std::move(tc));
    report.faces += sc.faces;
    report.covered += sc.covered;
    report.scales.push_back(std::move(sc));
  }
  return report;
}

}  // namespace ev
