// Frames in flight: the frame pass run elsewhere (make_frame_detector(), several frames at once)
// and handed to process() in frame order masks exactly what process() masks alone.
#include <future>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/videoio.hpp>

#include "edgevision/anonymize.hpp"
#include "edgevision/backend.hpp"
#include "support/shared_models.hpp"

namespace ev {
namespace {

ModelManager& shared_models() {
  static ModelManager mm(test::shared_model_options("frames-in-flight-cache"));
  return mm;
}

// Every third frame of the 720p traffic clip (10 fps): drivers' faces, small-face runs.
std::vector<cv::Mat> traffic_frames(int count) {
  cv::VideoCapture cap(test::data("video/highway_cars.mp4").string());
  std::vector<cv::Mat> frames;
  cv::Mat f;
  for (int i = 0; static_cast<int>(frames.size()) < count && cap.read(f); ++i)
    if (i % 3 == 0) frames.push_back(f.clone());
  return frames;
}

TEST(FramesInFlight, SameMasksAsOneFrameAtATime) {
  const std::vector<cv::Mat> frames = traffic_frames(12);
  ASSERT_EQ(frames.size(), 12u);
  // Two runs of the shared one-thread session at once, as `anonymize` sets it up.
  RuntimeOptions rt = runtime_options();
  rt.runs_per_session = 2;
  set_runtime_options(rt);
  AnonymizerOptions o;
  o.head_fallback.own_detector = false;  // the frame pass is what is compared
  auto alone = Anonymizer::create(o, shared_models());
  auto in_flight = Anonymizer::create(o, shared_models());
  ASSERT_TRUE(alone && in_flight);
  auto first = (*in_flight)->make_frame_detector(shared_models(), 1);
  auto second = (*in_flight)->make_frame_detector(shared_models(), 1);
  ASSERT_TRUE(first) << first.error();
  ASSERT_TRUE(second) << second.error();
  FaceDetector* detectors[2] = {first->get(), second->get()};
  onnxruntime_peak_runs_in_flight(/*reset=*/true);
  int masks = 0;
  for (size_t i = 0; i + 1 < frames.size(); i += 2) {
    // Two frames' face passes at once, on two threads; handed over in frame order.
    std::future<Result<std::vector<Face>>> passes[2];
    for (size_t k = 0; k < 2; ++k)
      passes[k] = std::async(std::launch::async,
                             [d = detectors[k], &f = frames[i + k]] { return d->detect(f); });
    for (size_t k = 0; k < 2; ++k) {
      cv::Mat a = frames[i + k].clone(), b = frames[i + k].clone();
      const FrameResult ra = (*alone)->process(a);
      const FrameResult rb = (*in_flight)->process(b, passes[k].get(), 1.0);
      ASSERT_TRUE(ra.emitted && rb.emitted) << ra.error << rb.error;
      EXPECT_EQ(ra.masks, rb.masks) << "frame " << i + k;
      EXPECT_EQ(ra.faces_detected, rb.faces_detected) << "frame " << i + k;
      EXPECT_EQ(cv::norm(a, b, cv::NORM_INF), 0.0) << "frame " << i + k;
      EXPECT_EQ(rb.detect_ms, 1.0);
      masks += ra.masks_applied;
    }
  }
  EXPECT_GT(masks, 10);  // the clip's drivers were masked: the comparison had something to see
  EXPECT_EQ(onnxruntime_peak_runs_in_flight(), 2);  // the two passes did run at once
}

TEST(FramesInFlight, StatefulFramePassIsNotDuplicated) {
  AnonymizerOptions o;
  o.head_fallback.enabled = false;
  // Motion gating (a create() wrapper) and spaced small-face runs depend on the frames seen.
  auto wrapped =
      Anonymizer::create(o, shared_models(), [](std::unique_ptr<FaceDetector> d) { return d; });
  ASSERT_TRUE(wrapped);
  EXPECT_FALSE((*wrapped)->make_frame_detector(shared_models()));
  o.small_face_interval = 2;
  auto spaced = Anonymizer::create(o, shared_models());
  ASSERT_TRUE(spaced);
  EXPECT_FALSE((*spaced)->make_frame_detector(shared_models()));
  o.small_face_interval = 0;
  auto plain = Anonymizer::create(o, shared_models());
  ASSERT_TRUE(plain);
  EXPECT_TRUE((*plain)->make_frame_detector(shared_models()));
}

TEST(FramesInFlight, FailedFacePassFailsClosed) {
  AnonymizerOptions o;
  o.head_fallback.enabled = false;
  auto anon = Anonymizer::create(o, shared_models());
  ASSERT_TRUE(anon);
  cv::Mat frame(120, 160, CV_8UC3, cv::Scalar::all(200));
  const FrameResult r =
      (*anon)->process(frame, Result<std::vector<Face>>::Error("session lost"), 3.0);
  EXPECT_FALSE(r.emitted);
  EXPECT_NE(r.error.find("session lost"), std::string::npos) << r.error;
  EXPECT_EQ(cv::countNonZero(frame.reshape(1)), 0);
}

// Deferred masks (a pipeline's object detector sees the frame first): process() leaves the
// frame as it was, and drawing the plan afterwards gives the pixels process() draws itself.
TEST(DeferredMasks, DrawTheSamePixelsAsProcess) {
  const std::vector<cv::Mat> frames = traffic_frames(8);
  ASSERT_EQ(frames.size(), 8u);
  AnonymizerOptions o;
  o.head_fallback.own_detector = false;
  auto direct = Anonymizer::create(o, shared_models());
  auto deferred = Anonymizer::create(o, shared_models());
  ASSERT_TRUE(direct && deferred);
  (*deferred)->set_deferred_masks(true);
  int masks = 0;
  for (const cv::Mat& frame : frames) {
    cv::Mat a = frame.clone(), b = frame.clone();
    const FrameResult ra = (*direct)->process(a);
    const FrameResult rb = (*deferred)->process(b);
    ASSERT_TRUE(ra.emitted && rb.emitted);
    EXPECT_FALSE(ra.deferred.has_value());
    ASSERT_TRUE(rb.deferred.has_value());
    EXPECT_EQ(cv::norm(b, frame, cv::NORM_INF), 0.0);  // untouched until drawn
    EXPECT_EQ(rb.masks_applied, 0);
    const std::vector<cv::Rect> drawn = apply_masks(b, *rb.deferred);
    EXPECT_EQ(drawn, ra.masks);
    EXPECT_EQ(cv::norm(a, b, cv::NORM_INF), 0.0);
    masks += static_cast<int>(drawn.size());
  }
  EXPECT_GT(masks, 8);  // the drivers' faces are there to be masked
}

}  // namespace
}  // namespace ev
