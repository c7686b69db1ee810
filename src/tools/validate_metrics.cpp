// COCO-style detection metrics and the YOLO data set format. The matching and interpolation
// follow pycocotools' COCOeval (evaluateImg / accumulate) for bounding boxes without crowd
// regions, so numbers are comparable with published COCO figures.
#include <algorithm>
#include <fstream>
#include <numeric>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "edgevision/validate.hpp"

namespace ev {
namespace fs = std::filesystem;

const std::array<double, 10>& coco_iou_thresholds() {
  // np.linspace(.5, .95, 10): .5 + i * (.45 / 9), the same doubles pycocotools compares with.
  static const std::array<double, 10> t = [] {
    std::array<double, 10> a{};
    for (int i = 0; i < 10; ++i) a[i] = 0.5 + i * (0.45 / 9);
    a[9] = 0.95;
    return a;
  }();
  return t;
}

namespace {

double iou_d(const cv::Rect2f& a, const cv::Rect2f& b) {
  const double x1 = std::max(a.x, b.x), y1 = std::max(a.y, b.y);
  const double x2 = std::min(a.x + a.width, b.x + b.width);
  const double y2 = std::min(a.y + a.height, b.y + b.height);
  const double inter = std::max(0.0, x2 - x1) * std::max(0.0, y2 - y1);
  const double uni =
      static_cast<double>(a.width) * a.height + static_cast<double>(b.width) * b.height - inter;
  return uni > 0 ? inter / uni : 0.0;
}

// 101-point interpolated AP for one class at one IoU threshold.
double average_precision(const std::vector<uint8_t>& tp_sorted, int n_gt) {
  const size_t n = tp_sorted.size();
  std::vector<double> rc(n), pr(n);
  double tp = 0, fp = 0;
  for (size_t i = 0; i < n; ++i) {
    tp += tp_sorted[i];
    fp += 1 - tp_sorted[i];
    rc[i] = tp / n_gt;
    pr[i] = tp / (tp + fp);
  }
  // Precision envelope: the best precision at any recall at least this high.
  for (size_t i = n; i-- > 1;) pr[i - 1] = std::max(pr[i - 1], pr[i]);
  double sum = 0;
  for (int k = 0; k <= 100; ++k) {
    const double r = k == 100 ? 1.0 : k * 0.01;                 // np.linspace(0, 1, 101)
    const auto it = std::lower_bound(rc.begin(), rc.end(), r);  // searchsorted side='left'
    if (it != rc.end()) sum += pr[it - rc.begin()];
  }
  return sum / 101.0;
}

}  // namespace

MapEvaluator::MapEvaluator(int num_classes, int max_dets)
    : num_classes_(num_classes),
      max_dets_(max_dets),
      per_class_(num_classes),
      gt_count_(num_classes, 0) {}

void MapEvaluator::add_image(const std::vector<GroundTruth>& gts,
                             const std::vector<Detection>& dets_in) {
  const int image = images_++;
  std::vector<int> order(dets_in.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return dets_in[a].score > dets_in[b].score; });
  if (max_dets_ > 0 && static_cast<int>(order.size()) > max_dets_) order.resize(max_dets_);
  for (const auto& g : gts)
    if (g.class_id >= 0 && g.class_id < num_classes_) ++gt_count_[g.class_id];

  const auto& thr = coco_iou_thresholds();
  for (int c = 0; c < num_classes_; ++c) {
    std::vector<int> g_idx, d_idx;
    for (size_t i = 0; i < gts.size(); ++i)
      if (gts[i].class_id == c) g_idx.push_back(static_cast<int>(i));
    for (int i : order)
      if (dets_in[i].class_id == c) d_idx.push_back(i);
    if (d_idx.empty()) continue;
    std::vector<Scored> scored(d_idx.size());
    for (size_t d = 0; d < d_idx.size(); ++d) {
      scored[d].score = dets_in[d_idx[d]].score;
      scored[d].image = image;
      scored[d].tp.fill(false);
    }
    for (size_t t = 0; t < thr.size(); ++t) {
      std::vector<bool> taken(g_idx.size(), false);
      for (size_t d = 0; d < d_idx.size(); ++d) {
        // Greedy, best score first: the unmatched ground truth with the highest IoU >= t.
        double best = std::min(thr[t], 1 - 1e-10);
        int match = -1;
        for (size_t g = 0; g < g_idx.size(); ++g) {
          if (taken[g]) continue;
          const double v = iou_d(dets_in[d_idx[d]].box, gts[g_idx[g]].box);
          if (v < best) continue;
          best = v;
          match = static_cast<int>(g);
        }
        if (match >= 0) {
          taken[match] = true;
          scored[d].tp[t] = true;
        }
      }
    }
    auto& dst = per_class_[c];
    dst.insert(dst.end(), scored.begin(), scored.end());
  }
}

MapResult MapEvaluator::compute() const {
  MapResult r;
  r.images = images_;
  r.ap50.assign(num_classes_, -1.0);
  r.ap50_95.assign(num_classes_, -1.0);
  r.gt_count = gt_count_;
  double sum50 = 0, sum = 0;
  for (int c = 0; c < num_classes_; ++c) {
    if (gt_count_[c] == 0) continue;  // COCO leaves such classes out of the mean
    std::vector<Scored> dets = per_class_[c];
    std::stable_sort(dets.begin(), dets.end(),
                     [](const Scored& a, const Scored& b) { return a.score > b.score; });
    double total = 0;
    for (size_t t = 0; t < 10; ++t) {
      std::vector<uint8_t> tp(dets.size());
      for (size_t i = 0; i < dets.size(); ++i) tp[i] = dets[i].tp[t];
      const double ap = average_precision(tp, gt_count_[c]);
      if (t == 0) r.ap50[c] = ap;
      total += ap;
    }
    r.ap50_95[c] = total / 10;
    sum50 += r.ap50[c];
    sum += r.ap50_95[c];
    ++r.classes_evaluated;
  }
  if (r.classes_evaluated > 0) {
    r.map50 = sum50 / r.classes_evaluated;
    r.map50_95 = sum / r.classes_evaluated;
  }
  return r;
}

Result<DatasetSpec> parse_data_yaml_text(const std::string& text, const fs::path& yaml_dir) {
  using R = Result<DatasetSpec>;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return R::Error("data.yaml: invalid YAML at line " + std::to_string(e.mark.line + 1) + ": " +
                    e.msg);
  }
  if (!root.IsMap()) return R::Error("data.yaml: expected a mapping with path/val/names");
  DatasetSpec spec;
  try {
    fs::path base = yaml_dir;
    if (root["path"] && !root["path"].IsNull()) {
      const fs::path p = root["path"].as<std::string>();
      base = p.is_absolute() ? p : yaml_dir / p;
    }
    spec.root = base.lexically_normal();
    const YAML::Node val = root["val"];
    if (!val || val.IsNull()) return R::Error("data.yaml: missing 'val' (the validation images)");
    if (!val.IsScalar())
      return R::Error("data.yaml: 'val' must be one folder or .txt list (line " +
                      std::to_string(val.Mark().line + 1) + ")");
    const fs::path v = val.as<std::string>();
    spec.val = (v.is_absolute() ? v : spec.root / v).lexically_normal();

    const YAML::Node names = root["names"];
    if (!names) return R::Error("data.yaml: missing 'names' (the class names)");
    if (names.IsSequence()) {
      for (const auto& n : names) spec.names.push_back(n.as<std::string>());
    } else if (names.IsMap()) {
      std::vector<std::pair<int, std::string>> items;
      for (const auto& kv : names)
        items.emplace_back(kv.first.as<int>(), kv.second.as<std::string>());
      std::sort(items.begin(), items.end());
      for (size_t i = 0; i < items.size(); ++i) {
        if (items[i].first != static_cast<int>(i))
          return R::Error("data.yaml: 'names' ids must be 0.." + std::to_string(items.size() - 1) +
                          " without gaps (missing " + std::to_string(i) + ")");
        spec.names.push_back(items[i].second);
      }
    } else {
      return R::Error("data.yaml: 'names' must be a list or an {id: name} map");
    }
    if (spec.names.empty()) return R::Error("data.yaml: 'names' is empty");
    if (root["nc"] && root["nc"].as<int>() != static_cast<int>(spec.names.size()))
      return R::Error("data.yaml: nc is " + root["nc"].as<std::string>() + " but names has " +
                      std::to_string(spec.names.size()) + " entries");
  } catch (const YAML::Exception& e) {
    return R::Error("data.yaml: line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  return spec;
}

Result<DatasetSpec> parse_data_yaml(const fs::path& yaml_file) {
  std::ifstream in(yaml_file);
  if (!in) return Result<DatasetSpec>::Error("cannot read data set file " + yaml_file.string());
  std::stringstream ss;
  ss << in.rdbuf();
  auto r = parse_data_yaml_text(ss.str(), yaml_file.parent_path());
  if (!r) return Result<DatasetSpec>::Error(yaml_file.string() + ": " + r.error());
  return r;
}

namespace {

bool is_image(const fs::path& p) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return std::tolower(c); });
  return e == ".jpg" || e == ".jpeg" || e == ".png" || e == ".bmp" || e == ".webp" || e == ".tif" ||
         e == ".tiff";
}

// Ultralytics' img2label_paths: the last "/images/" becomes "/labels/", extension .txt.
fs::path label_path_for(const fs::path& image) {
  std::string s = image.string();
  const auto pos = s.rfind("/images/");
  if (pos != std::string::npos) s.replace(pos, 8, "/labels/");
  return fs::path(s).replace_extension(".txt");
}

}  // namespace

Result<std::vector<LabelledImage>> list_val_images(const DatasetSpec& data) {
  using R = Result<std::vector<LabelledImage>>;
  std::vector<fs::path> images;
  std::error_code ec;
  if (fs::is_directory(data.val, ec)) {
    for (auto it = fs::recursive_directory_iterator(data.val, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
      if (it->is_regular_file() && is_image(it->path())) images.push_back(it->path());
  } else if (fs::is_regular_file(data.val, ec) && data.val.extension() == ".txt") {
    std::ifstream in(data.val);
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      const fs::path p = line;
      images.push_back(p.is_absolute() ? p : (data.root / p).lexically_normal());
    }
  } else {
    return R::Error("validation images not found: " + data.val.string());
  }
  if (images.empty()) return R::Error("no images in " + data.val.string());
  std::sort(images.begin(), images.end());
  std::vector<LabelledImage> out;
  for (auto& p : images) out.push_back({p, label_path_for(p)});
  return out;
}

Result<std::vector<GroundTruth>> read_yolo_labels(const fs::path& label_file, cv::Size size,
                                                  int num_classes) {
  using R = Result<std::vector<GroundTruth>>;
  std::vector<GroundTruth> out;
  std::error_code ec;
  if (!fs::exists(label_file, ec)) return out;  // Ultralytics: no label file = no objects
  std::ifstream in(label_file);
  if (!in) return R::Error("cannot read " + label_file.string());
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    std::istringstream ls(line);
    std::vector<double> v;
    double x;
    while (ls >> x) v.push_back(x);
    if (v.empty()) continue;
    const std::string where = label_file.string() + ":" + std::to_string(n);
    if (!ls.eof()) return R::Error(where + ": not a number");
    if (v.size() != 5) return R::Error(where + ": expected 'class cx cy w h'");
    const int c = static_cast<int>(v[0]);
    if (c != v[0] || c < 0 || c >= num_classes)
      return R::Error(where + ": class " + std::to_string(v[0]) + " outside 0.." +
                      std::to_string(num_classes - 1));
    const double w = v[3] * size.width, h = v[4] * size.height;
    out.push_back({cv::Rect2f(static_cast<float>(v[1] * size.width - w / 2),
                              static_cast<float>(v[2] * size.height - h / 2), static_cast<float>(w),
                              static_cast<float>(h)),
                   c});
  }
  return out;
}

}  // namespace ev
