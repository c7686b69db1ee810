// One inference runtime for the process: shared sessions give the same results as one per
// camera when used concurrently, and the thread budget holds (threads counted in /proc).
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <thread>

#include "edgevision/backend.hpp"
#include "edgevision/detect.hpp"
#include "edgevision/face.hpp"
#include "edgevision/pipeline.hpp"
#include "support/shared_models.hpp"
#include "support/test_support.hpp"

namespace ev {
namespace {

namespace fs = std::filesystem;

int thread_count() {
  int n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/task")) ++n;
  return n;
}

// Restores the process-wide runtime options a test changed.
struct RuntimeGuard {
  RuntimeOptions saved = runtime_options();
  explicit RuntimeGuard(const RuntimeOptions& o) { set_runtime_options(o); }
  ~RuntimeGuard() { set_runtime_options(saved); }
};

std::vector<cv::Mat> test_images() {
  std::vector<cv::Mat> images;
  for (const char* name : {"images/dog.jpg", "images/person.jpg", "images/horses.jpg",
                           "images/kite.jpg", "faces/images/2007_007763.jpg"}) {
    cv::Mat m = cv::imread(test::data(name).string(), cv::IMREAD_COLOR);
    EXPECT_FALSE(m.empty()) << "missing test image " << name;
    if (!m.empty()) images.push_back(m);
  }
  return images;
}

void expect_same(const std::vector<Detection>& a, const std::vector<Detection>& b,
                 const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].class_id, b[i].class_id) << what << " #" << i;
    EXPECT_NEAR(a[i].score, b[i].score, 1e-4) << what << " #" << i;
    EXPECT_NEAR(a[i].box.x, b[i].box.x, 1e-2) << what << " #" << i;
    EXPECT_NEAR(a[i].box.y, b[i].box.y, 1e-2) << what << " #" << i;
    EXPECT_NEAR(a[i].box.width, b[i].box.width, 1e-2) << what << " #" << i;
    EXPECT_NEAR(a[i].box.height, b[i].box.height, 1e-2) << what << " #" << i;
  }
}

void expect_same(const std::vector<Face>& a, const std::vector<Face>& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_NEAR(a[i].score, b[i].score, 1e-4) << what << " #" << i;
    EXPECT_NEAR(a[i].box.x, b[i].box.x, 1e-2) << what << " #" << i;
    EXPECT_NEAR(a[i].box.y, b[i].box.y, 1e-2) << what << " #" << i;
    EXPECT_NEAR(a[i].box.width, b[i].box.width, 1e-2) << what << " #" << i;
  }
}

constexpr int kCameras = 4;

CameraConfig camera(const std::string& id, bool detect = true, bool enabled = true) {
  CameraConfig c;
  c.id = id;
  c.detect = detect;
  c.enabled = enabled;
  return c;
}

TEST(Runtime, SharedDetectorSessionConcurrentlyGivesPerCameraResults) {
  ModelManager models(test::shared_model_options("runtime_shared_detect"));
  const auto images = test_images();
  ASSERT_EQ(images.size(), 5u);
  DetectorParams params;
  params.model = "yolox-nano";
  params.threads = 1;

  // Reference: a session of its own, run one image at a time.
  std::vector<std::vector<Detection>> expected;
  {
    RuntimeGuard g({.share_sessions = false, .allow_spinning = false});
    auto ref = ObjectDetector::create(params, models);
    ASSERT_TRUE(ref) << ref.error();
    for (const auto& img : images) {
      auto d = (*ref)->detect(img);
      ASSERT_TRUE(d) << d.error();
      expected.push_back(*d);
    }
  }
  size_t found = 0;
  for (const auto& e : expected) found += e.size();
  ASSERT_GT(found, 5u) << "the test images should give detections to compare";

  RuntimeGuard g({.share_sessions = true, .allow_spinning = false});
  const size_t sessions_before = onnxruntime_session_count();
  std::vector<std::unique_ptr<ObjectDetector>> cams;
  for (int i = 0; i < kCameras; ++i) {
    auto d = ObjectDetector::create(params, models);
    ASSERT_TRUE(d) << d.error();
    cams.push_back(std::move(*d));
  }
  EXPECT_EQ(onnxruntime_session_count(), sessions_before + 1) << "one session for all cameras";

  // Every camera runs every image several times, concurrently, each in its own order.
  onnxruntime_peak_runs_in_flight(/*reset=*/true);
  std::vector<std::vector<std::vector<Detection>>> got(kCameras);
  std::vector<std::string> errors(kCameras);
  std::vector<std::thread> threads;
  for (int c = 0; c < kCameras; ++c) {
    threads.emplace_back([&, c] {
      got[c].resize(images.size());
      for (int round = 0; round < 3; ++round)
        for (size_t k = 0; k < images.size(); ++k) {
          const size_t i = (k + static_cast<size_t>(c)) % images.size();
          auto d = cams[c]->detect(images[i]);
          if (!d) {
            errors[c] = d.error();
            return;
          }
          if (round == 0) {
            got[c][i] = *d;
          } else if (d->size() != got[c][i].size()) {
            errors[c] = "results changed between rounds";
            return;
          }
        }
    });
  }
  for (auto& t : threads) t.join();
  for (int c = 0; c < kCameras; ++c) {
    ASSERT_EQ(errors[c], "") << "camera " << c;
    for (size_t i = 0; i < images.size(); ++i)
      expect_same(got[c][i], expected[i],
                  "camera " + std::to_string(c) + " image " + std::to_string(i));
  }
  // The cameras took turns on the shared session: each run's activations were alone in it.
  EXPECT_EQ(onnxruntime_peak_runs_in_flight(), 1);
}

// Without turns, four cameras on one session run at the same time (the counter is real).
// Four cameras' object detectors on one shared session (with `rt`), each running 10 images at
// once with the others; returns the most runs the session had in flight (-1 on a setup error).
int peak_runs_of_four_detectors(const RuntimeOptions& rt) {
  ModelManager models(test::shared_model_options("runtime_shared_detect"));
  const auto images = test_images();
  if (images.empty()) {
    ADD_FAILURE() << "no test images";
    return -1;
  }
  DetectorParams params;
  params.model = "yolox-nano";
  params.threads = 1;
  RuntimeGuard g(rt);
  std::vector<std::unique_ptr<ObjectDetector>> cams;
  for (int i = 0; i < kCameras; ++i) {
    auto d = ObjectDetector::create(params, models);
    if (!d) {
      ADD_FAILURE() << d.error();
      return -1;
    }
    cams.push_back(std::move(*d));
  }
  onnxruntime_peak_runs_in_flight(/*reset=*/true);
  std::vector<std::thread> threads;
  for (int c = 0; c < kCameras; ++c)
    threads.emplace_back([&, c] {
      for (int k = 0; k < 10; ++k) (void)cams[c]->detect(images[(k + c) % images.size()]);
    });
  for (auto& t : threads) t.join();
  return onnxruntime_peak_runs_in_flight();
}

TEST(Runtime, SharedSessionWithoutTurnsRunsConcurrently) {
  EXPECT_GE(peak_runs_of_four_detectors(
                {.share_sessions = true, .allow_spinning = false, .one_run_per_session = false}),
            2);
}

// Four cameras run the face detector on one shared session at once (with `shared` runtime
// options) and each gets the faces a session of its own gives; at most `max_peak` runs were in
// the session at once.
void expect_shared_faces_like_own_session(const RuntimeOptions& shared, int max_peak) {
  ModelManager models(test::shared_model_options("runtime_shared_faces"));
  const auto images = test_images();
  ASSERT_EQ(images.size(), 5u);
  FaceDetectorOptions fo;  // yunet, balanced
  std::vector<std::vector<Face>> expected;
  {
    RuntimeGuard g({.share_sessions = false, .allow_spinning = false, .max_intra_op_threads = 1});
    auto ref = create_face_detector(fo, models);
    ASSERT_TRUE(ref) << ref.error();
    ASSERT_EQ((*ref)->name(), "yunet");
    for (const auto& img : images) {
      auto f = (*ref)->detect(img);
      ASSERT_TRUE(f) << f.error();
      expected.push_back(*f);
    }
  }
  ASSERT_GT(expected.back().size(), 2u) << "the VOC image has four labelled faces";

  RuntimeGuard g(shared);
  const size_t sessions_before = onnxruntime_session_count();
  std::vector<std::unique_ptr<FaceDetector>> cams;
  for (int i = 0; i < kCameras; ++i) {
    auto d = create_face_detector(fo, models);
    ASSERT_TRUE(d) << d.error();
    cams.push_back(std::move(*d));
  }
  EXPECT_EQ(onnxruntime_session_count(), sessions_before + 1);
  onnxruntime_peak_runs_in_flight(/*reset=*/true);
  std::vector<std::vector<std::vector<Face>>> got(kCameras);
  std::vector<std::string> errors(kCameras);
  std::vector<std::thread> threads;
  for (int c = 0; c < kCameras; ++c) {
    threads.emplace_back([&, c] {
      got[c].resize(images.size());
      for (int round = 0; round < 2; ++round)
        for (size_t k = 0; k < images.size(); ++k) {
          const size_t i = (k + static_cast<size_t>(c)) % images.size();
          auto f = cams[c]->detect(images[i]);
          if (!f) {
            errors[c] = f.error();
            return;
          }
          if (round == 0) {
            got[c][i] = *f;
          } else if (f->size() != got[c][i].size()) {
            errors[c] = "results changed between rounds";
            return;
          }
        }
    });
  }
  for (auto& t : threads) t.join();
  for (int c = 0; c < kCameras; ++c) {
    ASSERT_EQ(errors[c], "") << "camera " << c;
    for (size_t i = 0; i < images.size(); ++i)
      expect_same(got[c][i], expected[i],
                  "camera " + std::to_string(c) + " image " + std::to_string(i));
  }
  EXPECT_LE(onnxruntime_peak_runs_in_flight(), max_peak);
  EXPECT_GE(onnxruntime_peak_runs_in_flight(), 1);
}

TEST(Runtime, SharedFaceSessionConcurrentlyGivesPerCameraResults) {
  expect_shared_faces_like_own_session(
      {.share_sessions = true, .allow_spinning = false, .max_intra_op_threads = 1}, 1);
}

// Two runs in flight on one session, with its arena off (activations freed after each run):
// the same faces, and never a third run at once although four cameras ask.
TEST(Runtime, SharedFaceSessionWithTwoRunsInFlightGivesPerCameraResults) {
  RuntimeOptions rt{.share_sessions = true, .allow_spinning = false, .max_intra_op_threads = 1};
  rt.runs_per_session = 2;
  rt.shared_session_arena = false;
  expect_shared_faces_like_own_session(rt, 2);
}

// The bound is reached, not only respected: four cameras on a two-run session overlap.
TEST(Runtime, SharedSessionRunsUpToItsBoundAtOnce) {
  RuntimeOptions rt{.share_sessions = true, .allow_spinning = false};
  rt.runs_per_session = 2;
  EXPECT_EQ(peak_runs_of_four_detectors(rt), 2);
}

// A session whose users take turns lends as many input buffers as it has runs in flight: a
// buffer given back is lent again (same storage), and a user asking while all are lent waits
// until one comes back.
TEST(Runtime, SharedSessionLendsAnInputPerRunInFlight) {
  const fs::path model = test::shared_models_dir() / "face" / "yunet_s_640_640.onnx";
  BackendOptions bo;
  bo.free_image_size = true;
  {
    RuntimeGuard g({.share_sessions = false});
    auto own = create_backend("onnxruntime", model, bo);
    ASSERT_TRUE(own) << own.error();
    EXPECT_EQ((*own)->lend_input(), nullptr);  // runs not taken in turns: nothing to lend
  }
  RuntimeOptions rt{.share_sessions = true, .allow_spinning = false, .max_intra_op_threads = 1};
  rt.runs_per_session = 2;
  RuntimeGuard g(rt);
  auto a = create_backend("onnxruntime", model, bo);
  auto b = create_backend("onnxruntime", model, bo);
  ASSERT_TRUE(a && b);
  ASSERT_EQ(onnxruntime_session_count(), 1u);
  const float* first = nullptr;
  {
    auto lent = (*a)->lend_input();
    ASSERT_NE(lent, nullptr);
    lent->buffer().assign(3 * 64 * 96, 0.f);
    first = lent->buffer().data();
    std::vector<Tensor> out;
    const std::vector<TensorView> in{{lent->buffer().data(), {1, 3, 64, 96}}};
    // Bounded: a run that waited for a turn it could never get would hang the test.
    auto ran = std::async(std::launch::async, [&] { return (*a)->run(in, out).ok(); });
    ASSERT_EQ(ran.wait_for(std::chrono::seconds(20)), std::future_status::ready);
    EXPECT_TRUE(ran.get());
    EXPECT_FALSE(out.empty());
  }
  auto one = (*b)->lend_input();
  ASSERT_NE(one, nullptr);
  EXPECT_EQ(one->buffer().data(), first);  // the buffer came back to the session
  auto two = (*a)->lend_input();           // two runs in flight: two buffers
  ASSERT_NE(two, nullptr);
  std::atomic<bool> got{false};
  std::thread third([&] {
    auto lent = (*a)->lend_input();
    got = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(got.load());  // both lent: the third user waits
  one.reset();
  third.join();
  EXPECT_TRUE(got.load());
}

// Four cameras' worth of models (a face detector and an object detector each).
int threads_added_by_four_cameras(ModelManager& models) {
  const int before = thread_count();
  std::vector<std::unique_ptr<FaceDetector>> faces;
  std::vector<std::unique_ptr<ObjectDetector>> objects;
  DetectorParams params;
  params.model = "yolox-nano";
  params.threads = 0;  // as many as the budget allows
  for (int i = 0; i < kCameras; ++i) {
    auto f = create_face_detector(FaceDetectorOptions{}, models);
    auto o = ObjectDetector::create(params, models);
    if (!f || !o) {
      ADD_FAILURE() << (f ? o.error() : f.error());
      return -1;
    }
    faces.push_back(std::move(*f));
    objects.push_back(std::move(*o));
  }
  return thread_count() - before;
}

TEST(Runtime, ThreadBudgetIsRespected) {
  ModelManager models(test::shared_model_options("runtime_threads"));
  // ONNX Runtime's process-wide environment starts its own thread once, with the first
  // session; that is not a per-camera cost, so it is started before anything is counted.
  ASSERT_TRUE(create_face_detector(FaceDetectorOptions{}, models));
  // Shared sessions with 2 intra-op threads: one pool worker per model (the caller is the
  // other), whatever the number of cameras.
  {
    RuntimeGuard g({.share_sessions = true, .allow_spinning = false, .max_intra_op_threads = 2});
    const int added = threads_added_by_four_cameras(models);
    EXPECT_GE(added, 0);
    EXPECT_LE(added, 2) << "shared sessions, 2 intra-op threads: at most 1 worker per model";
  }
  // The budget the service picks on this box for four cameras: no pool worker at all.
  {
    Config cfg;
    for (int i = 0; i < kCameras; ++i) cfg.cameras.push_back(camera("c" + std::to_string(i)));
    cfg.runtime.threads = 2;
    const RuntimeOptions o = runtime_options_for(cfg);
    EXPECT_EQ(o.max_intra_op_threads, 1);
    EXPECT_TRUE(o.share_sessions);
    EXPECT_FALSE(o.allow_spinning);
    RuntimeGuard g(o);
    EXPECT_EQ(threads_added_by_four_cameras(models), 0);
  }
  // The counting sees per-camera sessions' workers (the case the budget prevents).
  {
    RuntimeGuard g({.share_sessions = false, .allow_spinning = false, .max_intra_op_threads = 2});
    EXPECT_EQ(threads_added_by_four_cameras(models), 2 * kCameras);
  }
}

TEST(Runtime, BudgetSplitsCoresOverInferenceStages) {
  Config cfg;
  cfg.runtime.threads = 8;
  cfg.cameras.push_back(camera("a"));
  EXPECT_EQ(runtime_options_for(cfg).max_intra_op_threads, 4);  // faces + objects
  cfg.cameras.push_back(camera("b", false));
  EXPECT_EQ(runtime_options_for(cfg).max_intra_op_threads, 2);  // 3 stages
  cfg.cameras.push_back(camera("c", true, false));
  EXPECT_EQ(runtime_options_for(cfg).max_intra_op_threads, 2);  // disabled: no stage
  EXPECT_EQ(runtime_options_for(cfg).runs_per_session, 4);      // auto: 8 cores / 2 threads per run
  cfg.runtime.threads = 2;
  EXPECT_EQ(runtime_options_for(cfg).max_intra_op_threads, 1);
  EXPECT_EQ(runtime_options_for(cfg).runs_per_session, 2);
  // One camera on its own (scene, bench --video): its two stages, even if its config disables it.
  RuntimeConfig two_cores;
  two_cores.threads = 2;
  const CameraConfig off = camera("solo", true, false);
  EXPECT_EQ(runtime_options_for(two_cores, off).max_intra_op_threads, 1);
  EXPECT_EQ(runtime_options_for(two_cores, off).runs_per_session, 2);
  EXPECT_FALSE(runtime_options_for(two_cores, off).allow_spinning);
  cfg.runtime.threads = 8;
  cfg.runtime.runs_per_session = 2;
  cfg.runtime.session_arena = false;
  EXPECT_EQ(runtime_options_for(cfg).runs_per_session, 2);
  EXPECT_FALSE(runtime_options_for(cfg).shared_session_arena);
  // Built with += : GCC 12 reports a false -Wrestrict on "x" + std::to_string(i) here.
  for (int i = 0; i < 10; ++i) {
    std::string id = "x";
    id += std::to_string(i);
    cfg.cameras.push_back(camera(id));
  }
  EXPECT_EQ(runtime_options_for(cfg).max_intra_op_threads, 1);  // never below one
}

}  // namespace
}  // namespace ev
