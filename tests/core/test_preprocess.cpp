#include <cmath>
#include <limits>

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "edgevision/preprocess.hpp"

namespace ev {
namespace {

TEST(Preprocess, LetterboxTopLeftKeepsRatioAndPads) {
  cv::Mat img(100, 200, CV_8UC3, cv::Scalar(10, 20, 30));
  Preprocess p;
  p.resize = "letterbox";
  std::vector<float> out;
  InputTransform t = make_input_tensor(img, p, 64, 64, out);
  ASSERT_EQ(out.size(), 3u * 64 * 64);
  EXPECT_FLOAT_EQ(t.scale_x, 64.f / 200.f);
  EXPECT_FLOAT_EQ(t.pad_x, 0.f);
  EXPECT_FLOAT_EQ(t.pad_y, 0.f);
  EXPECT_FLOAT_EQ(out[0], 10.f);         // B plane, top-left pixel
  EXPECT_FLOAT_EQ(out[64 * 64], 20.f);   // G plane
  EXPECT_FLOAT_EQ(out[63 * 64], 114.f);  // bottom row is padding
  cv::Rect2f back = t.to_frame(cv::Rect2f(0, 0, 64, 32));
  EXPECT_NEAR(back.width, 200.f, 1e-3);
  EXPECT_NEAR(back.height, 100.f, 1e-3);
}

TEST(Preprocess, CentredRgbNhwcNormalized) {
  cv::Mat img(50, 100, CV_8UC3, cv::Scalar(0, 127.5, 255));
  Preprocess p;
  p.resize = "letterbox_center";
  p.color = "rgb";
  p.layout = "nhwc";
  p.pad_value = 0;
  p.scale = 1.f / 127.5f;
  p.mean = {1, 1, 1};
  std::vector<float> out;
  InputTransform t = make_input_tensor(img, p, 100, 100, out);
  EXPECT_FLOAT_EQ(t.pad_y, 25.f);
  const float* px = &out[(50 * 100 + 50) * 3];  // centre pixel, inside the image
  EXPECT_NEAR(px[0], 1.f, 1e-5);                // R = 255
  EXPECT_NEAR(px[1], 0.f, 1e-2);                // G = 127 or 128
  EXPECT_NEAR(px[2], -1.f, 1e-5);               // B = 0
  EXPECT_NEAR(out[0], -1.f, 1e-5);              // padding 0 -> -1
  EXPECT_NEAR(t.to_frame(cv::Point2f(50, 50)).y, 25.f, 1e-4);
}

// A buffer kept at its largest size (YuNet alternates frame-pass and small-face sizes): the
// tensor is its first width x height x 3 floats, the same as into a fresh vector, padding
// included; without grow_only the vector takes the tensor's size.
TEST(Preprocess, GrowOnlyKeepsALargerBufferAndWritesTheSameTensor) {
  cv::Mat img(30, 50, CV_8UC3);
  cv::randu(img, 0, 256);
  Preprocess p;
  p.resize = "pad32";
  std::vector<float> fresh;
  make_input_tensor(img, p, 64, 32, fresh);
  ASSERT_EQ(fresh.size(), 3u * 64 * 32);
  std::vector<float> kept(3 * 128 * 96, -7.f);  // a larger earlier tensor's leftovers
  make_input_tensor(img, p, 64, 32, kept, /*grow_only=*/true);
  ASSERT_EQ(kept.size(), 3u * 128 * 96);
  for (size_t i = 0; i < fresh.size(); ++i) ASSERT_EQ(kept[i], fresh[i]) << i;
  std::vector<float> small(10, 1.f);
  make_input_tensor(img, p, 64, 32, small, /*grow_only=*/true);
  EXPECT_EQ(small.size(), fresh.size());  // grows when too small
  make_input_tensor(img, p, 64, 32, kept);
  EXPECT_EQ(kept.size(), fresh.size());
}

// The CHW float path (OpenCV split + convertTo) against a naive per-pixel reference.
TEST(Preprocess, ChwMatchesNaiveReference) {
  cv::Mat img(37, 53, CV_8UC3);
  cv::randu(img, 0, 256);
  Preprocess p;
  p.resize = "stretch";
  p.scale = 1.f / 255.f;
  p.mean = {0.485f, 0.456f, 0.406f};
  p.std = {0.229f, 0.224f, 0.225f};
  std::vector<float> out;
  make_input_tensor(img, p, 53, 37, out);
  ASSERT_EQ(out.size(), 3u * 37 * 53);
  double worst = 0;
  for (int y = 0; y < 37; ++y)
    for (int x = 0; x < 53; ++x)
      for (int c = 0; c < 3; ++c) {
        const float want = (img.at<cv::Vec3b>(y, x)[c] * p.scale - p.mean[c]) / p.std[c];
        const float got = out[static_cast<size_t>(c) * 37 * 53 + static_cast<size_t>(y) * 53 + x];
        worst = std::max(worst, static_cast<double>(std::abs(got - want)));
      }
  EXPECT_LT(worst, 1e-5);
}

// The NCHW path writes the image straight into the tensor and fills only the padding; it must
// equal the naive recipe (a padded canvas, colour conversion, then per pixel) in every resize
// mode and colour order, including a reused output buffer that held a larger tensor.
TEST(Preprocess, PaddedChwMatchesNaiveCanvas) {
  cv::Mat wide(45, 70, CV_8UC3), tall(70, 45, CV_8UC3);  // tall: padding left and right
  cv::randu(wide, 0, 256);
  cv::randu(tall, 0, 256);
  std::vector<float> out;
  for (const cv::Mat& img : {wide, tall})
    for (const char* resize : {"letterbox", "letterbox_center", "pad32", "stretch"}) {
      for (const char* color : {"bgr", "rgb", "gray"}) {
        SCOPED_TRACE(std::string(resize) + " " + color + " " + std::to_string(img.cols) + "x" +
                     std::to_string(img.rows));
        // A reused buffer holding garbage: every element must be written.
        out.assign(3 * 96 * 80, std::numeric_limits<float>::quiet_NaN());
        Preprocess p;
        p.resize = resize;
        p.color = color;
        p.pad_value = 114.f;
        p.scale = 1.f / 255.f;
        p.mean = {0.485f, 0.456f, 0.406f};
        p.std = {0.229f, 0.224f, 0.225f};
        const int w = std::string(resize) == "pad32" ? 96 : 80;
        const int h = std::string(resize) == "pad32" ? 64 : 72;
        const InputTransform t = make_input_tensor(img, p, w, h, out);

        cv::Mat canvas(h, w, CV_8UC3, cv::Scalar::all(std::string(resize) == "pad32" ? 0 : 114));
        const cv::Size fitted =
            std::string(resize) == "stretch"
                ? cv::Size(w, h)
                : cv::Size(std::min(w, static_cast<int>(std::lround(img.cols * t.scale_x))),
                           std::min(h, static_cast<int>(std::lround(img.rows * t.scale_y))));
        const cv::Rect roi(static_cast<int>(t.pad_x), static_cast<int>(t.pad_y), fitted.width,
                           fitted.height);
        if (fitted == img.size())
          img.copyTo(canvas(roi));
        else
          cv::resize(img, canvas(roi), fitted, 0, 0, cv::INTER_LINEAR);
        cv::Mat want = canvas;
        if (std::string(color) == "rgb") cv::cvtColor(canvas, want, cv::COLOR_BGR2RGB);
        if (std::string(color) == "gray") cv::cvtColor(canvas, want, cv::COLOR_BGR2GRAY);
        const int channels = want.channels();
        ASSERT_EQ(out.size(), static_cast<size_t>(channels) * w * h);
        double worst = 0;
        for (int y = 0; y < h; ++y)
          for (int x = 0; x < w; ++x)
            for (int c = 0; c < channels; ++c) {
              const float v = channels == 1 ? want.at<uchar>(y, x) : want.at<cv::Vec3b>(y, x)[c];
              const float expect = (v * p.scale - p.mean[c]) / p.std[c];
              const float got =
                  out[static_cast<size_t>(c) * w * h + static_cast<size_t>(y) * w + x];
              worst = std::isnan(got)
                          ? 1e9
                          : std::max(worst, static_cast<double>(std::abs(got - expect)));
            }
        EXPECT_LT(worst, 1e-5);
      }
    }
}

TEST(Preprocess, ImageInputShapeFillsDynamicSizesPerLayout) {
  Preprocess nhwc;
  nhwc.layout = "nhwc";
  nhwc.width = nhwc.height = 256;
  const std::vector<int64_t> a = image_input_shape({-1, -1, -1, 3}, nhwc);
  EXPECT_EQ(a, (std::vector<int64_t>{1, 256, 256, 3}));
  EXPECT_EQ(image_input_size(a, nhwc), cv::Size(256, 256));

  Preprocess nchw;  // sizes from the model when the manifest has none
  const std::vector<int64_t> b = image_input_shape({1, 3, 416, 320}, nchw);
  EXPECT_EQ(b, (std::vector<int64_t>{1, 3, 416, 320}));
  EXPECT_EQ(image_input_size(b, nchw), cv::Size(320, 416));

  nchw.color = "gray";
  EXPECT_EQ(image_input_shape({-1, -1, -1, -1}, nchw), (std::vector<int64_t>{1, 1, 640, 640}));
  EXPECT_TRUE(image_input_shape({1, 3, 224}, nchw).empty());
  EXPECT_EQ(image_input_size({1, 3, 224}, nchw), cv::Size());
}

TEST(Preprocess, NmsIsClassAware) {
  std::vector<cv::Rect2f> boxes = {{0, 0, 10, 10}, {1, 1, 10, 10}, {1, 1, 10, 10}, {50, 50, 5, 5}};
  std::vector<float> scores = {0.9f, 0.8f, 0.7f, 0.1f};
  std::vector<int> classes = {0, 0, 1, 0};
  auto keep = nms_boxes(boxes, scores, classes, 0.2f, 0.5f);
  ASSERT_EQ(keep.size(), 2u);
  EXPECT_EQ(keep[0], 0);
  EXPECT_EQ(keep[1], 2);  // other class survives; low score dropped by threshold
}

// Against INTER_AREA itself: the same image within rounding (each 2:1 step rounds once), at
// 4:1 and 8:1, at an odd source size (no halving: INTER_AREA alone), at 6:1 (one halving, then
// INTER_AREA at 3:1), and on a view into a larger image.
TEST(Preprocess, ShrinkAreaIsInterAreaWithinRounding) {
  cv::RNG rng(11);
  struct Case {
    cv::Size from, to;
    double max_diff;
  };
  const Case cases[] = {{{1280, 720}, {320, 180}, 1.0},
                        {{1279, 719}, {320, 180}, 1.0},
                        {{1920, 1080}, {320, 180}, 1.0},
                        {{640, 480}, {160, 120}, 1.0},
                        {{2560, 1440}, {320, 180}, 2.0}};
  for (int channels : {1, 3}) {
    for (const Case& c : cases) {
      cv::Mat big(c.from.height + 20, c.from.width + 30, CV_8UC(channels));
      rng.fill(big, cv::RNG::UNIFORM, 0, 256);
      cv::GaussianBlur(big, big, cv::Size(3, 3), 0);  // camera-like: no pixel-sized noise
      const cv::Mat src = big(cv::Rect(cv::Point(10, 7), c.from));  // not continuous
      cv::Mat want, got;
      cv::resize(src, want, c.to, 0, 0, cv::INTER_AREA);
      shrink_area(src, got, c.to);
      ASSERT_EQ(got.size(), c.to);
      ASSERT_EQ(got.type(), src.type());
      cv::Mat diff;
      cv::absdiff(want, got, diff);
      double max_diff = 0;
      cv::minMaxLoc(diff.reshape(1), nullptr, &max_diff);
      EXPECT_LE(max_diff, c.max_diff) << c.from << " -> " << c.to;
      EXPECT_LT(cv::mean(diff.reshape(1))[0], 0.6 * c.max_diff) << c.from << " -> " << c.to;
    }
  }
  // Same size: a copy, not the caller's pixels.
  cv::Mat src(90, 160, CV_8UC3, cv::Scalar(1, 2, 3)), same;
  shrink_area(src, same, src.size());
  EXPECT_NE(same.data, src.data);
  EXPECT_EQ(cv::norm(same, src, cv::NORM_INF), 0.0);
}

}  // namespace
}  // namespace ev
