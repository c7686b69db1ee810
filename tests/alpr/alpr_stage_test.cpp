// PlateStage: plate masks in output frames, the OCR thread's bounded queue, plate events.
#include <chrono>
#include <thread>

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

Track vehicle(int64_t id, const std::string& label, cv::Rect2f box) {
  Track t;
  t.id = id;
  t.label = label;
  t.box = box;
  t.state = TrackState::kTracked;
  return t;
}

TEST(PlateOwner, TheSmallestVehicleHoldingThePlateCentre) {
  const std::vector<std::string> classes{"car", "truck", "bus", "motorcycle"};
  const cv::Rect2f plate(100, 190, 40, 12);  // centre (120, 196)
  const std::vector<Track> tracks{
      vehicle(1, "truck", {0, 0, 400, 300}),     // holds it, but bigger
      vehicle(2, "car", {60, 100, 120, 90}),     // bottom edge at 190: inside only when grown
      vehicle(3, "person", {110, 150, 20, 60}),  // smaller, not a vehicle class
      vehicle(4, "car", {300, 100, 80, 80}),     // elsewhere
  };
  EXPECT_EQ(plate_owner(plate, tracks, classes), 1);
  EXPECT_EQ(plate_owner(plate, {tracks[0], tracks[3]}, classes), 0);
  EXPECT_EQ(plate_owner(plate, {tracks[2], tracks[3]}, classes), -1);
  EXPECT_EQ(plate_owner(plate, {}, classes), -1);
  // A tentative track (id 0) only when no confirmed one holds the plate.
  const Track tentative = vehicle(0, "bus", {90, 150, 60, 50});
  EXPECT_EQ(plate_owner(plate, {tracks[0], tentative}, classes), 0);
  EXPECT_EQ(plate_owner(plate, {tentative, tracks[3]}, classes), 0);
}

TEST_F(PlateStageTest, EventsNameTheVehicleTrackThePlateBelongsTo) {
  ASSERT_FALSE(photo.empty());
  PlateStageOptions o;
  o.camera = "cam";
  o.read = true;
  o.vehicle_wait_ms = 5000;
  auto stage = PlateStage::create(o, models, emit);
  ASSERT_TRUE(stage) << stage.error();
  (*stage)->start();
  ASSERT_TRUE((*stage)->submit(work(3)));
  // The track thread is behind: the OCR thread waits for frame 3's vehicles.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  {
    std::lock_guard lock(mutex);
    EXPECT_TRUE(events.empty());
  }
  (*stage)->set_vehicles(2, {vehicle(9, "truck", {0, 0, 800, 600})});
  (*stage)->set_vehicles(
      3, {vehicle(7, "car", {300, 150, 400, 260}), vehicle(8, "person", {450, 300, 60, 100})});
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  {
    std::lock_guard lock(mutex);
    EXPECT_TRUE(events.empty());  // it waits for two frames more (a new vehicle's track lags)
  }
  (*stage)->set_vehicles(4, {vehicle(7, "car", {305, 150, 400, 260})});
  (*stage)->set_vehicles(5, {});
  const auto t0 = std::chrono::steady_clock::now();
  for (;;) {
    {
      std::lock_guard lock(mutex);
      if (!events.empty()) break;
    }
    ASSERT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  (*stage)->stop();
  std::lock_guard lock(mutex);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["text"], "M5XSX");
  EXPECT_EQ(events[0]["vehicle"], "car");
  EXPECT_EQ(events[0]["vehicle_track_id"], 7);
  const auto plates = (*stage)->summaries();
  ASSERT_EQ(plates.size(), 1u);
  EXPECT_EQ(plates[0].vehicle, "car");
}

TEST_F(PlateStageTest, AVehicleTrackedFromTheNextFrameStillNamesThePlate) {
  ASSERT_FALSE(photo.empty());
  PlateStageOptions o;
  o.camera = "cam";
  o.read = true;
  o.vehicle_wait_ms = 60000;
  auto stage = PlateStage::create(o, models, emit);
  ASSERT_TRUE(stage) << stage.error();
  (*stage)->set_vehicles(0, {});
  (*stage)->set_vehicles(1, {vehicle(0, "car", {300, 150, 400, 260})});  // tentative
  (*stage)->vehicles_ended();  // the source ended after frame 1: no minute's wait
  ASSERT_TRUE((*stage)->submit(work(0)));
  const auto t0 = std::chrono::steady_clock::now();
  (*stage)->start();
  (*stage)->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  std::lock_guard lock(mutex);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["vehicle"], "car");
  EXPECT_FALSE(events[0].contains("vehicle_track_id"));  // not confirmed yet
}

TEST_F(PlateStageTest, WithoutVehiclesTheEventSaysNullAndStopDoesNotWait) {
  ASSERT_FALSE(photo.empty());
  PlateStageOptions o;
  o.camera = "cam";
  o.read = true;
  o.vehicle_wait_ms = 60000;
  auto stage = PlateStage::create(o, models, emit);
  ASSERT_TRUE(stage) << stage.error();
  ASSERT_TRUE((*stage)->submit(work(0)));
  (*stage)->start();
  const auto t0 = std::chrono::steady_clock::now();
  (*stage)->stop();  // no track thread ever reports: stop drains without the minute's wait
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  std::lock_guard lock(mutex);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(events[0]["vehicle"].is_null());
  EXPECT_FALSE(events[0].contains("vehicle_track_id"));
}

}  // namespace
}  // namespace ev
