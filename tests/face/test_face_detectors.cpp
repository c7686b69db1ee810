// Every detector on real photos, edge-case inputs, the fallback chain and hash checking.
#include <algorithm>
#include <chrono>
#include <fstream>

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "face/face_eval.hpp"
#include "face/face_internal.hpp"
#include "support/shared_models.hpp"

namespace ev {
namespace {
namespace fs = std::filesystem;

ModelManager& shared_models() {
  static ModelManager mm(test::shared_model_options("face-cache"));
  return mm;
}

std::unique_ptr<FaceDetector> make(const std::string& detector,
                                   DetectMode mode = DetectMode::kBalanced) {
  FaceDetectorOptions o;
  o.detector = detector;
  o.mode = mode;
  o.threads = 2;
  std::string note;
  auto det = create_face_detector(o, shared_models(), &note);
  EXPECT_TRUE(det.ok()) << det.error();
  EXPECT_TRUE(note.empty()) << note;
  if (!det.ok()) return nullptr;
  EXPECT_EQ((*det)->name(), detector);
  return std::move(*det);
}

// Recall floors per detector and scale (1, 1/2, 1/3), balanced mode, set below what was
// measured (docs/face-detectors.md) with a margin of roughly one face.
struct Floor {
  const char* detector;
  double full, half, third;
};
// Measured (18 labelled faces): yunet 18/18/18, yunet2022 18/18/18, ssd 18/14/11,
// blazeface 18/17/16, blazeface128 11/11/11, haar 13/4/1. The default detector must keep the
// product target (>= 99%), so it has no margin.
const Floor kFloors[] = {
    {"yunet", 0.99, 0.99, 0.99},     {"yunet2022", 0.94, 0.94, 0.94},    {"ssd", 0.88, 0.70, 0.50},
    {"blazeface", 0.88, 0.88, 0.80}, {"blazeface128", 0.50, 0.50, 0.50}, {"haar", 0.60, 0.15, 0.0},
};

class FaceDetectorTest : public ::testing::TestWithParam<Floor> {};

TEST_P(FaceDetectorTest, FindsLabelledFacesAtThreeScales) {
  const Floor& fl = GetParam();
  auto det = make(fl.detector);
  ASSERT_TRUE(det);
  const double floors[3] = {fl.full, fl.half, fl.third};
  const double scales[3] = {1.0, 0.5, 1.0 / 3};
  for (int i = 0; i < 3; ++i) {
    auto c = test::measure_coverage(*det, scales[i]);
    ASSERT_GT(c.labelled, 0);
    EXPECT_GE(c.recall(), floors[i])
        << fl.detector << " at scale " << scales[i] << ": " << c.found << "/" << c.labelled;
  }
}

TEST_P(FaceDetectorTest, EdgeCaseImages) {
  auto det = make(GetParam().detector);
  ASSERT_TRUE(det);
  for (cv::Size size :
       {cv::Size(640, 480), cv::Size(1, 1), cv::Size(3, 700), cv::Size(701, 5), cv::Size(33, 17)}) {
    auto faces = det->detect(cv::Mat(size, CV_8UC3, cv::Scalar::all(0)));
    ASSERT_TRUE(faces.ok()) << size << ": " << faces.error();
    EXPECT_TRUE(faces->empty()) << size;
  }
  auto empty = det->detect(cv::Mat());
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  cv::Mat noise(123, 77, CV_8UC1);
  cv::randu(noise, 0, 255);
  EXPECT_TRUE(det->detect(noise).ok());  // gray input is accepted
  EXPECT_TRUE(det->detect(cv::Mat(50, 50, CV_8UC4, cv::Scalar::all(128))).ok());
  EXPECT_FALSE(det->detect(cv::Mat(50, 50, CV_8UC2, cv::Scalar::all(128))).ok());
}

INSTANTIATE_TEST_SUITE_P(All, FaceDetectorTest, ::testing::ValuesIn(kFloors),
                         [](const auto& info) { return std::string(info.param.detector); });

// messi5.jpg: one clear frontal face (~40 px); person.jpg has no visible face.
TEST(FaceDetectorExtra, Messi) {
  const fs::path messi = "/usr/share/doc/opencv-doc/examples/data/messi5.jpg";
  cv::Mat img = cv::imread(messi.string());
  ASSERT_FALSE(img.empty()) << messi << " missing (Debian opencv-doc, scripts/install_deps.sh)";
  for (const char* name : {"yunet", "yunet2022", "ssd", "blazeface"}) {
    auto det = make(name);
    ASSERT_TRUE(det);
    auto faces = det->detect(img);
    ASSERT_TRUE(faces.ok());
    bool head = false;
    for (const auto& f : *faces) head = head || (f.box.x > 180 && f.box.x < 240 && f.box.y < 120);
    EXPECT_TRUE(head) << name << " found " << faces->size() << " faces but not Messi's";
  }
}

TEST(FaceDetectorExtra, PersonPhotoFewFalsePositives) {
  cv::Mat img = cv::imread(test::data("images/person.jpg").string());
  ASSERT_FALSE(img.empty());
  for (const char* name : {"yunet", "yunet2022", "ssd", "blazeface"}) {
    auto det = make(name);
    ASSERT_TRUE(det);
    auto faces = det->detect(img);
    ASSERT_TRUE(faces.ok());
    EXPECT_LE(faces->size(), 1u) << name;  // the woman's face, at most
  }
}

TEST(FaceDetectorExtra, YuNetLandmarksInsideBoxes) {
  auto det = make("yunet");
  ASSERT_TRUE(det);
  cv::Mat img = cv::imread(test::data("faces/images/2008_001322.jpg").string());
  auto faces = det->detect(img);
  ASSERT_TRUE(faces.ok());
  ASSERT_FALSE(faces->empty());
  for (const auto& f : *faces) {
    ASSERT_EQ(f.landmarks.size(), 5u);
    cv::Rect2f grown(f.box.x - f.box.width * 0.25f, f.box.y - f.box.height * 0.25f,
                     f.box.width * 1.5f, f.box.height * 1.5f);
    for (const auto& p : f.landmarks) EXPECT_TRUE(grown.contains(p));
  }
}

TEST(FaceFallback, UnknownDetectorIsAnError) {
  FaceDetectorOptions o;
  o.detector = "dlib";
  auto det = create_face_detector(o, shared_models());
  ASSERT_FALSE(det.ok());
  EXPECT_NE(det.error().find("unknown face detector 'dlib'"), std::string::npos);
}

TEST(FaceFallback, NoModelsOfflineFallsBackToHaar) {
  ModelManagerOptions mo;
  mo.cache_dir = test::temp_dir("face-empty-cache");
  mo.allow_download = false;
  mo.use_env = false;
  mo.use_shipped = false;
  ModelManager empty(mo);
  FaceDetectorOptions o;  // default detector
  std::string note;
  auto det = create_face_detector(o, empty, &note);
  ASSERT_TRUE(det.ok()) << det.error();
  EXPECT_EQ((*det)->name(), "haar");
  EXPECT_NE(note.find("'yunet' is unavailable"), std::string::npos) << note;
  EXPECT_NE(note.find("yunet_s_640_640.onnx"), std::string::npos) << note;
  EXPECT_NE(note.find("using 'haar'"), std::string::npos) << note;
  auto faces = (*det)->detect(cv::imread(test::data("faces/images/2008_001009.jpg").string()));
  ASSERT_TRUE(faces.ok());
  EXPECT_FALSE(faces->empty());
}

TEST(FaceFallback, UnknownModelNameFallsBack) {
  FaceDetectorOptions o;
  o.detector = "yunet";
  o.model = "yunet-9000";
  std::string note;
  auto det = create_face_detector(o, shared_models(), &note);
  ASSERT_TRUE(det.ok()) << det.error();
  EXPECT_EQ((*det)->name(), "yunet2022");  // next in the quality order, with its own model
  EXPECT_NE(note.find("yunet-9000"), std::string::npos) << note;
}

TEST(FaceFallback, WrongHashModelIsNotUsed) {
  const fs::path dir = test::temp_dir("face-bad-model");
  {
    // Same name and size as the real model, different bytes.
    std::ofstream f(dir / "yunet_s_640_640.onnx", std::ios::binary);
    std::string junk(232589, 'x');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  ModelManagerOptions mo;
  mo.model_dirs = {dir};
  mo.cache_dir = test::temp_dir("face-bad-cache");
  mo.allow_download = false;
  mo.use_env = false;
  mo.use_shipped = false;
  ModelManager mm(mo);
  FaceDetectorOptions o;
  o.detector = "yunet";
  std::string note;
  auto det = create_face_detector(o, mm, &note);
  ASSERT_TRUE(det.ok()) << det.error();
  EXPECT_NE((*det)->name(), "yunet");
  // The manager logs the hash mismatch and reports the file as not found.
  EXPECT_NE(note.find("yunet_s_640_640.onnx"), std::string::npos) << note;
}

TEST(FaceFallback, ExplicitPathToModelWorks) {
  FaceDetectorOptions o;
  o.detector = "yunet";
  o.model = (test::shared_models_dir() / "face" / "yunet_s_640_640.onnx").string();
  std::string note;
  auto det = create_face_detector(o, shared_models(), &note);
  ASSERT_TRUE(det.ok()) << det.error();
  EXPECT_EQ((*det)->name(), "yunet");
  EXPECT_TRUE(note.empty());
}

// Not part of the normal run: prints coverage per detector x mode x scale and latency on a
// 1280x720 frame. Run with --gtest_also_run_disabled_tests --gtest_filter='FaceReport.*'.
TEST(FaceReport, DISABLED_CoverageAndLatency) {
  cv::setNumThreads(2);
  cv::Mat frame;
  cv::VideoCapture cap(test::data("video/highway_cars.mp4").string());
  for (int i = 0; i < 100 && cap.read(frame); ++i) {
  }
  cv::Mat photo = cv::imread(test::data("faces/images/2007_007763.jpg").string());
  cv::resize(photo, photo, cv::Size(1280, 720));
  for (const char* name : {"yunet", "yunet2022", "ssd", "blazeface", "blazeface128", "haar"}) {
    for (auto mode : {DetectMode::kFast, DetectMode::kBalanced, DetectMode::kAccurate}) {
      auto det = make(name, mode);
      if (!det) continue;
      std::string line;
      for (double s : {1.0, 0.5, 1.0 / 3}) {
        auto c = test::measure_coverage(*det, s);
        char buf[64];
        std::snprintf(buf, sizeof buf, " %d/%d (+%d)", c.found, c.labelled, c.unmatched);
        line += buf;
      }
      double ms[2] = {0, 0};
      const cv::Mat* frames[2] = {&frame, &photo};
      for (int k = 0; k < 2; ++k) {
        if (frames[k]->empty()) continue;
        (void)det->detect(*frames[k]);
        const int n = 5;
        auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < n; ++i) (void)det->detect(*frames[k]);
        ms[k] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                    .count() /
                n;
      }
      std::printf("%-13s %-9s recall full/half/third:%s | 720p ms: highway %.1f photo %.1f\n", name,
                  to_string(mode), line.c_str(), ms[0], ms[1]);
    }
  }
}

}  // namespace
}  // namespace ev

namespace ev {
namespace {

// A 1280x720 street frame with a group photo pasted in, shrunk so its faces are `face_px`
// wide: once at the left, once across the balanced-mode tile seam (x ~ 500..640).
cv::Mat small_face_frame(float face_px, std::vector<cv::Rect2f>& labels) {
  cv::Mat frame;
  cv::VideoCapture cap(test::data("video/highway_cars.mp4").string());
  cap.read(frame);
  if (frame.empty()) frame = cv::Mat(720, 1280, CV_8UC3, cv::Scalar::all(90));
  cv::Mat photo = cv::imread(test::data("faces/images/2008_001009.jpg").string());
  const std::vector<cv::Rect2f> faces = {{145, 79, 76, 76}, {125, 214, 90, 91}};
  const float s = face_px / 83.f;
  cv::resize(photo, photo, cv::Size(), s, s, cv::INTER_AREA);
  for (cv::Point at : {cv::Point(200, 400), cv::Point(540, 300)}) {
    photo.copyTo(frame(cv::Rect(at, photo.size())));
    for (const auto& f : faces)
      labels.emplace_back(at.x + f.x * s, at.y + f.y * s, f.width * s, f.height * s);
  }
  return frame;
}

int count_found(const std::vector<Face>& faces, const std::vector<cv::Rect2f>& labels) {
  int found = 0;
  for (const auto& l : labels)
    for (const auto& f : faces)
      if (test::covers(f.box, l)) {
        ++found;
        break;
      }
  return found;
}

// The shipped YuNet declares 1x3x640x640; ONNX Runtime refuses other sizes unless the dims are
// freed at load time, and then the outputs follow the input.
TEST(FaceYuNetFreeSize, PatchedModelRunsAtFrameSize) {
  const fs::path model = test::shared_models_dir() / "face" / "yunet_s_640_640.onnx";
  const std::vector<float> input(3 * 640 * 1152, 0.f);
  const std::vector<TensorView> in{{input.data(), {1, 3, 640, 1152}}};
  std::vector<Tensor> out;
  auto fixed = create_backend("onnxruntime", model, {});
  ASSERT_TRUE(fixed.ok()) << fixed.error();
  EXPECT_EQ((*fixed)->inputs()[0].shape[3], 640);
  EXPECT_FALSE((*fixed)->run(in, out).ok());
  BackendOptions free_size;
  free_size.free_image_size = true;
  auto patched = create_backend("onnxruntime", model, free_size);
  ASSERT_TRUE(patched.ok()) << patched.error();
  EXPECT_LT((*patched)->inputs()[0].shape[3], 0);  // free
  ASSERT_TRUE((*patched)->run(in, out).ok());
  const auto& outs = (*patched)->outputs();
  const auto cls8 = std::find_if(outs.begin(), outs.end(),
                                 [](const TensorInfo& t) { return t.name == "cls_8"; });
  ASSERT_NE(cls8, outs.end());
  EXPECT_EQ(out[cls8 - outs.begin()].elements(), size_t{(1152 / 8) * (640 / 8)});
  // The model file itself is unchanged (patched in memory only).
  auto hash = sha256_file(model);
  ASSERT_TRUE(hash.ok());
  EXPECT_EQ(*hash, "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4");
}

TEST(FaceDetectorExtra, DefaultFindsSmallFacesIn720p) {
  auto det = make("yunet", DetectMode::kBalanced);
  ASSERT_TRUE(det);
  for (float px : {24.f, 16.f}) {
    std::vector<cv::Rect2f> labels;
    cv::Mat frame = small_face_frame(px, labels);
    auto faces = det->detect(frame);
    ASSERT_TRUE(faces.ok());
    EXPECT_EQ(count_found(*faces, labels), 4) << px << " px faces";
  }
}

TEST(FaceReport, DISABLED_SmallFaces) {
  for (const char* name : {"yunet", "yunet2022", "blazeface", "ssd"})
    for (auto mode : {DetectMode::kFast, DetectMode::kBalanced, DetectMode::kAccurate}) {
      auto det = make(name, mode);
      std::string line;
      for (float px : {30.f, 20.f, 16.f, 14.f, 12.f, 10.f}) {
        std::vector<cv::Rect2f> labels;
        cv::Mat frame = small_face_frame(px, labels);
        auto faces = det->detect(frame);
        char buf[64];
        std::snprintf(buf, sizeof buf, " %dpx:%d/4", static_cast<int>(px),
                      faces.ok() ? count_found(*faces, labels) : -1);
        line += buf;
      }
      std::printf("%-10s %-9s%s\n", name, to_string(mode), line.c_str());
    }
}

// Interleaved so that both sides see the same machine load.
TEST(FaceReport, DISABLED_Speed720pVsHaarBlur) {
  cv::setNumThreads(2);
  std::vector<cv::Rect2f> labels;
  cv::Mat frame = small_face_frame(24.f, labels);
  auto yb = make("yunet", DetectMode::kBalanced);
  auto yf = make("yunet", DetectMode::kFast);
  auto haar = make("haar", DetectMode::kBalanced);
  auto time_ms = [](auto&& fn) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  };
  auto blur_faces = [](cv::Mat& img, const std::vector<Face>& faces) {
    for (const auto& f : faces) {
      cv::Rect r = cv::Rect(f.box) & cv::Rect(0, 0, img.cols, img.rows);
      if (r.area() > 0) cv::GaussianBlur(img(r), img(r), cv::Size(51, 51), 0);
    }
  };
  std::vector<double> t[3];
  for (int i = 0; i < 15; ++i) {
    FaceDetector* dets[3] = {yb.get(), yf.get(), haar.get()};
    for (int k = 0; k < 3; ++k) {
      cv::Mat work = frame.clone();
      t[k].push_back(time_ms([&] { blur_faces(work, *dets[k]->detect(work)); }));
    }
  }
  const char* names[3] = {"yunet balanced + blur", "yunet fast + blur", "haar 1.1/5 + blur"};
  for (int k = 0; k < 3; ++k) {
    std::sort(t[k].begin(), t[k].end());
    std::printf("%-22s median %.1f ms  min %.1f ms\n", names[k], t[k][t[k].size() / 2], t[k][0]);
  }
  std::printf("haar/yunet-balanced: median %.1fx, min %.1fx\n", t[2][7] / t[0][7],
              t[2][0] / t[0][0]);
}

}  // namespace
}  // namespace ev
