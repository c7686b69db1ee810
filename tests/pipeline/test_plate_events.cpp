// Plate events from the real camera pipeline: the plate's vehicle comes from the object tracks.
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <thread>

#include "edgevision/pipeline.hpp"
#include "support/shared_models.hpp"
#include "support/test_support.hpp"

namespace ev {
namespace {

TEST(PlateEvents, PlateReadNamesTheVehicleClass) {
  // Video86_2.avi: one car close to the camera, plate 77-TR-SH, read on frame 0 (before the
  // car's track is confirmed: its tentative track gives the class).
  PipelineSettings ps;
  ps.camera.id = "gate";
  ps.camera.source = test::data("video/lpr_nl/Video86_2.avi").string();
  ps.detection.threads = 1;
  ps.alpr.enabled = true;
  ps.alpr.region = "nl";
  ModelManager models(test::shared_model_options("plate-events-cache"));
  std::mutex mutex;
  std::vector<nlohmann::json> events;
  auto p = CameraPipeline::create(ps, models, [&](nlohmann::json e) {
    std::lock_guard lock(mutex);
    events.push_back(std::move(e));
  });
  ASSERT_TRUE(p) << p.error();
  (*p)->start();
  const auto t0 = std::chrono::steady_clock::now();
  while (!(*p)->finished() && std::chrono::steady_clock::now() - t0 < std::chrono::minutes(5))
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE((*p)->finished());
  (*p)->stop();  // drains the OCR queue
  std::lock_guard lock(mutex);
  std::vector<nlohmann::json> reads;
  for (const auto& e : events) {
    if (e["type"] == "plate_read") reads.push_back(e);
  }
  ASSERT_FALSE(reads.empty());
  EXPECT_EQ(reads[0]["text"], "77TRSH");
  EXPECT_EQ(reads[0]["vehicle"], "car") << reads[0].dump();
}

}  // namespace
}  // namespace ev
