// Plate detector, rectification, OCR and masks on the shared plate photos and models.
#include <filesystem>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "edgevision/alpr.hpp"
#include "edgevision/preprocess.hpp"
#include "support/shared_models.hpp"
#include "support/test_support.hpp"

namespace ev {
namespace {

cv::Mat load(const std::string& rel) {
  const auto p = test::data(rel);
  cv::Mat img = cv::imread(p.string(), cv::IMREAD_COLOR);
  EXPECT_FALSE(img.empty()) << "missing shared asset " << p;
  return img;
}

TEST(Yolov5PlateDecoder, HandMadeRowsAreMappedBackAndSuppressed) {
  // Two overlapping single-row candidates and one two-row plate, in a 640 input that was
  // letterboxed from a 1280x640 frame (ratio 0.5, 160 px padding on top).
  std::vector<float> rows = {
      // cx, cy, w, h, obj, 4 corners, cls0, cls1
      320, 320, 100, 40, 0.9f, 270, 300, 370, 300, 370, 340, 270, 340, 0.9f, 0.1f,
      322, 321, 100, 40, 0.8f, 272, 301, 372, 301, 372, 341, 272, 341, 0.9f, 0.1f,
      100, 200, 60,  40, 0.7f, 70,  180, 130, 180, 130, 220, 70,  220, 0.2f, 0.9f,
      500, 500, 60,  40, 0.2f, 0,   0,   0,   0,   0,   0,   0,   0,   0.9f, 0.1f,  // below conf
  };
  auto out = decode_yolov5_plates(rows.data(), 4, 15, 0.3f, 0.5f, 0.5f, {0.f, 160.f});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_NEAR(out[0].score, 0.81f, 1e-5);
  EXPECT_NEAR(out[0].box.x, 540.f, 1e-3);  // (270 - 0) / 0.5
  EXPECT_NEAR(out[0].box.y, 280.f, 1e-3);  // (300 - 160) / 0.5
  EXPECT_NEAR(out[0].box.width, 200.f, 1e-3);
  EXPECT_NEAR(out[0].corners[2].x, 740.f, 1e-3);
  EXPECT_EQ(out[0].rows, 1);
  EXPECT_EQ(out[1].rows, 2);
}

TEST(RectifyPlate, CornersUndoAPerspectiveWarp) {
  // A synthetic plate (white, black bar on the left half) seen through a perspective warp.
  cv::Mat plate(100, 400, CV_8UC3, cv::Scalar::all(255));
  plate(cv::Rect(0, 0, 200, 100)).setTo(cv::Scalar::all(0));
  const cv::Point2f src[4] = {{0, 0}, {400, 0}, {400, 100}, {0, 100}};
  const cv::Point2f dst[4] = {{120, 90}, {480, 130}, {470, 240}, {110, 180}};
  cv::Mat scene(400, 640, CV_8UC3, cv::Scalar(0, 128, 0));
  cv::warpPerspective(plate, scene, cv::getPerspectiveTransform(src, dst), scene.size(),
                      cv::INTER_LINEAR, cv::BORDER_TRANSPARENT);
  PlateDetection d;
  d.box = cv::Rect2f(110, 90, 370, 150);
  for (int k = 0; k < 4; ++k) d.corners[k] = dst[k];
  d.has_corners = true;
  cv::Mat out = rectify_plate(scene, d, {128, 64});
  ASSERT_EQ(out.size(), cv::Size(128, 64));
  // Left half dark, right half light, no green background left.
  EXPECT_LT(cv::mean(out(cv::Rect(8, 8, 48, 48)))[1], 40);
  EXPECT_GT(cv::mean(out(cv::Rect(72, 8, 48, 48)))[0], 215);
  // Without corners: the axis-aligned box, which does include the green background.
  d.has_corners = false;
  cv::Mat box = rectify_plate(scene, d, {128, 64});
  ASSERT_EQ(box.size(), cv::Size(128, 64));
  EXPECT_GT(cv::mean(box(cv::Rect(0, 50, 20, 14)))[1], cv::mean(box(cv::Rect(0, 50, 20, 14)))[0]);
}

TEST(RectifyPlate, CropVariantsTakeMoreContextTheBoxOrOneRow) {
  // A uniform grey scene with a white plate whose corners are known; a two-row plate.
  cv::Mat scene(300, 400, CV_8UC3, cv::Scalar::all(60));
  scene(cv::Rect(100, 100, 200, 60)).setTo(cv::Scalar::all(255));
  PlateDetection d;
  d.box = cv::Rect2f(100, 100, 200, 60);
  d.corners = {cv::Point2f(100, 100), {300, 100}, {300, 160}, {100, 160}};
  d.has_corners = true;
  const auto vs = crop_variants(0.05f, 3);
  ASSERT_EQ(vs.size(), 3u);
  EXPECT_EQ(crop_variants(0.05f, 1).size(), 1u);
  EXPECT_FLOAT_EQ(vs[0].margin_x, 0.05f);
  EXPECT_TRUE(vs[1].corners);
  EXPECT_FALSE(vs[2].corners);
  const cv::Mat tight = rectify_plate(scene, d, {200, 100}, vs[0]);
  const cv::Mat wide = rectify_plate(scene, d, {200, 100}, vs[1]);
  // More context: more of the grey surround in the crop.
  EXPECT_LT(cv::mean(wide)[0], cv::mean(tight)[0] - 10);
  // The box cut (no corners) sees the same plate here.
  const cv::Mat box = rectify_plate(scene, d, {200, 100}, vs[2]);
  EXPECT_NEAR(cv::mean(box)[0], cv::mean(wide)[0], 8);
  // A two-row plate is split and put side by side unless split_rows is off.
  scene(cv::Rect(100, 100, 200, 25)).setTo(cv::Scalar::all(0));  // dark top row
  d.rows = 2;
  CropVariant one_row = vs[0];
  one_row.split_rows = false;
  const cv::Mat split = rectify_plate(scene, d, {200, 100}, vs[0]);
  const cv::Mat whole = rectify_plate(scene, d, {200, 100}, one_row);
  // Whole plate: the dark row is at the top across the width; split: the top row is on the
  // left half only, so the top of the right half is light.
  EXPECT_LT(cv::mean(whole(cv::Rect(120, 10, 60, 20)))[0], 80);
  EXPECT_GT(cv::mean(split(cv::Rect(120, 10, 60, 20)))[0], 170);
}

class AlprModels : public ::testing::Test {
 protected:
  ModelManager models{test::shared_model_options("alpr_models")};
};

TEST_F(AlprModels, CctReadsGroundTruthCrops) {
  auto ocr = create_plate_ocr({}, models);
  ASSERT_TRUE(ocr) << ocr.error();
  EXPECT_EQ((*ocr)->name(), "cct");
  EXPECT_EQ((*ocr)->input_size(), cv::Size(128, 64));
  struct Case {
    const char* image;
    const char* text;
    cv::Rect box;
  } cases[] = {{"plates/images/eu/eu1.jpg", "M5XSX", {396, 340, 203, 46}},
               {"plates/images/br/AYO9034.jpg", "AYO9034", {528, 412, 162, 52}},
               {"plates/images/us/us7.jpg", "5VCF203", {344, 210, 293, 146}}};
  int right = 0;
  for (const auto& c : cases) {
    cv::Mat img = load(c.image);
    ASSERT_FALSE(img.empty());
    auto r = (*ocr)->read(img(c.box));
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->text, c.text);
    EXPECT_GT(r->confidence, 0.5f);
    right += r->text == c.text;
  }
  EXPECT_EQ(right, 3);
  EXPECT_FALSE((*ocr)->read(cv::Mat()));
}

TEST_F(AlprModels, TesseractIsAvailableAsBaseline) {
  OcrParams p;
  p.engine = "tesseract";
  auto ocr = create_plate_ocr(p, models);
  ASSERT_TRUE(ocr) << ocr.error();
  // A clean rendered plate is within Tesseract's reach.
  cv::Mat plate(60, 260, CV_8UC3, cv::Scalar::all(255));
  cv::putText(plate, "KX52ABC", {10, 45}, cv::FONT_HERSHEY_SIMPLEX, 1.4, cv::Scalar::all(0), 3);
  auto r = (*ocr)->read(plate);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->text, "KX52ABC");
  p.engine = "nope";
  EXPECT_FALSE(create_plate_ocr(p, models));
}

TEST_F(AlprModels, PlateDetectorFindsTheLabelledPlate) {
  auto det = create_plate_detector({}, models);
  ASSERT_TRUE(det) << det.error();
  EXPECT_EQ((*det)->name(), "plate-yolov5");
  cv::Mat img = load("plates/images/eu/eu1.jpg");
  ASSERT_FALSE(img.empty());
  std::vector<PlateDetection> plates;
  ASSERT_TRUE((*det)->detect(img, {}, plates).ok());
  ASSERT_FALSE(plates.empty());
  EXPECT_GT(iou(plates[0].box, cv::Rect2f(396, 340, 203, 46)), 0.5f);
  EXPECT_TRUE(plates[0].has_corners);
  // Searching only a region without the plate finds nothing there.
  ASSERT_TRUE((*det)->detect(img, cv::Rect(0, 0, 200, 200), plates).ok());
  for (const auto& p : plates) EXPECT_TRUE((cv::Rect2f(0, 0, 200, 200) & p.box).area() > 0);
}

TEST_F(AlprModels, MissingPlateModelFallsBackToHaar) {
  PlateDetectorParams p;
  p.model = "no-such-plate-model";
  auto det = create_plate_detector(p, models);
  ASSERT_TRUE(det) << det.error();
  EXPECT_EQ((*det)->name(), "haar-plate");
  p.fallback_to_haar = false;
  EXPECT_FALSE(create_plate_detector(p, models));
}

TEST_F(AlprModels, EngineReadsAStillPhotoEndToEnd) {
  AlprParams params;
  auto engine = AlprEngine::create(params, models, "yolox-nano");
  ASSERT_TRUE(engine) << engine.error();
  cv::Mat img = load("plates/images/eu/eu1.jpg");
  std::vector<PlateRead> reads;
  ASSERT_TRUE((*engine)->process_image(img, reads).ok());
  bool found = false;
  for (const auto& r : reads) found |= r.voted.text == "M5XSX";
  EXPECT_TRUE(found);
  // Each plate is read from read_variants cuts.
  EXPECT_EQ((*engine)->stats().ocr_calls, static_cast<int64_t>(reads.size()) * 3);
}

TEST_F(AlprModels, MosaicFindsThePlatesOfSeveralVehiclesInOnePass) {
  // Two cars side by side (eu1.jpg twice): with the mosaic both vehicle crops go through one
  // plate-detector pass, and each plate comes back where it is in the frame.
  const cv::Mat one = load("plates/images/eu/eu1.jpg");
  ASSERT_FALSE(one.empty());
  cv::Mat two;
  cv::hconcat(one, one, two);
  const cv::Rect2f left(396, 340, 203, 46), right = left + cv::Point2f(one.cols, 0);
  for (bool mosaic : {true, false}) {
    AlprParams params;
    params.plate_mosaic = mosaic;
    params.haar_second_chance = false;
    auto engine = AlprEngine::create(params, models, "yolox-nano");
    ASSERT_TRUE(engine) << engine.error();
    std::vector<PlateRead> reads;
    ASSERT_TRUE((*engine)->process_image(two, reads).ok());
    int found = 0;
    for (const auto& r : reads)
      if ((iou(r.box, left) > 0.5f || iou(r.box, right) > 0.5f) && r.voted.text == "M5XSX") {
        ++found;
        EXPECT_FALSE(r.vehicle.empty());
      }
    EXPECT_EQ(found, 2) << "mosaic " << mosaic;
  }
}

TEST_F(AlprModels, CropVariantsRecoverAPlateTheTightCutMisreads) {
  // us8: the plate model's corners cut the top of the characters (the tight cut alone reads
  // "FA76913"); the wider cuts see whole characters and outvote it.
  AlprParams params;
  auto engine = AlprEngine::create(params, models, "yolox-nano");
  ASSERT_TRUE(engine) << engine.error();
  cv::Mat img = load("plates/images/us/us8.jpg");
  std::vector<PlateRead> reads;
  ASSERT_TRUE((*engine)->process_image(img, reads).ok());
  std::string text;
  float best = 0.05f;  // the labelled plate is the best-overlapping detection (as alpr-eval)
  for (const auto& r : reads) {
    const float o = iou(r.box, cv::Rect2f(310, 273, 329, 164));
    if (o > best) {
      best = o;
      text = r.voted.text;
    }
  }
  EXPECT_EQ(text, "EAZ6913");
}

TEST(PlateMask, OnlyThePlateAndItsMarginChange) {
  cv::Mat img(200, 300, CV_8UC3);
  cv::randu(img, cv::Scalar::all(0), cv::Scalar::all(255));
  const cv::Mat before = img.clone();
  mask_plates(img, {cv::Rect2f(100, 80, 100, 30)}, 0.1f);
  const cv::Rect grown(90, 77, 120, 36);
  cv::Mat diff;
  cv::absdiff(img, before, diff);
  cv::Mat inside = diff(grown).clone();
  diff(grown).setTo(cv::Scalar::all(0));
  EXPECT_EQ(cv::countNonZero(diff.reshape(1)), 0);                         // outside untouched
  EXPECT_GT(cv::countNonZero(inside.reshape(1)), inside.total() * 3 / 2);  // inside replaced
}

}  // namespace
}  // namespace ev
