// The alpr section and privacy.plates.
#include <gtest/gtest.h>

#include "edgevision/config.hpp"

namespace ev {
namespace {

Result<Config> parse_alpr(const std::string& extra) {
  return parse_config("cameras:\n  - id: gate\n    source: gate.avi\n" + extra, "cfg.yaml",
                      "/base");
}

TEST(ConfigAlpr, DefaultsReadNothingAndMaskPlatesWithAlpr) {
  auto cfg = parse_alpr("");
  ASSERT_TRUE(cfg) << cfg.error();
  // Unset: plate masking follows alpr.enabled (off here, on as soon as ALPR is).
  EXPECT_FALSE(cfg->privacy.plates.has_value());
  auto with_alpr = parse_alpr("alpr:\n  enabled: true\n");
  ASSERT_TRUE(with_alpr) << with_alpr.error();
  EXPECT_TRUE(with_alpr->privacy.plates.value_or(with_alpr->alpr.enabled));
  EXPECT_FALSE(cfg->alpr.enabled);
  EXPECT_EQ(cfg->alpr.ocr, "cct");
  EXPECT_EQ(cfg->alpr.plate_model, "plate-yolov5");
  EXPECT_TRUE(cfg->alpr.throttle);
  EXPECT_EQ(cfg->alpr.read_variants, 3);
  EXPECT_TRUE(cfg->alpr.vehicle_pass);
  EXPECT_TRUE(cfg->alpr.haar_second_chance);
}

TEST(ConfigAlpr, ParsesEveryKey) {
  auto cfg = parse_alpr(
      "privacy:\n  plates: false\n"
      "alpr:\n  enabled: true\n  plate_model: haar\n  ocr: tesseract\n  region: nl\n"
      "  queue_size: 8\n  min_plate_area: 500\n  throttle: false\n  read_variants: 1\n"
      "  vehicle_pass: false\n  haar_second_chance: false\n"
      "  allow: [XSNB23]\n  deny: [77TRSH, 24LSB1]\n");
  ASSERT_TRUE(cfg) << cfg.error();
  EXPECT_EQ(cfg->privacy.plates, std::optional<bool>(false));
  const AlprConfig& a = cfg->alpr;
  EXPECT_TRUE(a.enabled);
  EXPECT_EQ(a.plate_model, "haar");
  EXPECT_EQ(a.ocr, "tesseract");
  EXPECT_EQ(a.region, "nl");
  EXPECT_EQ(a.queue_size, 8);
  EXPECT_EQ(a.min_plate_area, 500);
  EXPECT_FALSE(a.throttle);
  EXPECT_EQ(a.read_variants, 1);
  EXPECT_FALSE(a.vehicle_pass);
  EXPECT_FALSE(a.haar_second_chance);
  EXPECT_EQ(a.allow, std::vector<std::string>{"XSNB23"});
  EXPECT_EQ(a.deny.size(), 2u);
}

TEST(ConfigAlpr, BadValuesNameTheKey) {
  auto paddle = parse_alpr("alpr:\n  ocr: paddle\n");
  ASSERT_TRUE(paddle) << paddle.error();
  EXPECT_EQ(paddle->alpr.ocr, "paddle");
  auto bad = parse_alpr("alpr:\n  ocr: easyocr\n");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("alpr.ocr"), std::string::npos) << bad.error();
  bad = parse_alpr("alpr:\n  queue_size: 0\n");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("alpr.queue_size"), std::string::npos) << bad.error();
  bad = parse_alpr("alpr:\n  read_variants: 4\n");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("alpr.read_variants"), std::string::npos) << bad.error();
  bad = parse_alpr("alpr:\n  region: mars\n");
  ASSERT_FALSE(bad);
  bad = parse_alpr("alpr:\n  colour: red\n");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("colour"), std::string::npos) << bad.error();
}

}  // namespace
}  // namespace ev
