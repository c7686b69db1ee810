// Plate masks on the shared plate photos: the whole labelled plate must be covered, also when
// the plate model boxes only part of it.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "edgevision/alpr.hpp"
#include "support/shared_models.hpp"
#include "support/test_support.hpp"

namespace ev {
namespace {

struct Label {
  std::string image, text;
  cv::Rect box;
};

std::vector<Label> labels() {
  std::vector<Label> out;
  std::ifstream f(test::data("plates/labels.csv"));
  EXPECT_TRUE(f.good()) << "missing shared asset plates/labels.csv";
  std::string line;
  std::getline(f, line);
  while (std::getline(f, line)) {
    std::stringstream ss(line);
    std::string cell;
    std::vector<std::string> c;
    while (std::getline(ss, cell, ',')) c.push_back(cell);
    if (c.size() < 6) continue;
    out.push_back(
        {c[0], c[1], cv::Rect(std::stoi(c[2]), std::stoi(c[3]), std::stoi(c[4]), std::stoi(c[5]))});
  }
  return out;
}

TEST(PlateMaskRegion, BandsGrowDownToAPlateShapeAndCornersCount) {
  PlateDetection band;
  band.box = cv::Rect2f(100, 50, 200, 40);  // 5:1, as a boxed state-name band
  const cv::Rect2f r = plate_mask_region(band);
  EXPECT_FLOAT_EQ(r.y, 50.f);  // the top stays: the characters are below the band
  EXPECT_FLOAT_EQ(r.height, 100.f);
  EXPECT_FLOAT_EQ(r.x, 100.f);
  EXPECT_FLOAT_EQ(r.width, 200.f);
  PlateDetection tall;
  tall.box = cv::Rect2f(0, 0, 100, 80);
  EXPECT_EQ(plate_mask_region(tall), tall.box);
  PlateDetection tilted = tall;  // corners reaching outside the box are covered too
  tilted.has_corners = true;
  tilted.corners = {cv::Point2f(-10, 5), cv::Point2f(95, -6), cv::Point2f(104, 75),
                    cv::Point2f(2, 90)};
  const cv::Rect2f t = plate_mask_region(tilted);
  EXPECT_FLOAT_EQ(t.x, -10.f);
  EXPECT_FLOAT_EQ(t.y, -6.f);
  EXPECT_FLOAT_EQ(t.br().x, 104.f);
  EXPECT_FLOAT_EQ(t.br().y, 90.f);
}

// us10.jpg: the plate model boxes the "WASHINGTON, DC" band (and the Haar cascade bits of the
// plate); with box + 10 % the registration below stayed readable.
TEST(PlateMask, UsHeaderBandBoxStillMasksTheCharacters) {
  ModelManager models{test::shared_model_options("alpr_mask")};
  auto engine = AlprEngine::create(AlprParams{}, models, "yolox-nano");
  ASSERT_TRUE(engine) << engine.error();
  Label us10;
  for (const auto& l : labels())
    if (l.image == "images/us/us10.jpg") us10 = l;
  ASSERT_EQ(us10.text, "CC2881");
  const cv::Mat img = cv::imread(test::data("plates/" + us10.image).string(), cv::IMREAD_COLOR);
  ASSERT_FALSE(img.empty());
  std::vector<PlateDetection> plates;
  ASSERT_TRUE((*engine)->detect_plates(img, plates).ok());
  ASSERT_FALSE(plates.empty());
  // The characters: the labelled plate without its band on top and its frame.
  const cv::Rect& g = us10.box;
  const cv::Rect chars(g.x + g.width / 10, g.y + g.height * 35 / 100, g.width * 8 / 10,
                       g.height / 2);
  auto changed = [&](const cv::Mat& masked) {
    cv::Mat diff, any;
    cv::absdiff(masked(chars), img(chars), diff);
    cv::transform(diff, any, cv::Matx13f(1, 1, 1));
    return static_cast<double>(cv::countNonZero(any > 0)) / chars.area();
  };
  cv::Mat now = img.clone();
  mask_plates(now, plates, 0.1f);
  cv::Mat before = img.clone();
  std::vector<cv::Rect2f> boxes;
  for (const auto& p : plates) boxes.push_back(p.box);
  mask_plates(before, boxes, 0.1f);
  const double covered_before = changed(before), covered_now = changed(now);
  EXPECT_LT(covered_before, 0.8) << "the boxes alone no longer leave the characters open";
  RecordProperty("covered_before", std::to_string(covered_before));
  RecordProperty("covered_now", std::to_string(covered_now));
  EXPECT_GT(covered_now, 0.95);
}

}  // namespace
}  // namespace ev
