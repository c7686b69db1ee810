// PlateStage: plate masks in output frames, the OCR thread's bounded queue, plate events.
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "edgevision/alpr.hpp"
#include "support/shared_models.hpp"
#include "support/test_support.hpp"

namespace ev {
namespace {

const cv::Rect kPlate(396, 340, 203, 46);  // eu1.jpg, "M5XSX"

class PlateStageTest : public ::testing::Test {
 protected:
  ModelManager models{test::shared_model_options("alpr_stage")};
  cv::Mat photo = cv::imread(test::data("plates/images/eu/eu1.jpg").string(), cv::IMREAD_COLOR);
  std::mutex mutex;
  std::vector<nlohmann::json> events;
  PlateStage::Emit emit = [this](nlohmann::json e) {
    std::lock_guard lock(mutex);
    events.push_back(std::move(e));
  };

  PlateWork work(int64_t index) {
    PlateWork w;
    w.frame_index = index;
    w.frame_diagonal = 1000.f;
    PlateDetection d;
    d.box = cv::Rect2f(kPlate);
    d.score = 0.9f;
    w.plates = {d};
    w.crops = {{rectify_plate(photo, d, {128, 64}, 0.05f)}};
    return w;
  }
};

TEST_F(PlateStageTest, PlatesAreMaskedInTheFrameByDefault) {
  ASSERT_FALSE(photo.empty()) << "missing shared asset plates/images/eu/eu1.jpg";
  PlateStageOptions o;
  o.camera = "cam";
  auto stage = PlateStage::create(o, models, emit);
  ASSERT_TRUE(stage) << stage.error();
  cv::Mat frame = photo.clone();
  ASSERT_TRUE((*stage)->process(frame, 0, 0).ok());
  EXPECT_GE((*stage)->plates_masked(), 1);
  cv::Mat diff;
  cv::absdiff(frame(kPlate), photo(kPlate), diff);
  EXPECT_GT(cv::countNonZero(diff.reshape(1)), static_cast<int>(diff.total()));  // plate changed
  cv::absdiff(frame(cv::Rect(0, 0, 200, 150)), photo(cv::Rect(0, 0, 200, 150)), diff);
  EXPECT_EQ(cv::countNonZero(diff.reshape(1)), 0);  // far away: untouched
  // privacy.plates: false leaves the frame as it was.
  o.mask = false;
  auto off = PlateStage::create(o, models, emit);
  ASSERT_TRUE(off) << off.error();
  cv::Mat same = photo.clone();
  ASSERT_TRUE((*off)->process(same, 0, 0).ok());
  cv::absdiff(same, photo, diff);
  EXPECT_EQ(cv::countNonZero(diff.reshape(1)), 0);
}

TEST_F(PlateStageTest, OcrQueueIsBoundedAndDropsAreCounted) {
  ASSERT_FALSE(photo.empty());
  PlateStageOptions o;
  o.camera = "cam";
  o.read = true;
  o.queue_size = 3;
  auto stage = PlateStage::create(o, models, emit);
  ASSERT_TRUE(stage) << stage.error();
  // The OCR thread is not running yet: a burst of 10 frames keeps only the newest 3.
  for (int i = 0; i < 10; ++i) EXPECT_TRUE((*stage)->submit(work(i)));
  EXPECT_EQ((*stage)->dropped(), 7);
  (*stage)->start();
  (*stage)->stop();  // drains what is queued
  EXPECT_FALSE((*stage)->submit(work(11)));
  const auto plates = (*stage)->summaries();
  ASSERT_EQ(plates.size(), 1u);
  EXPECT_EQ(plates[0].voted.text, "M5XSX");
  // One read settles this confident plate: the other queued frames cost no OCR.
  EXPECT_EQ((*stage)->ocr_calls(), 1);
  std::lock_guard lock(mutex);
  ASSERT_EQ(events.size(), 1u);  // plate_read once; no plate_updated for the same text
  EXPECT_EQ(events[0]["type"], "plate_read");
  EXPECT_EQ(events[0]["text"], "M5XSX");
  EXPECT_EQ(events[0]["camera"], "cam");
  EXPECT_EQ(events[0]["frame_index"], 7);
  EXPECT_EQ(events[0]["box"][2], kPlate.width);
}

TEST_F(PlateStageTest, KnownPlatesAreFlagged) {
  ASSERT_FALSE(photo.empty());
  PlateStageOptions o;
  o.camera = "cam";
  o.read = true;
  o.known.deny = {"M5XS"};  // one character off
  auto stage = PlateStage::create(o, models, emit);
  ASSERT_TRUE(stage) << stage.error();
  (*stage)->start();
  ASSERT_TRUE((*stage)->submit(work(0)));
  (*stage)->stop();
  std::lock_guard lock(mutex);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["known"], "deny");
}

}  // namespace
}  // namespace ev
