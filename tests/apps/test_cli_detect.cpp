// `edgevision detect` and `track` are private by default: written images have their faces
// covered unless --no-anonymize (a warning), and objects are detected on the original frame,
// so anonymization costs no detections.
#include <gtest/gtest.h>

#include <fstream>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "support/test_support.hpp"

namespace ev {
namespace {
namespace fs = std::filesystem;

std::string detect_cmd() {
  return test::edgevision_binary().string() + " --offline --models-dir " +
         test::shared_models_dir().string() + " detect --model yolox-nano --json ";
}

// Share of pixels in the central half of `box` that differ by more than 6 levels.
double changed_fraction(const cv::Mat& a, const cv::Mat& b, const cv::Rect& box) {
  const cv::Rect centre(box.x + box.width / 4, box.y + box.height / 4, box.width / 2,
                        box.height / 2);
  cv::Mat diff;
  cv::absdiff(a(centre), b(centre), diff);
  cv::Mat gray = diff.reshape(1, static_cast<int>(diff.total()));
  cv::Mat max_channel;
  cv::reduce(gray, max_channel, 1, cv::REDUCE_MAX);
  return cv::countNonZero(max_channel > 6) / static_cast<double>(centre.area());
}

// The labelled faces of one photo of ../shared/data/faces.
std::vector<cv::Rect> labelled_faces(const std::string& image) {
  std::ifstream in(test::data("faces/labels.csv"));
  std::vector<cv::Rect> faces;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("images/" + image + ",", 0) != 0) continue;
    int x, y, w, h;
    if (std::sscanf(line.c_str() + line.find(',') + 1, "%d,%d,%d,%d", &x, &y, &w, &h) == 4)
      faces.emplace_back(x, y, w, h);
  }
  return faces;
}

TEST(CliDetect, OutputIsAnonymizedByDefaultAndDetectionsDoNotChange) {
  const fs::path dir = test::temp_dir("cli_detect_private");
  const fs::path in = test::data("faces/images/2008_002079.jpg");
  const auto faces = labelled_faces("2008_002079.jpg");
  ASSERT_EQ(faces.size(), 6u);
  auto dflt = test::run_command(detect_cmd() + in.string() + " -o " + (dir / "a.jpg").string());
  ASSERT_EQ(dflt.exit_code, 0) << dflt.err;
  auto clear = test::run_command(detect_cmd() + in.string() + " -o " + (dir / "b.jpg").string() +
                                 " --no-anonymize");
  ASSERT_EQ(clear.exit_code, 0) << clear.err;
  EXPECT_NE(clear.err.find("--no-anonymize"), std::string::npos) << clear.err;
  EXPECT_NE(clear.err.find("warn"), std::string::npos) << clear.err;
  EXPECT_EQ(dflt.err.find("--no-anonymize"), std::string::npos) << dflt.err;
  // Detection runs on the original frame either way: identical results, people included.
  EXPECT_EQ(dflt.out, clear.out);
  EXPECT_NE(dflt.out.find("\"person\""), std::string::npos) << dflt.out;

  const cv::Mat original = cv::imread(in.string());
  const cv::Mat anonymized = cv::imread((dir / "a.jpg").string());
  const cv::Mat annotated = cv::imread((dir / "b.jpg").string());
  ASSERT_FALSE(anonymized.empty());
  ASSERT_FALSE(annotated.empty());
  int clear_faces = 0;
  for (const auto& f : faces) {
    EXPECT_GT(changed_fraction(original, anonymized, f), 0.7) << "face " << f << " left clear";
    // Without anonymization only the drawn boxes and labels change a face (some labels sit on
    // one), so most faces stay as they were.
    clear_faces += changed_fraction(original, annotated, f) < 0.5 ? 1 : 0;
  }
  EXPECT_GE(clear_faces, 4);
}

TEST(CliDetect, WithoutOutputNoImageLeavesAndNoFaceModelIsNeeded) {
  // JSON only: no image is written, so no anonymizer is loaded even with no face model.
  const fs::path dir = test::temp_dir("cli_detect_json");
  auto r = test::run_command(
      "EDGEVISION_SHIPPED_MODELS= EDGEVISION_MODELS= EDGEVISION_CACHE=" + (dir / "cache").string() +
      " " + detect_cmd() + test::data("images/person.jpg").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"person\""), std::string::npos) << r.out;
  EXPECT_EQ(r.err.find("face detector"), std::string::npos) << r.err;
}

// A photo written by `detect` is anonymized as `anonymize` anonymizes photos (mirrored face
// pass, the anonymizer's own person passes for the head fallback, whatever classes are
// detected), not with the video settings. A class not in the photo leaves nothing drawn, so the
// two images must be the same pixels.
TEST(CliDetect, PhotoOutputIsAnonymizedLikeAnonymizeDoes) {
  const fs::path dir = test::temp_dir("cli_detect_photo");
  const fs::path in = test::data("faces_wider/images/12_Group_Group_12_Group_Group_12_112.jpg");
  ASSERT_TRUE(fs::exists(in)) << in;
  auto d = test::run_command(detect_cmd() + in.string() + " --classes toothbrush -o " +
                             (dir / "detect.jpg").string());
  ASSERT_EQ(d.exit_code, 0) << d.err;
  auto a = test::run_command(test::edgevision_binary().string() + " --offline --models-dir " +
                             test::shared_models_dir().string() + " anonymize " + in.string() +
                             " -o " + (dir / "anonymize.jpg").string());
  ASSERT_EQ(a.exit_code, 0) << a.err;
  const cv::Mat original = cv::imread(in.string());
  const cv::Mat by_detect = cv::imread((dir / "detect.jpg").string());
  const cv::Mat by_anonymize = cv::imread((dir / "anonymize.jpg").string());
  ASSERT_FALSE(by_detect.empty() || by_anonymize.empty());
  EXPECT_GT(cv::norm(original, by_anonymize, cv::NORM_INF), 0.0);  // faces were masked
  EXPECT_EQ(cv::norm(by_detect, by_anonymize, cv::NORM_INF), 0.0);
}

TEST(CliTrack, VideoOutputIsAnonymizedByDefault) {
  const fs::path dir = test::temp_dir("cli_track_private");
  const std::string cmd = test::edgevision_binary().string() + " --offline --models-dir " +
                          test::shared_models_dir().string() + " track " +
                          test::data("video/otb_girl/girl.avi").string() +
                          " --model yolox-nano --classes person --max-frames 5 -o ";
  auto dflt = test::run_command(cmd + (dir / "a.avi").string());
  ASSERT_EQ(dflt.exit_code, 0) << dflt.err;
  auto clear = test::run_command(cmd + (dir / "b.avi").string() + " --no-anonymize");
  ASSERT_EQ(clear.exit_code, 0) << clear.err;
  EXPECT_NE(clear.err.find("--no-anonymize"), std::string::npos) << clear.err;
  // Same tracks drawn on both; only the masked faces differ.
  int differing = 0, frames = 0;
  cv::VideoCapture va((dir / "a.avi").string()), vb((dir / "b.avi").string());
  ASSERT_TRUE(va.isOpened());
  ASSERT_TRUE(vb.isOpened());
  cv::Mat a, b;
  while (va.read(a)) {
    ASSERT_TRUE(vb.read(b));
    ++frames;
    cv::Mat diff;
    cv::absdiff(a, b, diff);
    cv::Mat gray;
    cv::cvtColor(diff, gray, cv::COLOR_BGR2GRAY);
    if (cv::countNonZero(gray > 40) > 50) ++differing;
  }
  EXPECT_EQ(frames, 5);
  EXPECT_EQ(differing, frames) << "a frame was written with its face clear";
}

}  // namespace
}  // namespace ev
