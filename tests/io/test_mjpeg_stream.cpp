// MJPEG streams read as packets: only analysed frames are decoded, and they decode to the
// same pictures as OpenCV's own path.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include <string>
#include <vector>

#include "edgevision/io.hpp"
#include "io/mjpeg_decoder.hpp"
#include "support/loopback_streams.hpp"
#include "support/test_support.hpp"

namespace ev {
namespace {

using test::SilentAfterMjpeg;

cv::Mat real_frame() {
  cv::VideoCapture in(test::data("video/otb_crossing/crossing.avi").string());
  cv::Mat f;
  in.read(f);
  return f;
}

double mean_abs_diff(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat d;
  cv::absdiff(a, b, d);
  const cv::Scalar m = cv::mean(d);
  return (m[0] + m[1] + m[2]) / 3.0;
}

TEST(MjpegDecoder, DecodesLikeOpenCV) {
  const cv::Mat frame = real_frame();
  ASSERT_FALSE(frame.empty());
  std::vector<uint8_t> jpeg;
  ASSERT_TRUE(cv::imencode(".jpg", frame, jpeg));
  auto decoder = MjpegDecoder::create();
  ASSERT_TRUE(decoder.ok()) << decoder.error();
  cv::Mat ours;
  const cv::Mat packet(1, static_cast<int>(jpeg.size()), CV_8U, jpeg.data());
  ASSERT_TRUE((*decoder)->decode(packet, ours).ok());
  const cv::Mat reference = cv::imdecode(jpeg, cv::IMREAD_COLOR);
  ASSERT_EQ(ours.size(), reference.size());
  ASSERT_EQ(ours.type(), CV_8UC3);
  // Two JPEG decoders differ in IDCT and chroma upsampling by a level or two, not more.
  EXPECT_LT(mean_abs_diff(ours, reference), 2.0);
  EXPECT_GT(cv::PSNR(ours, reference), 35.0);
  // Each decode is a new image: a frame queued downstream is never overwritten.
  cv::Mat again;
  ASSERT_TRUE((*decoder)->decode(packet, again).ok());
  EXPECT_NE(again.data, ours.data);
  EXPECT_EQ((*decoder)->fallbacks(), 0);  // a plain JPEG needs no libavcodec
}

// The JPEG with its Huffman table segments (DHT) cut out, as many cameras send MJPEG frames
// ("AVI1"): decoders must fall back to the standard tables.
std::vector<uint8_t> without_huffman_tables(const std::vector<uint8_t>& jpeg) {
  std::vector<uint8_t> out(jpeg.begin(), jpeg.begin() + 2);  // SOI
  size_t i = 2;
  while (i + 4 <= jpeg.size() && jpeg[i] == 0xFF) {
    const uint8_t marker = jpeg[i + 1];
    const size_t length = (static_cast<size_t>(jpeg[i + 2]) << 8) | jpeg[i + 3];
    if (marker == 0xDA) break;  // start of scan: the rest is entropy-coded data
    if (marker != 0xC4) out.insert(out.end(), jpeg.begin() + i, jpeg.begin() + i + 2 + length);
    i += 2 + length;
  }
  out.insert(out.end(), jpeg.begin() + i, jpeg.end());
  return out;
}

TEST(MjpegDecoder, FramesWithoutHuffmanTablesDecode) {
  const cv::Mat frame = real_frame();
  std::vector<uint8_t> jpeg;
  ASSERT_TRUE(cv::imencode(".jpg", frame, jpeg));
  const std::vector<uint8_t> bare = without_huffman_tables(jpeg);
  ASSERT_LT(bare.size(), jpeg.size());  // the tables really went
  auto decoder = MjpegDecoder::create();
  ASSERT_TRUE(decoder.ok()) << decoder.error();
  cv::Mat ours;
  ASSERT_TRUE((*decoder)
                  ->decode(cv::Mat(1, static_cast<int>(bare.size()), CV_8U,
                                   const_cast<uint8_t*>(bare.data())),
                           ours)
                  .ok());
  EXPECT_GT(cv::PSNR(ours, cv::imdecode(jpeg, cv::IMREAD_COLOR)), 35.0);
  EXPECT_EQ((*decoder)->fallbacks(), 0);  // TurboJPEG supplies the standard tables itself
}

// Two JPEGs in one packet (how interlaced capture cards send their two fields): libavcodec's
// job, not TurboJPEG's, which would return the first alone.
TEST(MjpegDecoder, PacketsWithTwoImagesGoToLibavcodec) {
  const cv::Mat frame = real_frame();
  std::vector<uint8_t> jpeg;
  ASSERT_TRUE(cv::imencode(".jpg", frame, jpeg));
  std::vector<uint8_t> two = jpeg;
  two.insert(two.end(), jpeg.begin(), jpeg.end());
  auto decoder = MjpegDecoder::create();
  ASSERT_TRUE(decoder.ok()) << decoder.error();
  cv::Mat out;
  ASSERT_TRUE(
      (*decoder)->decode(cv::Mat(1, static_cast<int>(two.size()), CV_8U, two.data()), out).ok());
  EXPECT_EQ(out.size(), frame.size());
  EXPECT_EQ((*decoder)->fallbacks(), 1);
  // One image alone still goes to TurboJPEG.
  ASSERT_TRUE(
      (*decoder)->decode(cv::Mat(1, static_cast<int>(jpeg.size()), CV_8U, jpeg.data()), out).ok());
  EXPECT_EQ((*decoder)->fallbacks(), 1);
}

TEST(MjpegDecoder, GarbageIsAnErrorNotACrash) {
  auto decoder = MjpegDecoder::create();
  ASSERT_TRUE(decoder.ok()) << decoder.error();
  std::vector<uint8_t> garbage(5000);
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<uint8_t>(i * 131 + 7);
  cv::Mat out;
  EXPECT_FALSE((*decoder)->decode(cv::Mat(1, 5000, CV_8U, garbage.data()), out).ok());
  EXPECT_FALSE((*decoder)->decode(cv::Mat(), out).ok());
  // A truncated JPEG must not crash; libavcodec may conceal the missing part, so either an
  // error or an image of the right size is acceptable.
  std::vector<uint8_t> jpeg;
  ASSERT_TRUE(cv::imencode(".jpg", real_frame(), jpeg));
  const cv::Mat half(1, static_cast<int>(jpeg.size() / 2), CV_8U, jpeg.data());
  const int64_t refused = (*decoder)->fallbacks();
  if ((*decoder)->decode(half, out).ok()) {
    EXPECT_EQ(out.size(), real_frame().size());
  }
  // TurboJPEG does not return a partly grey frame: the packet went to libavcodec.
  EXPECT_EQ((*decoder)->fallbacks(), refused + 1);
  // And the decoder still works afterwards, through TurboJPEG again.
  EXPECT_TRUE(
      (*decoder)->decode(cv::Mat(1, static_cast<int>(jpeg.size()), CV_8U, jpeg.data()), out).ok());
  EXPECT_EQ((*decoder)->fallbacks(), refused + 1);
}

// Reads `n` frames of a loopback MJPEG camera; every `keep`-th one is decoded.
std::vector<cv::Mat> read_stream(const std::string& url, bool raw, int n, int keep, bool& on_demand,
                                 int& skipped_count) {
  SourceOptions opts;
  opts.raw_mjpeg = raw;
  opts.open_timeout_ms = 5000;
  opts.read_timeout_ms = 3000;
  auto src = open_source(url, opts);
  EXPECT_TRUE(src.ok()) << src.error();
  std::vector<cv::Mat> images;
  skipped_count = 0;
  if (!src.ok()) return images;
  on_demand = (*src)->info().decodes_on_demand;
  for (int i = 0; i < n; ++i) {
    Frame f;
    std::string message;
    bool skipped = false;
    const ReadStatus rs = (*src)->read_if(
        f, message, [&] { return i % keep == 0; }, skipped);
    EXPECT_EQ(rs, ReadStatus::kFrame) << message;
    if (rs != ReadStatus::kFrame) break;
    if (skipped) {
      ++skipped_count;
      EXPECT_TRUE(f.image.empty());
      continue;
    }
    EXPECT_FALSE(f.image.empty());
    images.push_back(f.image);
  }
  return images;
}

TEST(MjpegStream, PacketsDecodeOnlyWantedFramesAndMatchOpenCV) {
  constexpr int kFrames = 12;
  SilentAfterMjpeg raw_camera(kFrames), decoded_camera(kFrames);
  ASSERT_EQ(raw_camera.frames_loaded(), static_cast<size_t>(kFrames));
  bool raw_on_demand = false, cv_on_demand = true;
  int raw_skipped = 0, cv_skipped = 0;
  const auto raw = read_stream(raw_camera.url(), true, kFrames, 3, raw_on_demand, raw_skipped);
  const auto reference =
      read_stream(decoded_camera.url(), false, kFrames, 3, cv_on_demand, cv_skipped);
  raw_camera.close_streams();
  decoded_camera.close_streams();
  EXPECT_TRUE(raw_on_demand);
  EXPECT_FALSE(cv_on_demand);
  EXPECT_EQ(raw_skipped, kFrames - kFrames / 3);
  EXPECT_EQ(cv_skipped, raw_skipped);
  ASSERT_EQ(raw.size(), static_cast<size_t>(kFrames / 3));
  ASSERT_EQ(reference.size(), raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    ASSERT_EQ(raw[i].size(), reference[i].size()) << "frame " << i;
    EXPECT_LT(mean_abs_diff(raw[i], reference[i]), 2.0) << "frame " << i;
  }
}

}  // namespace
}  // namespace ev
