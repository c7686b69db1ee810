// make_detect_handlers over a real Anonymizer (with a scripted face detector): masks land in
// the image before anything else sees it, and a failing face detector fails the request closed.
#include <gtest/gtest.h>

#include "edgevision/anonymize.hpp"
#include "edgevision/server.hpp"

namespace ev {
namespace {

class ScriptedFaces : public FaceDetector {
 public:
  explicit ScriptedFaces(bool fail) : fail_(fail) {}
  std::string name() const override { return "scripted"; }
  Result<std::vector<Face>> detect(const cv::Mat&) override {
    if (fail_) return Result<std::vector<Face>>::Error("model crashed");
    Face f;
    f.box = cv::Rect2f(20, 20, 40, 40);
    return std::vector<Face>{f};
  }

 private:
  bool fail_;
};

std::shared_ptr<Anonymizer> anonymizer(bool fail) {
  AnonymizerOptions o;
  o.method = AnonymizeMethod::kBlackBox;
  return Anonymizer::create_with_detector(o, std::make_unique<ScriptedFaces>(fail));
}

TEST(DetectHandlers, MasksFacesInPlace) {
  DetectHandlers h = make_detect_handlers(anonymizer(false), nullptr);
  ASSERT_TRUE(h.valid());
  EXPECT_FALSE(h.detect);  // no object detector: /detect only anonymizes
  cv::Mat img(120, 160, CV_8UC3, cv::Scalar(255, 255, 255));
  auto faces = h.anonymize(img);
  ASSERT_TRUE(faces.ok()) << faces.error();
  EXPECT_EQ(*faces, 1);
  EXPECT_EQ(img.at<cv::Vec3b>(40, 40), cv::Vec3b(0, 0, 0));
  EXPECT_EQ(img.at<cv::Vec3b>(110, 150), cv::Vec3b(255, 255, 255));
}

TEST(DetectHandlers, FailsClosed) {
  DetectHandlers h = make_detect_handlers(anonymizer(true), nullptr);
  cv::Mat img(120, 160, CV_8UC3, cv::Scalar(255, 255, 255));
  EXPECT_FALSE(h.anonymize(img).ok());
  EXPECT_FALSE(make_detect_handlers(nullptr, nullptr).valid());
}

}  // namespace
}  // namespace ev
