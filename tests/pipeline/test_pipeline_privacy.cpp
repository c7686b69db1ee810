// What leaves a camera that also detects objects: the detect stage draws the face masks the
// anonymize stage decided (the object detector sees the frame unmasked first), so the camera's
// snapshot and its event snapshots must still have every labelled face masked.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include "edgevision/pipeline.hpp"
#include "support/camera_run.hpp"
#include "support/shared_models.hpp"
#include "support/test_support.hpp"

namespace ev {
namespace {

namespace fs = std::filesystem;

// The labelled faces of one photo of ../shared/data/faces (labels.csv: image,x,y,w,h).
std::vector<cv::Rect> labelled_faces(const std::string& image) {
  std::ifstream in(test::data("faces/labels.csv"));
  std::vector<cv::Rect> faces;
  std::string line;
  while (std::getline(in, line)) {
    std::stringstream row(line);
    std::string name, x, y, w, h;
    if (!std::getline(row, name, ',') || name != image) continue;
    std::getline(row, x, ',');
    std::getline(row, y, ',');
    std::getline(row, w, ',');
    std::getline(row, h, ',');
    faces.emplace_back(std::stoi(x), std::stoi(y), std::stoi(w), std::stoi(h));
  }
  return faces;
}

// Mean brightness of the central half of a face box: a black-box mask reads near 0.
double centre_mean(const cv::Mat& img, const cv::Rect& face) {
  const cv::Rect centre(face.x + face.width / 4, face.y + face.height / 4, face.width / 2,
                        face.height / 2);
  return cv::mean(img(centre & cv::Rect(0, 0, img.cols, img.rows)))[0];
}

TEST(PipelinePrivacy, SnapshotsOfADetectingCameraHaveEveryFaceMasked) {
  const std::string name = "images/2007_007763.jpg";
  cv::Mat photo = cv::imread(test::data("faces/" + name).string(), cv::IMREAD_COLOR);
  ASSERT_FALSE(photo.empty());
  photo = photo(cv::Rect(0, 0, photo.cols & ~1, photo.rows & ~1)).clone();  // even, for MJPG
  const std::vector<cv::Rect> faces = labelled_faces(name);
  ASSERT_GE(faces.size(), 5u);
  for (const cv::Rect& f : faces) ASSERT_GT(centre_mean(photo, f), 40.0) << "face too dark";

  // The photo as a short still video (3 s at 10 fps): enough for tracks and their events.
  const fs::path clip = test::temp_dir("pipeline_privacy") / "still.avi";
  {
    cv::VideoWriter writer(clip.string(), cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 10.0,
                           photo.size());
    ASSERT_TRUE(writer.isOpened());
    for (int i = 0; i < 30; ++i) writer.write(photo);
  }
  PipelineSettings ps;
  ps.camera.id = "privacy";
  ps.camera.source = clip.string();
  ps.camera.detect = true;
  ps.camera.scene.snapshots = 100;
  ps.privacy.method = "blackbox";
  ps.detection.threads = 1;
  ModelManager models(test::shared_model_options("pipeline-privacy-cache"));
  test::CameraRun run(ps, models, std::chrono::minutes(2));
  ASSERT_TRUE(run.error().empty()) << run.error();
  ASSERT_TRUE(run.finished());

  const std::vector<nlohmann::json> events = run.events();
  std::vector<cv::Mat> shots;
  if (auto jpeg = run.pipeline().snapshot_jpeg())
    shots.push_back(cv::imdecode(*jpeg, cv::IMREAD_COLOR));
  for (const auto& e : events)
    if (e.contains("snapshot"))
      if (auto jpeg = run.pipeline().event_snapshot_jpeg(e["event_id"]))
        shots.push_back(cv::imdecode(*jpeg, cv::IMREAD_COLOR));
  EXPECT_EQ(run.pipeline().status().frames_failed, 0u);
  ASSERT_GE(shots.size(), 2u) << "the camera snapshot and at least one event snapshot; "
                              << events.size() << " events";
  for (size_t i = 0; i < shots.size(); ++i) {
    ASSERT_EQ(shots[i].size(), photo.size()) << "shot " << i;
    for (const cv::Rect& f : faces)
      EXPECT_LT(centre_mean(shots[i], f), 20.0) << "shot " << i << " face " << f;
  }
}

}  // namespace
}  // namespace ev
