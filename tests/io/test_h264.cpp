// .mp4 output is H.264 when OpenCV's FFmpeg has an encoder (Debian's has libx264/openh264), and
// every frame comes back at the input's size and rate.
#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "edgevision/io.hpp"
#include "support/test_support.hpp"

namespace ev {
namespace {
namespace fs = std::filesystem;

TEST(IoH264, Mp4OutputIsH264AndKeepsEveryFrame) {
  const fs::path dir = test::temp_dir("io_h264");
  SourceInfo in;
  in.kind = SourceKind::kVideo;
  in.fps = 10;
  in.size = cv::Size(320, 240);
  auto sink = open_sink(dir / "out.mp4", in);
  ASSERT_TRUE(sink.ok()) << sink.error();
  for (int i = 0; i < 30; ++i) {
    Frame f;
    f.index = i;
    f.image = cv::Mat(240, 320, CV_8UC3, cv::Scalar(40, 80, 120));
    cv::circle(f.image, {20 + i * 9, 120}, 30, cv::Scalar(250, 250, 250), cv::FILLED);
    ASSERT_TRUE((*sink)->write(f).ok());
  }
  (*sink)->close();
  cv::VideoCapture check((dir / "out.mp4").string(), cv::CAP_FFMPEG);
  ASSERT_TRUE(check.isOpened());
  const int fourcc = static_cast<int>(check.get(cv::CAP_PROP_FOURCC));
  const std::string cc{static_cast<char>(fourcc & 0xff), static_cast<char>((fourcc >> 8) & 0xff),
                       static_cast<char>((fourcc >> 16) & 0xff),
                       static_cast<char>((fourcc >> 24) & 0xff)};
  EXPECT_TRUE(cc == "avc1" || cc == "h264" || cc == "H264") << "codec " << cc;
  int frames = 0;
  cv::Mat img;
  while (check.read(img)) {
    EXPECT_EQ(img.size(), cv::Size(320, 240));
    ++frames;
  }
  EXPECT_EQ(frames, 30);
  EXPECT_NEAR(check.get(cv::CAP_PROP_FPS), 10.0, 0.01);
}

}  // namespace
}  // namespace ev
