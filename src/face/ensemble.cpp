// Test-time augmentation and ensembles: more runs per frame for faces one run misses. A
// mirrored face is a different input to a CNN (profile faces, occluded halves), and the
// detectors we ship were trained on different data, so their misses differ; union + NMS keeps
// what any of them found.
#include <opencv2/core.hpp>

#include "face/face_internal.hpp"

namespace ev::face {
namespace {

class EnsembleFaceDetector final : public FaceDetector {
 public:
  EnsembleFaceDetector(std::vector<std::unique_ptr<FaceDetector>> members, bool flip)
      : members_(std::move(members)), flip_(flip) {}

  std::string name() const override {
    std::string n;
    for (const auto& m : members_) {
      if (!n.empty()) n += '+';
      n += m->name();
    }
    return flip_ ? n + "+flip" : n;
  }

  Result<std::vector<Face>> detect(const cv::Mat& bgr) override {
    std::vector<Face> all;
    if (bgr.empty()) return all;
    cv::Mat mirrored;
    if (flip_) cv::flip(bgr, mirrored, 1);
    const float w = static_cast<float>(bgr.cols);
    for (auto& m : members_) {
      // Any member failing fails the frame: a partial result would look like "no face there".
      auto faces = m->detect(bgr);
      if (!faces) return faces;
      all.insert(all.end(), faces->begin(), faces->end());
      if (!flip_) continue;
      auto flipped = m->detect(mirrored);
      if (!flipped) return flipped;
      for (auto& f : *flipped) {
        f.box.x = w - f.box.x - f.box.width;
        for (auto& p : f.landmarks) p.x = w - p.x;
        all.push_back(std::move(f));
      }
    }
    return merge_faces(std::move(all), 0.3f);
  }

  void set_small_face_runs(bool on) override {
    for (auto& m : members_) m->set_small_face_runs(on);
  }

 private:
  std::vector<std::unique_ptr<FaceDetector>> members_;
  bool flip_;
};

}  // namespace

std::unique_ptr<FaceDetector> make_ensemble(std::vector<std::unique_ptr<FaceDetector>> members,
                                            bool flip) {
  return std::make_unique<EnsembleFaceDetector>(std::move(members), flip);
}

}  // namespace ev::face
