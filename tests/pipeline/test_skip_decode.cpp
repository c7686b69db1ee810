// Decode only what is analysed: a live source skips the frames the fps cap does not want
// without decoding them, and the frames it does decode are the right ones.
#include <gtest/gtest.h>
#include <httplib.h>

#include <opencv2/core.hpp>

#include <fstream>
#include <sstream>
#include <thread>

#include "edgevision/io.hpp"
#include "support/test_support.hpp"

namespace ev {
namespace {

class HttpClip {
 public:
  explicit HttpClip(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    clip_ = ss.str();
    server_.Get("/cam.avi", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(clip_, "video/x-msvideo");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 500 && !server_.is_running(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ~HttpClip() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/cam.avi"; }
  bool ok() const { return !clip_.empty(); }

 private:
  std::string clip_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

TEST(SkipDecode, LiveSourceDecodesOnlyWantedFramesAndTheRightOnes) {
  const auto file = test::data("video/pets09_s2l1/vtest.avi");
  HttpClip cam(file);
  ASSERT_TRUE(cam.ok()) << "missing " << file;
  auto live = open_source(cam.url());
  ASSERT_TRUE(live) << live.error();
  ASSERT_EQ((*live)->info().kind, SourceKind::kStream);
  // Reference: every frame of the same clip, decoded from the file.
  auto ref = open_source(file.string());
  ASSERT_TRUE(ref) << ref.error();
  std::vector<cv::Mat> expected;
  for (int i = 0; i < 30; ++i) {
    Frame f;
    std::string msg;
    ASSERT_EQ((*ref)->read(f, msg), ReadStatus::kFrame) << msg;
    expected.push_back(f.image);
  }

  int asked = 0, decoded = 0;
  for (int i = 0; i < 30; ++i) {
    Frame f;
    std::string msg;
    bool skipped = false;
    const bool want = i % 3 == 0;  // a 30 fps camera capped at 10 fps
    const ReadStatus rs = (*live)->read_if(
        f, msg,
        [&] {
          ++asked;
          return want;
        },
        skipped);
    ASSERT_EQ(rs, ReadStatus::kFrame) << msg;
    EXPECT_EQ(f.index, i);
    EXPECT_EQ(skipped, !want);
    if (!want) {
      EXPECT_TRUE(f.image.empty()) << "a skipped frame is not decoded";
      continue;
    }
    ++decoded;
    ASSERT_FALSE(f.image.empty());
    ASSERT_EQ(f.image.size(), expected[i].size());
    EXPECT_EQ(cv::norm(f.image, expected[i], cv::NORM_INF), 0) << "frame " << i;
  }
  EXPECT_EQ(asked, 30);
  EXPECT_EQ(decoded, 10);
}

TEST(SkipDecode, FileSourceReadIfStillReadsEveryFrame) {
  auto src = open_source(test::data("video/pets09_s2l1/vtest.avi").string());
  ASSERT_TRUE(src) << src.error();
  for (int i = 0; i < 6; ++i) {
    Frame f;
    std::string msg;
    bool skipped = true;
    ASSERT_EQ((*src)->read_if(f, msg, [] { return true; }, skipped), ReadStatus::kFrame);
    EXPECT_FALSE(skipped);
    EXPECT_FALSE(f.image.empty());
    EXPECT_EQ(f.index, i);
  }
}

}  // namespace
}  // namespace ev
