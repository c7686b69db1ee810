#include <thread>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "edgevision/jpeg.hpp"

namespace ev {
namespace {

// A frame with smooth gradients, edges and noise: what JPEG is for, not a flat colour.
cv::Mat test_frame(int width, int height) {
  cv::Mat img(height, width, CV_8UC3);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      img.at<cv::Vec3b>(y, x) =
          cv::Vec3b(static_cast<uchar>(x * 255 / width), static_cast<uchar>(y * 255 / height),
                    static_cast<uchar>((x + y) % 256));
  cv::rectangle(img, cv::Rect(width / 4, height / 4, width / 3, height / 3),
                cv::Scalar(20, 200, 40), cv::FILLED);
  cv::circle(img, cv::Point(width * 2 / 3, height / 2), height / 5, cv::Scalar(250, 30, 90), 3);
  cv::Mat noise(height, width, CV_8UC3);
  cv::randu(noise, 0, 12);
  return img + noise;
}

double max_diff(const cv::Mat& a, const cv::Mat& b) {
  double m = 0;
  cv::minMaxLoc(cv::abs(a.reshape(1) - b.reshape(1)), nullptr, &m);
  return m;
}

// What OpenCV's encoder keeps of `image` at `quality`: the bar for ours.
double opencv_psnr(const cv::Mat& image, int quality) {
  std::vector<uint8_t> bytes;
  cv::imencode(".jpg", image, bytes, {cv::IMWRITE_JPEG_QUALITY, quality});
  const cv::Mat back =
      cv::imdecode(bytes, image.channels() == 1 ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR);
  cv::Mat reference = image;
  if (image.channels() == 4) cv::cvtColor(image, reference, cv::COLOR_BGRA2BGR);
  return cv::PSNR(back, reference.clone());
}

TEST(Jpeg, EncodesWhatOpenCvDecodesAndDecodesLikeOpenCv) {
  const cv::Mat frame = test_frame(320, 240);
  std::vector<uint8_t> ours;
  ASSERT_TRUE(encode_jpeg(frame, 90, ours).ok());
  ASSERT_GT(ours.size(), 100u);
  EXPECT_EQ(ours[0], 0xFF);
  EXPECT_EQ(ours[1], 0xD8);  // SOI
  const cv::Mat by_opencv = cv::imdecode(ours, cv::IMREAD_COLOR);
  ASSERT_EQ(by_opencv.size(), frame.size());
  EXPECT_GT(cv::PSNR(by_opencv, frame), opencv_psnr(frame, 90) - 0.05);
  // The same libjpeg-turbo, the same default DCT and upsampling: the same pixels.
  Result<cv::Mat> decoded = decode_jpeg(ours.data(), ours.size());
  ASSERT_TRUE(decoded.ok()) << decoded.error();
  EXPECT_LE(max_diff(*decoded, by_opencv), 1.0);
  // Quality changes the bytes: a lower one gives a smaller file.
  std::vector<uint8_t> low;
  ASSERT_TRUE(encode_jpeg(frame, 30, low).ok());
  EXPECT_LT(low.size(), ours.size());
}

TEST(Jpeg, AsGoodAndAsSmallAsImencodeAtTheSameQuality) {
  const cv::Mat frame = test_frame(256, 144);
  for (int quality : {50, 85, 95}) {
    std::vector<uint8_t> ours, theirs;
    ASSERT_TRUE(encode_jpeg(frame, quality, ours).ok());
    ASSERT_TRUE(cv::imencode(".jpg", frame, theirs, {cv::IMWRITE_JPEG_QUALITY, quality}));
    const cv::Mat back = cv::imdecode(ours, cv::IMREAD_COLOR);
    EXPECT_NEAR(cv::PSNR(back, frame), opencv_psnr(frame, quality), 0.05) << "quality " << quality;
    EXPECT_NEAR(static_cast<double>(ours.size()), static_cast<double>(theirs.size()),
                0.05 * static_cast<double>(theirs.size()))
        << "quality " << quality;
  }
}

TEST(Jpeg, RoiGrayAndBgraInputs) {
  const cv::Mat frame = test_frame(200, 120);
  const cv::Mat roi = frame(cv::Rect(17, 9, 101, 77));  // rows with a stride of the parent
  ASSERT_FALSE(roi.isContinuous());
  std::vector<uint8_t> bytes;
  ASSERT_TRUE(encode_jpeg(roi, 95, bytes).ok());
  Result<cv::Mat> back = decode_jpeg(bytes.data(), bytes.size());
  ASSERT_TRUE(back.ok());
  ASSERT_EQ(back->size(), roi.size());
  EXPECT_GT(cv::PSNR(*back, roi.clone()), opencv_psnr(roi, 95) - 0.05);

  cv::Mat gray;
  cv::cvtColor(frame, gray, cv::COLOR_BGR2GRAY);
  ASSERT_TRUE(encode_jpeg(gray, 95, bytes).ok());
  back = decode_jpeg(bytes.data(), bytes.size());
  ASSERT_TRUE(back.ok());
  ASSERT_EQ(back->type(), CV_8UC3);  // gray JPEGs come back as BGR
  std::vector<cv::Mat> planes;
  cv::split(*back, planes);
  EXPECT_EQ(max_diff(planes[0], planes[1]), 0.0);
  EXPECT_EQ(max_diff(planes[0], planes[2]), 0.0);
  EXPECT_GT(cv::PSNR(cv::imdecode(bytes, cv::IMREAD_GRAYSCALE), gray),
            opencv_psnr(gray, 95) - 0.05);

  cv::Mat bgra;
  cv::cvtColor(frame, bgra, cv::COLOR_BGR2BGRA);
  ASSERT_TRUE(encode_jpeg(bgra, 95, bytes).ok());
  back = decode_jpeg(bytes.data(), bytes.size());
  ASSERT_TRUE(back.ok());
  EXPECT_GT(cv::PSNR(*back, frame), opencv_psnr(bgra, 95) - 0.05);
}

TEST(Jpeg, ReducedDecodeIsTheShrunkImage) {
  const cv::Mat frame = test_frame(1280, 720);
  std::vector<uint8_t> bytes;
  ASSERT_TRUE(encode_jpeg(frame, 90, bytes).ok());
  Result<cv::Size> size = jpeg_size(bytes.data(), bytes.size());
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, cv::Size(1280, 720));
  for (int r : {2, 4, 8}) {
    Result<cv::Mat> small = decode_jpeg(bytes.data(), bytes.size(), r);
    ASSERT_TRUE(small.ok()) << small.error();
    // Each side rounded up.
    EXPECT_EQ(small->cols, (1280 + r - 1) / r);
    EXPECT_EQ(small->rows, (720 + r - 1) / r);
    cv::Mat shrunk;
    cv::resize(frame, shrunk, small->size(), 0, 0, cv::INTER_AREA);
    EXPECT_GT(cv::PSNR(*small, shrunk), 25.0) << "reduce " << r;
  }
  // An odd size rounds up too.
  const cv::Mat odd = test_frame(333, 101);
  ASSERT_TRUE(encode_jpeg(odd, 90, bytes).ok());
  Result<cv::Mat> quarter = decode_jpeg(bytes.data(), bytes.size(), 4);
  ASSERT_TRUE(quarter.ok());
  EXPECT_EQ(quarter->size(), cv::Size(84, 26));
}

TEST(Jpeg, ReduceFactorKeepsTheWantedSize) {
  EXPECT_EQ(jpeg_reduce_for({1280, 720}, {160, 90}), 8);
  EXPECT_EQ(jpeg_reduce_for({1280, 720}, {160, 120}), 4);
  EXPECT_EQ(jpeg_reduce_for({300, 200}, {160, 107}), 1);
  EXPECT_EQ(jpeg_reduce_for({640, 480}, {160, 120}), 4);
  EXPECT_EQ(jpeg_reduce_for({639, 480}, {160, 120}), 2);
  EXPECT_EQ(jpeg_reduce_for({0, 0}, {160, 120}), 1);
}

TEST(Jpeg, BadInputIsAnErrorNotAPartialImage) {
  const cv::Mat frame = test_frame(320, 240);
  std::vector<uint8_t> bytes;
  ASSERT_TRUE(encode_jpeg(frame, 90, bytes).ok());

  const std::vector<uint8_t> truncated(bytes.begin(), bytes.begin() + bytes.size() / 2);
  Result<cv::Mat> r = decode_jpeg(truncated.data(), truncated.size());
  EXPECT_FALSE(r.ok());

  std::vector<uint8_t> garbage(4000, 0x5A);
  r = decode_jpeg(garbage.data(), garbage.size());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("JPEG"), std::string::npos);
  EXPECT_FALSE(jpeg_size(garbage.data(), garbage.size()).ok());

  // A header claiming 60000 x 60000 (a corrupt size field) is refused before allocating 10 GB.
  std::vector<uint8_t> huge = bytes;
  for (size_t i = 2; i + 8 < huge.size(); ++i)
    if (huge[i] == 0xFF && huge[i + 1] == 0xC0) {  // SOF0: length, precision, height, width
      huge[i + 5] = huge[i + 7] = 0xEA;
      huge[i + 6] = huge[i + 8] = 0x60;
      break;
    }
  const Result<cv::Size> claimed = jpeg_size(huge.data(), huge.size());
  ASSERT_TRUE(claimed.ok());
  ASSERT_EQ(*claimed, cv::Size(60000, 60000));
  r = decode_jpeg(huge.data(), huge.size());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("Mpx"), std::string::npos) << r.error();

  EXPECT_FALSE(decode_jpeg(nullptr, 0).ok());
  EXPECT_FALSE(decode_jpeg(bytes.data(), bytes.size(), 3).ok());

  std::vector<uint8_t> out{1, 2, 3};
  EXPECT_FALSE(encode_jpeg(cv::Mat(), 90, out).ok());
  EXPECT_FALSE(encode_jpeg(cv::Mat(8, 8, CV_16UC3, cv::Scalar::all(1000)), 90, out).ok());
  EXPECT_FALSE(encode_jpeg(cv::Mat(8, 8, CV_8UC2, cv::Scalar::all(1)), 90, out).ok());
}

// Each thread keeps its own compressor and buffer: threads encoding at once get the bytes a
// single thread gets.
TEST(Jpeg, ThreadsEncodeIndependently) {
  std::vector<cv::Mat> frames;
  std::vector<std::vector<uint8_t>> expected(4);
  for (int i = 0; i < 4; ++i) {
    frames.push_back(test_frame(160 + 32 * i, 120 + 16 * i));
    ASSERT_TRUE(encode_jpeg(frames[i], 80, expected[i]).ok());
  }
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      std::vector<uint8_t> out;
      for (int k = 0; k < 20; ++k) {
        const int i = (t + k) % 4;
        if (!encode_jpeg(frames[i], 80, out).ok() || out != expected[i]) ++mismatches[t];
      }
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

}  // namespace
}  // namespace ev
