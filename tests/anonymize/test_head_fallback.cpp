// Head fallback: persons whose head holds no detected face get their head region masked.
#include <algorithm>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "edgevision/anonymize.hpp"
#include "support/shared_models.hpp"

namespace ev {
namespace {

Detection person(float x, float y, float w, float h, float score = 0.9f) {
  Detection d;
  d.box = {x, y, w, h};
  d.score = score;
  d.class_id = 0;
  d.label = "person";
  return d;
}

TEST(HeadRegion, TopOfThePersonSizedByShouldersOrHeight) {
  // Upper body (wide box): the head square follows the width.
  const cv::Rect2f upper = head_region({100, 100, 200, 260});
  EXPECT_NEAR(upper.x + upper.width / 2, 200.f, 1e-3);
  EXPECT_LT(upper.y, 100.f);  // a little above the box: boxes often cut the hair
  EXPECT_LT(upper.br().y, 100.f + 260.f / 2);
  EXPECT_GT(upper.width, 100.f);
  // Standing person (tall, narrow box): capped by the height, still at the top.
  const cv::Rect2f standing = head_region({0, 0, 60, 300});
  EXPECT_LE(standing.width, 60.f * 0.6f * 1.2f + 1e-3f);
  EXPECT_LT(standing.br().y, 100.f);
}

TEST(HeadRegion, OnlyPersonsWithoutAFaceInTheirHead) {
  Face face;
  face.box = {180, 110, 40, 50};  // centre (200,135) lies in the first person's head region
  const std::vector<Detection> persons = {person(100, 100, 200, 260), person(400, 100, 200, 260),
                                          person(700, 100, 200, 260, 0.2f)};
  const auto heads = heads_without_faces(persons, {face}, 0.35f);
  ASSERT_EQ(heads.size(), 1u);  // second person only: the first has a face, the third scores low
  EXPECT_NEAR(heads[0].x + heads[0].width / 2, 500.f, 1e-3);
}

ModelManager& shared_models() {
  static ModelManager mm(test::shared_model_options("head-fallback-cache"));
  return mm;
}

// person.jpg (../shared/data/images): a real photo of a person seen from behind. Its head is
// covered by a flat patch (as a hood, a hand or a sign would), so no face detector finds it;
// the object detector still finds the person, and the head fallback masks the head.
TEST(HeadFallback, MasksAPersonWhoseFaceIsHidden) {
  cv::Mat photo = cv::imread(test::data("images/person.jpg").string());
  ASSERT_FALSE(photo.empty());
  const cv::Rect head(208, 92, 48, 58);  // the walker's head and hat in this 640x424 photo
  photo(head).setTo(cv::Scalar(200, 190, 180));
  AnonymizerOptions options;
  options.method = AnonymizeMethod::kBlackBox;
  options.detector.threads = 2;
  options.head_fallback.detector.threads = 2;
  options.head_fallback.enabled = false;
  const auto covered = [&](const FrameResult& r) {
    int best = 0;
    for (const cv::Rect& m : r.masks) best = std::max(best, (m & head).area());
    return static_cast<double>(best) / head.area();
  };
  auto faces_only = Anonymizer::create(options, shared_models());
  ASSERT_TRUE(faces_only.ok()) << faces_only.error();
  cv::Mat a = photo.clone();
  const FrameResult without = (*faces_only)->process(a);
  ASSERT_TRUE(without.emitted);
  EXPECT_EQ(without.heads_masked, 0);
  EXPECT_LT(covered(without), 0.3);  // the face detector alone leaves the head

  options.head_fallback.enabled.reset();  // the default at level medium: on
  auto with_heads = Anonymizer::create(options, shared_models());
  ASSERT_TRUE(with_heads.ok()) << with_heads.error();
  EXPECT_TRUE((*with_heads)->head_fallback_note().empty()) << (*with_heads)->head_fallback_note();
  cv::Mat b = photo.clone();
  const FrameResult with = (*with_heads)->process(b);
  ASSERT_TRUE(with.emitted);
  EXPECT_GE(with.heads_masked, 1);
  EXPECT_GT(covered(with), 0.8);
  for (const cv::Rect& m : with.masks) EXPECT_LT(m.area(), photo.total() / 20);  // a head

  // Level low: no head fallback unless asked for.
  options.level = PrivacyLevel::kLow;
  auto low = Anonymizer::create(options, shared_models());
  ASSERT_TRUE(low.ok());
  cv::Mat c = photo.clone();
  EXPECT_EQ((*low)->process(c).heads_masked, 0);
}

// Persons handed over by a pipeline (set_persons) are used without a detector of its own.
TEST(HeadFallback, UsesPersonsFromThePipeline) {
  AnonymizerOptions options;
  options.head_fallback.own_detector = false;
  options.detector.threads = 2;
  auto anonymizer = Anonymizer::create(options, shared_models());
  ASSERT_TRUE(anonymizer.ok()) << anonymizer.error();
  cv::Mat frame(480, 640, CV_8UC3, cv::Scalar(90, 120, 150));
  EXPECT_EQ((*anonymizer)->process(frame).heads_masked, 0);  // no persons known yet
  Detection car = person(300, 100, 200, 100);
  car.label = "car";
  (*anonymizer)->set_persons({person(100, 100, 120, 300), car});
  const FrameResult r = (*anonymizer)->process(frame);
  EXPECT_EQ(r.heads_masked, 1);  // the car is not a person
}

}  // namespace
}  // namespace ev
