// Plate events from the real camera pipeline: the plate's vehicle comes from the object tracks.
#include <gtest/gtest.h>

#include <chrono>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include "edgevision/alpr.hpp"
#include "edgevision/pipeline.hpp"
#include "support/camera_run.hpp"
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
  test::CameraRun run(ps, models, std::chrono::minutes(5));
  ASSERT_TRUE(run.error().empty()) << run.error();
  EXPECT_TRUE(run.finished());
  run.stop();  // drains the OCR queue
  std::vector<nlohmann::json> reads;
  for (const auto& e : run.events()) {
    if (e["type"] == "plate_read") reads.push_back(e);
  }
  ASSERT_FALSE(reads.empty());
  EXPECT_EQ(reads[0]["text"], "77TRSH");
  EXPECT_EQ(reads[0]["vehicle"], "car") << reads[0].dump();
}

// car2.jpg's plate (86x43 px on a truck, 1024x768) is missed by the whole-frame plate pass; in
// the real pipeline the track thread hands the truck's box to the plate stage, whose vehicle
// pass then masks the plate in the frames that follow (here: the same photo, 16 frames).
TEST(PlateMasks, ServiceMasksASmallPlateThroughTheVehicleTracks) {
  const cv::Mat photo =
      cv::imread(test::data("plates/images/us/car2.jpg").string(), cv::IMREAD_COLOR);
  ASSERT_FALSE(photo.empty()) << "missing shared asset plates/images/us/car2.jpg";
  const cv::Rect plate(209, 626, 86, 43);  // labels.csv: 1049338
  const auto clip = test::temp_dir("plate-mask-pipeline") / "car2.avi";
  {
    cv::VideoWriter w(clip.string(), cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 5, photo.size());
    ASSERT_TRUE(w.isOpened());
    for (int i = 0; i < 16; ++i) w.write(photo);
  }
  ModelManager models(test::shared_model_options("plate-events-cache"));
  auto ocr = create_plate_ocr(OcrParams{}, models);
  ASSERT_TRUE(ocr) << ocr.error();
  // The last output frame (the camera's snapshot) and what the OCR reads in its plate box.
  auto run = [&](bool vehicle_pass, double& masked, std::string& read) {
    PipelineSettings ps;
    ps.camera.id = "yard";
    ps.camera.source = clip.string();
    ps.detection.threads = 1;
    ps.privacy.plates = true;
    ps.alpr.vehicle_pass = vehicle_pass;
    test::CameraRun cam(ps, models, std::chrono::minutes(5));
    ASSERT_TRUE(cam.error().empty()) << cam.error();
    ASSERT_TRUE(cam.finished());
    const auto jpeg = cam.pipeline().snapshot_jpeg();
    cam.stop();
    ASSERT_TRUE(jpeg.has_value());
    const cv::Mat out = cv::imdecode(*jpeg, cv::IMREAD_COLOR);
    ASSERT_EQ(out.size(), photo.size());
    masked = plate_mask_coverage(photo, out, {plate}).masked.at(0);
    PlateDetection d;
    d.box = plate;
    auto r = (*ocr)->read(rectify_plate(out, d, (*ocr)->input_size(), 0.05f));
    ASSERT_TRUE(r) << r.error();
    read = r->text;
  };
  double masked_off = 0, masked_on = 0;
  std::string read_off, read_on;
  run(false, masked_off, read_off);
  run(true, masked_on, read_on);
  RecordProperty("masked", std::to_string(masked_on));
  EXPECT_LE(edit_distance(read_off, "1049338"), 1) << "without the vehicle pass the plate "
                                                      "was expected to leak: "
                                                   << read_off;
  EXPECT_GE(masked_on, 0.7);
  EXPECT_GT(edit_distance(read_on, "1049338"), 1) << read_on;
}

}  // namespace
}  // namespace ev
