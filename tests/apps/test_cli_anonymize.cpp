// End-to-end tests of `edgevision anonymize` through the real binary.
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include "support/test_support.hpp"

namespace ev {
namespace {
namespace fs = std::filesystem;

std::string bin() {
  return test::edgevision_binary().string();
}
std::string shared_models() {
  return "--models-dir " + test::shared_models_dir().string();
}

nlohmann::json parse_summary(const test::CommandResult& r) {
  EXPECT_FALSE(r.out.empty()) << "stderr: " << r.err;
  try {
    return nlohmann::json::parse(r.out);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not JSON: " << r.out << "\nstderr: " << r.err;
    return {};
  }
}

TEST(CliAnonymize, ImageWithDefaultDetector) {
  const fs::path dir = test::temp_dir("cli_image");
  const fs::path in = test::data("faces/images/2008_002079.jpg");
  ASSERT_TRUE(fs::exists(in)) << in;
  auto r = test::run_command(bin() + " " + shared_models() + " --offline anonymize " + in.string() +
                             " -o " + (dir / "out.jpg").string() + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = parse_summary(r);
  EXPECT_EQ(j["frames"], 1);
  EXPECT_EQ(j["frames_written"], 1);
  EXPECT_GE(j["faces"].get<int>(), 1);
  EXPECT_EQ(j["dropped_frames"], 0);
  EXPECT_FALSE(j.contains("fallback")) << j.dump();
  for (const char* key : {"fps", "detector", "method", "level", "corrupt_frames"})
    EXPECT_TRUE(j.contains(key)) << key;
  const cv::Mat a = cv::imread(in.string()), b = cv::imread((dir / "out.jpg").string());
  ASSERT_FALSE(b.empty());
  EXPECT_EQ(a.size(), b.size());
}

TEST(CliAnonymize, FolderKeepsRelativeNames) {
  const fs::path dir = test::temp_dir("cli_folder");
  fs::create_directories(dir / "in" / "nested");
  fs::copy_file(test::data("faces/images/2008_002079.jpg"), dir / "in" / "nested" / "a.jpg");
  fs::copy_file(test::data("images/person.jpg"), dir / "in" / "b.jpg");
  std::ofstream(dir / "in" / "corrupt.jpg") << "garbage bytes";
  auto r = test::run_command(bin() + " " + shared_models() + " --offline anonymize " +
                             (dir / "in").string() + " -o " + (dir / "out").string() +
                             " --method pixelate --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = parse_summary(r);
  EXPECT_EQ(j["frames"], 2);
  EXPECT_EQ(j["corrupt_frames"], 1);
  EXPECT_NE(r.err.find("corrupt.jpg"), std::string::npos)
      << "warning names the bad file: " << r.err;
  EXPECT_TRUE(fs::exists(dir / "out" / "nested" / "a.jpg"));
  EXPECT_TRUE(fs::exists(dir / "out" / "b.jpg"));
}

TEST(CliAnonymize, VideoKeepsFrameCountSizeAndFps) {
  const fs::path dir = test::temp_dir("cli_video");
  const fs::path in = test::data("video/otb_crossing/crossing.avi");
  auto r = test::run_command(bin() + " " + shared_models() + " --offline anonymize " + in.string() +
                             " -o " + (dir / "out.avi").string() +
                             " --method emoji --level high --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = parse_summary(r);
  cv::VideoCapture src(in.string()), out((dir / "out.avi").string());
  ASSERT_TRUE(out.isOpened());
  EXPECT_EQ(j["frames"].get<int>(), 120);
  EXPECT_EQ(static_cast<int>(out.get(cv::CAP_PROP_FRAME_COUNT)), 120);
  EXPECT_NEAR(out.get(cv::CAP_PROP_FPS), src.get(cv::CAP_PROP_FPS), 0.01);
  EXPECT_EQ(out.get(cv::CAP_PROP_FRAME_WIDTH), src.get(cv::CAP_PROP_FRAME_WIDTH));
  EXPECT_EQ(out.get(cv::CAP_PROP_FRAME_HEIGHT), src.get(cv::CAP_PROP_FRAME_HEIGHT));
}

// --jpeg-quality sets the MJPG video frames' quality (smaller file at 40 than at the default 85)
// and is range-checked (exit 2).
TEST(CliAnonymize, JpegQualitySetsTheVideoQuality) {
  const fs::path dir = test::temp_dir("cli_jpeg_quality");
  const fs::path in = test::data("video/otb_crossing/crossing.avi");
  const auto run = [&](const std::string& name, const std::string& extra) {
    return test::run_command(bin() + " " + shared_models() + " --offline anonymize " + in.string() +
                             " -o " + (dir / name).string() + " --max-frames 20 --json" + extra);
  };
  auto d = run("default.avi", "");
  ASSERT_EQ(d.exit_code, 0) << d.err;
  auto low = run("q40.avi", " --jpeg-quality 40");
  ASSERT_EQ(low.exit_code, 0) << low.err;
  EXPECT_EQ(parse_summary(low)["frames_written"], 20);
  EXPECT_LT(fs::file_size(dir / "q40.avi") * 3, fs::file_size(dir / "default.avi") * 2)
      << fs::file_size(dir / "q40.avi") << " vs " << fs::file_size(dir / "default.avi");
  EXPECT_EQ(run("bad.avi", " --jpeg-quality 101").exit_code, 2);
}

TEST(CliAnonymize, TruncatedVideoWarnsAndFinishes) {
  const fs::path dir = test::temp_dir("cli_truncated");
  fs::copy_file(test::data("video/otb_crossing/crossing.avi"), dir / "cut.avi");
  fs::resize_file(dir / "cut.avi", fs::file_size(dir / "cut.avi") / 2);
  auto r = test::run_command(bin() + " " + shared_models() + " --offline anonymize " +
                             (dir / "cut.avi").string() + " -o " + (dir / "out.avi").string() +
                             " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = parse_summary(r);
  EXPECT_GT(j["frames"].get<int>(), 10);
  EXPECT_LT(j["frames"].get<int>(), 120);
  EXPECT_EQ(j["frames_written"], j["frames"]);
}

TEST(CliAnonymize, MissingInputNamesTheFile) {
  const fs::path dir = test::temp_dir("cli_missing");
  auto r =
      test::run_command(bin() + " anonymize /nonexistent/clip.mp4 -o " + (dir / "o.mp4").string());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("/nonexistent/clip.mp4"), std::string::npos) << r.err;
}

TEST(CliAnonymize, BadOptionValueIsRefused) {
  const fs::path dir = test::temp_dir("cli_badopt");
  auto r = test::run_command(bin() + " anonymize " + test::data("images/person.jpg").string() +
                             " -o " + (dir / "o.jpg").string() + " --method sparkles");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("sparkles"), std::string::npos) << r.err;
}

TEST(CliAnonymize, MissingModelFallsBackAndSaysSo) {
  const fs::path dir = test::temp_dir("cli_fallback");
  fs::create_directories(dir / "empty_models");
  auto r = test::run_command(
      "EDGEVISION_MODELS= EDGEVISION_SHIPPED_MODELS= EDGEVISION_CACHE=" + (dir / "cache").string() +
      " " + bin() + " --offline --models-dir " + (dir / "empty_models").string() + " anonymize " +
      test::data("faces/images/2008_002079.jpg").string() + " -o " + (dir / "o.jpg").string() +
      " --detector yunet --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = parse_summary(r);
  ASSERT_TRUE(j.contains("fallback")) << j.dump();
  EXPECT_NE(j["fallback"].get<std::string>().find("yunet"), std::string::npos) << j.dump();
  EXPECT_NE(j["detector"].get<std::string>(), "yunet");
  EXPECT_GE(j["faces"].get<int>(), 1) << "the fallback detector still finds faces";
}

TEST(CliAnonymize, WrongHashModelIsNotUsed) {
  const fs::path dir = test::temp_dir("cli_badhash");
  fs::create_directories(dir / "models");
  fs::copy_file(test::shared_models_dir() / "face" / "yunet_s_640_640.onnx",
                dir / "models" / "yunet_s_640_640.onnx");
  {
    std::fstream f(dir / "models" / "yunet_s_640_640.onnx",
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(1000);
    f.put('\x42');
  }
  auto r = test::run_command(
      "EDGEVISION_MODELS= EDGEVISION_SHIPPED_MODELS= EDGEVISION_CACHE=" + (dir / "cache").string() +
      " " + bin() + " --offline --models-dir " + (dir / "models").string() + " anonymize " +
      test::data("faces/images/2008_002079.jpg").string() + " -o " + (dir / "o.jpg").string() +
      " --detector yunet --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = parse_summary(r);
  EXPECT_TRUE(j.contains("fallback")) << j.dump();
  EXPECT_NE(r.err.find("sha256"), std::string::npos)
      << "the log says why the file was rejected: " << r.err;
}

// A fresh machine: no models dir, nothing in $EDGEVISION_MODELS, an empty cache, no network.
// The shipped YuNet is used, not a fallback. The head fallback's person detector (yolox-nano)
// is not shipped: its absence is one warning and `"head_fallback": "unavailable"`, and
// --strict refuses it like any weaker protection.
TEST(CliAnonymize, OfflineStartUsesTheShippedDefaultModel) {
  const fs::path dir = test::temp_dir("cli_shipped");
  const std::string cmd = "EDGEVISION_MODELS= EDGEVISION_CACHE=" + (dir / "cache").string() + " " +
                          bin() + " --offline anonymize " +
                          test::data("faces/images/2008_002079.jpg").string() + " -o " +
                          (dir / "o.jpg").string() + " --json";
  auto r = test::run_command(cmd + " --strict --no-head-fallback");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = parse_summary(r);
  // An image: the shipped YuNet with the still-photo mirrored pass (AnonymizerOptions::photo_flip).
  EXPECT_EQ(j["detector"], "yunet+flip") << j.dump();
  EXPECT_FALSE(j.contains("fallback")) << j.dump();
  EXPECT_EQ(j["head_fallback"], "off") << j.dump();
  EXPECT_GE(j["faces"].get<int>(), 1);
  auto heads = test::run_command(cmd);
  ASSERT_EQ(heads.exit_code, 0) << heads.err;
  EXPECT_EQ(parse_summary(heads)["head_fallback"], "unavailable");
  EXPECT_NE(heads.err.find("head fallback off"), std::string::npos) << heads.err;
  EXPECT_EQ(test::run_command(cmd + " --strict").exit_code, 1);
  // With the person model where the manager looks, the head fallback runs.
  auto with_model = test::run_command(cmd + " --models-dir " + test::shared_models_dir().string());
  ASSERT_EQ(with_model.exit_code, 0) << with_model.err;
  EXPECT_EQ(parse_summary(with_model)["head_fallback"], "on");
}

// Without the shipped model (and offline), the fallback is announced in one warning line, and
// --strict turns it into an error.
TEST(CliAnonymize, FallbackIsOneLineAndStrictRefusesIt) {
  const fs::path dir = test::temp_dir("cli_fallback_line");
  const std::string env =
      "EDGEVISION_MODELS= EDGEVISION_SHIPPED_MODELS= EDGEVISION_CACHE=" + (dir / "cache").string() +
      " ";
  const std::string cmd = bin() + " --offline anonymize " +
                          test::data("faces/images/2008_002079.jpg").string() + " -o " +
                          (dir / "o.jpg").string() + " --json --no-head-fallback";
  auto r = test::run_command(env + cmd);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  size_t warnings = 0;
  for (size_t at = r.err.find("[warn"); at != std::string::npos; at = r.err.find("[warn", at + 1))
    ++warnings;
  EXPECT_EQ(warnings, 1u) << r.err;
  EXPECT_NE(r.err.find("using '"), std::string::npos) << r.err;
  EXPECT_TRUE(parse_summary(r).contains("fallback"));
  auto strict = test::run_command(env + cmd + " --strict");
  EXPECT_EQ(strict.exit_code, 1) << strict.err;
  EXPECT_NE(strict.err.find("--strict"), std::string::npos) << strict.err;
  EXPECT_FALSE(fs::exists(dir / "o.jpg.tmp"));
}

// Face passes of several frames at once, masks applied in frame order: the same video as one
// frame at a time (3 in flight: more than the cores of a 2-core box, so frames finish out of
// order).
TEST(CliAnonymize, FramesInFlightWriteTheSameVideo) {
  const fs::path dir = test::temp_dir("cli_in_flight");
  const fs::path in = test::data("video/highway_cars.mp4");
  nlohmann::json summary[2];
  std::string errs[2];
  for (int k = 0; k < 2; ++k) {
    auto r =
        test::run_command(bin() + " " + shared_models() + " --offline anonymize " + in.string() +
                          " -o " + (dir / (std::to_string(k) + ".avi")).string() +
                          " --max-frames 24 --json --frames-in-flight " + (k ? "3" : "1"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    summary[k] = parse_summary(r);
    errs[k] = r.err;
  }
  EXPECT_EQ(summary[0]["frames_in_flight"], 1);
  EXPECT_EQ(summary[1]["frames_in_flight"], 3);
  // The head fallback's person pass runs beside the frames in flight: their share of the cores.
  EXPECT_NE(errs[0].find("detector: model=yolox_nano.onnx"), std::string::npos) << errs[0];
  EXPECT_NE(errs[0].find("threads=auto"), std::string::npos) << errs[0];
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  EXPECT_NE(errs[1].find("threads=" + std::to_string(std::max(1u, cores / 3))), std::string::npos)
      << errs[1];
  EXPECT_EQ(summary[0]["faces"], summary[1]["faces"]);
  EXPECT_EQ(summary[0]["masks"], summary[1]["masks"]);
  EXPECT_GT(summary[0]["masks"].get<int>(), 0);
  cv::VideoCapture a((dir / "0.avi").string()), b((dir / "1.avi").string());
  cv::Mat fa, fb;
  int frames = 0;
  while (a.read(fa)) {
    ASSERT_TRUE(b.read(fb)) << "frame " << frames;
    EXPECT_EQ(cv::norm(fa, fb, cv::NORM_INF), 0.0) << "frame " << frames;
    ++frames;
  }
  EXPECT_FALSE(b.read(fb));
  EXPECT_EQ(frames, 24);
}

// Photos at level medium take the mirrored face pass and the crowd levers; a folder of them in
// flight gives the same images as one at a time.
TEST(CliAnonymize, FramesInFlightSamePhotosInAFolder) {
  const fs::path dir = test::temp_dir("cli_in_flight_photos");
  fs::create_directories(dir / "in");
  for (const char* name : {"12_Group_Large_Group_12_Group_Large_Group_12_286.jpg",
                           "18_Concerts_Concerts_18_251.jpg", "17_Ceremony_Ceremony_17_1037.jpg"})
    fs::copy_file(test::data(std::string("faces_wider/images/") + name), dir / "in" / name);
  for (const char* k : {"1", "3"}) {
    auto r = test::run_command(bin() + " " + shared_models() + " --offline anonymize " +
                               (dir / "in").string() + " -o " + (dir / k).string() +
                               " --json --frames-in-flight " + k);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(parse_summary(r)["frames_in_flight"].get<int>(), std::stoi(k));
  }
  for (const auto& entry : fs::directory_iterator(dir / "in")) {
    const std::string name = entry.path().filename().string();
    const cv::Mat one = cv::imread((dir / "1" / name).string());
    const cv::Mat three = cv::imread((dir / "3" / name).string());
    ASSERT_FALSE(one.empty() || three.empty()) << name;
    EXPECT_GT(cv::norm(one, cv::imread(entry.path().string()), cv::NORM_INF), 0.0) << name;
    EXPECT_EQ(cv::norm(one, three, cv::NORM_INF), 0.0) << name;
  }
}

}  // namespace
}  // namespace ev
