// Decode + NMS + letterbox mapping for every layout, on tiny constant-output ONNX models
// (tests/detect/make_synthetic_models.py). All expected boxes are computed by hand below.
//
// Ultralytics-style models (bare files -> RGB, /255, centred letterbox), net 64x64, frame
// 128x64: scale = min(64/128, 64/64) = 0.5, resized 64x32, pad_y = (64-32)/2 = 16, pad_x = 0.
// frame = ((x - pad_x) / 0.5, (y - pad_y) / 0.5, w / 0.5, h / 0.5):
//   net centre (32,32) 20x10 -> net (22,27,20,10) -> frame (44,22,40,20)
//   net centre (10,20) 8x8   -> net (6,16,8,8)    -> frame (12,0,16,16)
//   net centre (40,30) 6x6   -> net (37,27,6,6)   -> frame (74,22,12,12)
//   net centre (50,50) 8x8   -> net (46,46,8,8)   -> frame (92,60,16,16), clipped to (92,60,16,4)
// The duplicate dog (centre 33,32) overlaps the first by 19x10: IoU = 190 / 210 = 0.90 > 0.45.
// The YOLOv8 model has a 96x96 input: scale 0.75, resized 96x48, pad_y = 24, so its net boxes
// are frame * 0.75 + (0,24): centre (48,48) 30x15 -> frame (44,22,40,20); (15,30) 12x12 ->
// (12,0,16,16); (60,45) 9x9 -> (74,22,12,12); (75,75) 12x12 -> (92,60,16,16) clipped.
#include <gtest/gtest.h>

#include "edgevision/detect.hpp"

namespace ev {
namespace {

std::filesystem::path synth(const std::string& name) {
  return std::filesystem::path(EV_SOURCE_DIR) / "tests/detect/data" / name;
}

std::unique_ptr<ObjectDetector> make(const std::string& file, DetectorParams p = {}) {
  p.model = synth(file).string();
  p.threads = 1;
  auto det = ObjectDetector::create(p, {synth(file)}, nullptr);
  EXPECT_TRUE(det.ok()) << det.error();
  return det.ok() ? std::move(det.value()) : nullptr;
}

void expect_box(const Detection& d, float x, float y, float w, float h) {
  EXPECT_NEAR(d.box.x, x, 1e-3);
  EXPECT_NEAR(d.box.y, y, 1e-3);
  EXPECT_NEAR(d.box.width, w, 1e-3);
  EXPECT_NEAR(d.box.height, h, 1e-3);
}

const cv::Mat kFrame(64, 128, CV_8UC3, cv::Scalar(50, 60, 70));

TEST(SyntheticLayouts, Yolov5DecodesObjTimesClassNmsAndLetterbox) {
  auto det = make("yolov5_synth.onnx");
  ASSERT_TRUE(det);
  EXPECT_EQ(det->decoder_name(), "yolov5");  // 252 rows = 3 anchors x 84 cells of 64x64
  EXPECT_EQ(det->input_size(), cv::Size(64, 64));
  auto r = det->detect(kFrame);
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].label, "dog");
  EXPECT_EQ((*r)[0].class_id, 16);
  EXPECT_NEAR((*r)[0].score, 0.72f, 1e-5);  // 0.9 * 0.8
  expect_box((*r)[0], 44, 22, 40, 20);
  EXPECT_EQ((*r)[1].label, "person");  // same box, other class: class-aware NMS keeps it
  EXPECT_NEAR((*r)[1].score, 0.45f, 1e-5);
  expect_box((*r)[1], 44, 22, 40, 20);
  EXPECT_EQ((*r)[2].label, "car");
  EXPECT_NEAR((*r)[2].score, 0.30f, 1e-5);
  expect_box((*r)[2], 12, 0, 16, 16);
}

TEST(SyntheticLayouts, Yolov8TransposedNoObjectness) {
  auto det = make("yolov8_synth.onnx");
  ASSERT_TRUE(det);
  EXPECT_EQ(det->decoder_name(), "yolov8");
  EXPECT_EQ(det->input_size(), cv::Size(96, 96));
  auto r = det->detect(kFrame);
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].label, "dog");
  EXPECT_NEAR((*r)[0].score, 0.72f, 1e-5);
  expect_box((*r)[0], 44, 22, 40, 20);
  EXPECT_EQ((*r)[1].label, "person");
  EXPECT_EQ((*r)[2].label, "car");
  expect_box((*r)[2], 12, 0, 16, 16);
}

TEST(SyntheticLayouts, ClassFilterTakesBestAllowedClassAndClips) {
  DetectorParams p;
  p.conf = 0.05f;
  p.classes = {"car"};
  auto det = make("yolov8_synth.onnx", p);
  ASSERT_TRUE(det);
  auto r = det->detect(kFrame);
  ASSERT_TRUE(r.ok()) << r.error();
  // Anchor 5 is truck 0.20 / car 0.10: with only cars allowed it is a car at 0.10.
  ASSERT_EQ(r->size(), 3u);
  for (const auto& d : *r) EXPECT_EQ(d.label, "car");
  EXPECT_NEAR((*r)[0].score, 0.30f, 1e-5);
  expect_box((*r)[0], 12, 0, 16, 16);
  EXPECT_NEAR((*r)[1].score, 0.10f, 1e-5);
  expect_box((*r)[1], 74, 22, 12, 12);
  EXPECT_NEAR((*r)[2].score, 0.09f, 1e-5);
  expect_box((*r)[2], 92, 60, 16, 4);  // clipped at the frame's bottom edge

  DetectorParams aliases;
  aliases.classes = {"motorcycle", "tvmonitor"};  // Ultralytics and Darknet spellings
  EXPECT_TRUE(make("yolov8_synth.onnx", aliases));
  DetectorParams bad;
  bad.classes = {"unicorn"};
  bad.model = synth("yolov8_synth.onnx").string();
  auto err = ObjectDetector::create(bad, {synth("yolov8_synth.onnx")}, nullptr);
  ASSERT_FALSE(err.ok());
  EXPECT_NE(err.error().find("unicorn"), std::string::npos);
}

TEST(SyntheticLayouts, EndToEndSkipsNms) {
  auto det = make("yolo26_e2e_synth.onnx");
  ASSERT_TRUE(det);
  EXPECT_EQ(det->decoder_name(), "yolo_e2e");
  auto r = det->detect(kFrame);
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_EQ(r->size(), 3u);  // the overlapping second dog survives: the model did its own NMS
  EXPECT_EQ((*r)[0].label, "dog");
  expect_box((*r)[0], 44, 22, 40, 20);
  EXPECT_EQ((*r)[1].label, "dog");
  EXPECT_NEAR((*r)[1].score, 0.50f, 1e-5);
  expect_box((*r)[1], 46, 22, 40, 20);
  EXPECT_EQ((*r)[2].label, "person");
}

// YOLOX (bare file -> BGR, top-left letterbox). Frame 128x128 -> scale 0.5, no padding.
//   stride 8 cell (2,3), p=(0.5,0.5,ln 2.5,ln 1.25): centre ((2+0.5)*8, (3+0.5)*8) = (20,28),
//     size (2.5*8, 1.25*8) = 20x10 -> net (10,23,20,10) -> frame (20,46,40,20), 0.9*0.8
//   stride 16 cell (1,2), p=0: centre (16,32), 16x16 -> net (8,24,16,16) -> frame (16,48,32,32)
TEST(SyntheticLayouts, YoloxGridDecode) {
  auto det = make("yolox_synth.onnx");
  ASSERT_TRUE(det);
  EXPECT_EQ(det->decoder_name(), "yolox");  // 84 rows = 84 cells of 64x64
  EXPECT_EQ(det->preprocess().resize, "letterbox");
  auto r = det->detect(cv::Mat(128, 128, CV_8UC3, cv::Scalar::all(0)));
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].label, "dog");
  EXPECT_NEAR((*r)[0].score, 0.72f, 1e-5);
  expect_box((*r)[0], 20, 46, 40, 20);
  EXPECT_EQ((*r)[1].label, "person");
  expect_box((*r)[1], 16, 48, 32, 32);
}

TEST(SyntheticLayouts, RoiCropReturnsFullFrameBoxes) {
  DetectorParams p;
  p.roi = cv::Rect(64, 32, 128, 64);  // the same 128x64 view as kFrame, inside a bigger frame
  auto det = make("yolov5_synth.onnx", p);
  ASSERT_TRUE(det);
  cv::Mat big(192, 256, CV_8UC3, cv::Scalar::all(0));
  auto r = det->detect(big);
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_EQ(r->size(), 3u);
  expect_box((*r)[0], 44 + 64, 22 + 32, 40, 20);
  expect_box((*r)[2], 12 + 64, 0 + 32, 16, 16);

  det->set_roi(cv::Rect(1000, 1000, 10, 10));
  EXPECT_FALSE(det->detect(big).ok());  // ROI outside the frame is an error, not a silent miss
}

TEST(SyntheticLayouts, ManifestDecoderOverridesRecognition) {
  // Forcing the YOLOv5 table through the YOLOX decoder must fail loudly: 252 rows != 84 cells.
  DetectorParams p;
  p.decoder = "yolox";
  auto det = make("yolov5_synth.onnx", p);
  ASSERT_TRUE(det);
  EXPECT_FALSE(det->detect(kFrame).ok());
}

TEST(RecogniseDecoder, ShapeRules) {
  auto rec = [](std::vector<std::vector<int64_t>> shapes, int w, int h) {
    std::vector<TensorInfo> infos;
    for (auto& s : shapes) infos.push_back({"o", s});
    auto r = recognise_decoder(infos, w, h);
    return r.ok() ? r.value() : "error: " + r.error();
  };
  EXPECT_EQ(rec({{1, 3549, 85}}, 416, 416), "yolox");  // 52^2 + 26^2 + 13^2
  EXPECT_EQ(rec({{1, 8400, 85}}, 640, 640), "yolox");
  EXPECT_EQ(rec({{1, 10647, 85}}, 416, 416), "yolov5");  // 3 x 3549
  EXPECT_EQ(rec({{1, 25200, 15}}, 640, 640), "yolov5");  // the plate detector
  EXPECT_EQ(rec({{1, 84, 8400}}, 640, 640), "yolov8");
  EXPECT_EQ(rec({{1, 84, -1}}, 0, 0), "yolov8");
  EXPECT_EQ(rec({{1, 300, 6}}, 640, 640), "yolo_e2e");
  EXPECT_EQ(rec({{300, 85}, {1200, 85}}, 320, 320), "darknet");
  EXPECT_NE(rec({{1, 1000, 85}}, 416, 416).find("ambiguous"), std::string::npos);
  EXPECT_NE(rec({{1, -1, 85}}, 0, 0).find("ambiguous"), std::string::npos);
  EXPECT_EQ(detection_decoders().size(), 5u);
}

}  // namespace
}  // namespace ev
