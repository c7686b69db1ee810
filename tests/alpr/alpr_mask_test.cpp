// Plate masks on the shared plate photos: the whole labelled plate must be covered, also when
// the plate model boxes only part of it.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "edgevision/alpr.hpp"
#include "edgevision/detect.hpp"
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

TEST(PlateMaskCoverage, CountsChangedPixelsInTheBoxAndStrongChangesAwayFromIt) {
  cv::Mat before(100, 200, CV_8UC3, cv::Scalar(100, 100, 100));
  cv::Mat after = before.clone();
  const cv::Rect plate(50, 40, 40, 20);
  after(cv::Rect(50, 40, 30, 20)).setTo(cv::Scalar(100, 100, 200));  // 3/4 of the plate
  after(cv::Rect(0, 0, 10, 10)).setTo(cv::Scalar(100, 100, 103));    // below changed_level
  after(cv::Rect(180, 80, 10, 10)).setTo(cv::Scalar(0, 0, 0));       // collateral
  const PlateMaskCoverage c = plate_mask_coverage(before, after, {plate});
  ASSERT_EQ(c.masked.size(), 1u);
  EXPECT_DOUBLE_EQ(c.masked[0], 0.75);
  // The zone is the plate grown by half (60x30): 100 of the other 20000 - 1800 pixels.
  EXPECT_NEAR(c.collateral, 100.0 / (20000 - 60 * 30), 1e-9);
  // A plate half outside the image is judged on its visible part; mismatched images: nothing.
  EXPECT_DOUBLE_EQ(plate_mask_coverage(before, before, {cv::Rect(190, 90, 20, 20)}).masked[0], 0.0);
  EXPECT_TRUE(plate_mask_coverage(before, cv::Mat(), {plate}).masked.empty());
}

// Photos whose plate the service's whole-frame pass used to miss entirely (0 % masked), run
// through PlateStage::process exactly as the camera pipeline's anonymize thread does.
class ServicePlateMask : public ::testing::Test {
 protected:
  ModelManager models{test::shared_model_options("alpr_mask")};

  Label label(const std::string& image) {
    for (const auto& l : labels())
      if (l.image == image) return l;
    ADD_FAILURE() << "no label for " << image;
    return {};
  }
  // The share of the labelled plate `process` changed; `vehicles` as the track thread would
  // have handed them over from earlier frames.
  double masked(const Label& l, const PlateStageOptions& o, const std::vector<Track>& vehicles) {
    const cv::Mat img = cv::imread(test::data("plates/" + l.image).string(), cv::IMREAD_COLOR);
    EXPECT_FALSE(img.empty()) << "missing shared asset plates/" << l.image;
    if (img.empty()) return -1;
    auto stage = PlateStage::create(o, models, nullptr);
    EXPECT_TRUE(stage) << stage.error();
    if (!stage) return -1;
    if (!vehicles.empty()) (*stage)->set_vehicles(0, vehicles);
    cv::Mat out = img.clone();
    const Status s = (*stage)->process(out, 1, 0);
    EXPECT_TRUE(s.ok()) << s.message();
    const PlateMaskCoverage c = plate_mask_coverage(img, out, {l.box});
    return c.masked.empty() ? -1 : c.masked[0];
  }
};

// us4.jpg: a close-up the plate model finds nothing in; the Haar cascade's second chance does.
TEST_F(ServicePlateMask, CloseUpTheModelMissesIsMaskedByTheHaarSecondChance) {
  const Label us4 = label("images/us/us4.jpg");
  PlateStageOptions o;
  o.mask = true;
  const double now = masked(us4, o, {});
  o.params.haar_second_chance = false;
  const double without = masked(us4, o, {});
  RecordProperty("masked", std::to_string(now));
  EXPECT_LT(without, 0.1) << "the plate model alone now finds this plate";
  EXPECT_GE(now, 0.7);
}

// The Haar cascade's boxes are masks only: reading them would turn its false boxes on frames
// without plates into plate_read events.
TEST_F(ServicePlateMask, HaarBoxesAreMaskedButNotRead) {
  const Label us4 = label("images/us/us4.jpg");
  const cv::Mat img = cv::imread(test::data("plates/" + us4.image).string(), cv::IMREAD_COLOR);
  ASSERT_FALSE(img.empty());
  PlateStageOptions o;
  o.mask = true;
  o.read = true;
  int events = 0;
  auto stage = PlateStage::create(o, models, [&](nlohmann::json) { ++events; });
  ASSERT_TRUE(stage) << stage.error();
  std::vector<PlateDetection> located;
  bool fail_safe = false;
  ASSERT_TRUE((*stage)->locate(img, located, &fail_safe).ok());
  EXPECT_TRUE(fail_safe);
  EXPECT_FALSE(located.empty());
  (*stage)->start();
  cv::Mat out = img.clone();
  ASSERT_TRUE((*stage)->process(out, 0, 0).ok());
  (*stage)->stop();
  EXPECT_GE(plate_mask_coverage(img, out, {us4.box}).masked.at(0), 0.7);
  EXPECT_GE((*stage)->plates_masked(), 1);
  EXPECT_EQ((*stage)->ocr_calls(), 0);
  EXPECT_EQ(events, 0);
  // A plate the model finds (eu1.jpg) is read as before.
  const Label eu1 = label("images/eu/eu1.jpg");
  const cv::Mat car = cv::imread(test::data("plates/" + eu1.image).string(), cv::IMREAD_COLOR);
  ASSERT_FALSE(car.empty());
  ASSERT_TRUE((*stage)->locate(car, located, &fail_safe).ok());
  EXPECT_FALSE(fail_safe);
  EXPECT_FALSE(located.empty());
}

// car2.jpg: a small plate on a truck (86x43 px in 1024x768); the whole-frame pass misses it,
// the truck's box from the object detector (as the track thread hands it over) finds it.
TEST_F(ServicePlateMask, SmallPlateInsideAKnownVehicleIsMasked) {
  const Label car2 = label("images/us/car2.jpg");
  const cv::Mat img = cv::imread(test::data("plates/" + car2.image).string(), cv::IMREAD_COLOR);
  ASSERT_FALSE(img.empty());
  DetectorParams dp;
  dp.model = "yolox-nano";
  dp.classes = AlprParams{}.vehicle_classes;
  auto detector = ObjectDetector::create(dp, models);
  ASSERT_TRUE(detector) << detector.error();
  std::vector<Detection> found;
  ASSERT_TRUE((*detector)->detect(img, found).ok());
  std::vector<Track> vehicles;
  for (const auto& d : found) {
    Track t;
    t.id = static_cast<int64_t>(vehicles.size()) + 1;
    t.label = d.label;
    t.box = d.box;
    vehicles.push_back(t);
  }
  ASSERT_FALSE(vehicles.empty()) << "no vehicle detected in car2.jpg";
  PlateStageOptions o;
  o.mask = true;
  const double first_frame = masked(car2, o, {});
  const double with_vehicles = masked(car2, o, vehicles);
  o.vehicle_pass = false;
  const double no_pass = masked(car2, o, vehicles);
  RecordProperty("masked", std::to_string(with_vehicles));
  EXPECT_LT(first_frame, 0.1) << "the whole-frame pass now finds this plate";
  EXPECT_LT(no_pass, 0.1);
  EXPECT_GE(with_vehicles, 0.7);
}

}  // namespace
}  // namespace ev
