// Decoders, tiling and merging on hand-made tensors: no model files needed.
#include <cmath>

#include <gtest/gtest.h>

#include "face/face_internal.hpp"

namespace ev::face {
namespace {

TEST(FaceYuNetDecode, MatchesNaiveReferenceOnTinyTensor) {
  // A 64x48 input: strides 8/16/32 give 8x6, 4x3 and 2x2 (rounded down) cells.
  const int W = 64, H = 48;
  struct Level {
    int stride, cols, rows;
    std::vector<float> cls, obj, bbox, kps;
  };
  std::vector<Level> lv;
  uint32_t seed = 12345;
  auto rnd = [&] {
    seed = seed * 1664525u + 1013904223u;
    return static_cast<float>((seed >> 8) & 0xffff) / 65535.f;
  };
  for (int s : {8, 16, 32}) {
    Level l{s, W / s, H / s, {}, {}, {}, {}};
    const int n = l.cols * l.rows;
    for (int i = 0; i < n; ++i) {
      l.cls.push_back(rnd() * 1.2f - 0.1f);  // a few values outside [0,1] to exercise the clamp
      l.obj.push_back(rnd());
      for (int k = 0; k < 4; ++k) l.bbox.push_back(rnd() - 0.5f);
      for (int k = 0; k < 10; ++k) l.kps.push_back(rnd() * 2 - 1);
    }
    lv.push_back(std::move(l));
  }
  std::vector<YuNetLevel> levels;
  for (auto& l : lv)
    levels.push_back(
        {l.stride, l.cols, l.rows, l.cls.data(), l.obj.data(), l.bbox.data(), l.kps.data()});
  const float thr = 0.5f;
  std::vector<Face> got;
  decode_yunet(levels, thr, cv::Size(W, H), got);

  // Naive reference, written straight from the MANIFEST recipe.
  std::vector<Face> want;
  for (auto& l : lv)
    for (int r = 0; r < l.rows; ++r)
      for (int c = 0; c < l.cols; ++c) {
        const int idx = r * l.cols + c;
        const double cls = std::min(1.0, std::max(0.0, double(l.cls[idx])));
        const double obj = std::min(1.0, std::max(0.0, double(l.obj[idx])));
        const double score = std::sqrt(cls * obj);
        if (score < thr) continue;
        const double cx = (c + l.bbox[4 * idx]) * l.stride,
                     cy = (r + l.bbox[4 * idx + 1]) * l.stride;
        const double w = std::exp(l.bbox[4 * idx + 2]) * l.stride,
                     h = std::exp(l.bbox[4 * idx + 3]) * l.stride;
        if (cx < 0 || cy < 0 || cx >= W || cy >= H) continue;
        Face f;
        f.box = cv::Rect2f(float(cx - w / 2), float(cy - h / 2), float(w), float(h));
        f.score = float(score);
        for (int k = 0; k < 5; ++k)
          f.landmarks.emplace_back(float((c + l.kps[10 * idx + 2 * k]) * l.stride),
                                   float((r + l.kps[10 * idx + 2 * k + 1]) * l.stride));
        want.push_back(f);
      }
  ASSERT_GT(want.size(), 3u);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_NEAR(got[i].score, want[i].score, 1e-5);
    EXPECT_NEAR(got[i].box.x, want[i].box.x, 1e-3);
    EXPECT_NEAR(got[i].box.y, want[i].box.y, 1e-3);
    EXPECT_NEAR(got[i].box.width, want[i].box.width, 1e-3);
    EXPECT_NEAR(got[i].box.height, want[i].box.height, 1e-3);
    ASSERT_EQ(got[i].landmarks.size(), 5u);
    for (int k = 0; k < 5; ++k) {
      EXPECT_NEAR(got[i].landmarks[k].x, want[i].landmarks[k].x, 1e-3);
      EXPECT_NEAR(got[i].landmarks[k].y, want[i].landmarks[k].y, 1e-3);
    }
  }
}

TEST(FaceYuNetDecode, OneKnownCell) {
  // Stride 16, 2x2 cells; only cell (r=1,c=0) fires.
  std::vector<float> cls(4, 0.f), obj(4, 0.f), bbox(16, 0.f), kps(40, 0.f);
  cls[2] = 0.81f;
  obj[2] = 1.f;
  bbox[8] = 0.5f;            // cx = (0+0.5)*16 = 8
  bbox[9] = 0.25f;           // cy = (1+0.25)*16 = 20
  bbox[10] = std::log(2.f);  // w = 32
  bbox[11] = 0.f;            // h = 16
  std::vector<YuNetLevel> levels{{16, 2, 2, cls.data(), obj.data(), bbox.data(), kps.data()}};
  std::vector<Face> out;
  decode_yunet(levels, 0.6f, cv::Size(32, 32), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_NEAR(out[0].score, 0.9f, 1e-5);
  EXPECT_NEAR(out[0].box.x, -8.f, 1e-4);
  EXPECT_NEAR(out[0].box.y, 12.f, 1e-4);
  EXPECT_NEAR(out[0].box.width, 32.f, 1e-4);
  EXPECT_NEAR(out[0].box.height, 16.f, 1e-4);
  EXPECT_NEAR(out[0].landmarks[0].y, 16.f, 1e-4);
  // The same cell lies in the padding of a 32x16 image: dropped.
  out.clear();
  decode_yunet(levels, 0.6f, cv::Size(32, 16), out);
  EXPECT_TRUE(out.empty());
}

TEST(FaceBlazeFace, AnchorsAre896InMediaPipeOrder) {
  const auto& a = blazeface_anchors();
  ASSERT_EQ(a.size(), 896u);
  EXPECT_NEAR(a[0].x, 0.5f / 16, 1e-6);
  EXPECT_NEAR(a[1].x, 0.5f / 16, 1e-6);  // 2 anchors per 16x16 cell
  EXPECT_NEAR(a[2].x, 1.5f / 16, 1e-6);
  EXPECT_NEAR(a[32].y, 1.5f / 16, 1e-6);  // second row starts after 16 cells x 2
  EXPECT_NEAR(a[511].x, 15.5f / 16, 1e-6);
  EXPECT_NEAR(a[512].x, 0.5f / 8, 1e-6);  // 8x8 part, 6 anchors per cell
  EXPECT_NEAR(a[517].x, 0.5f / 8, 1e-6);
  EXPECT_NEAR(a[518].x, 1.5f / 8, 1e-6);
  EXPECT_NEAR(a[895].y, 7.5f / 8, 1e-6);
}

TEST(FaceBlazeFace, DecodesKnownTensor) {
  const int S = 128;
  std::vector<float> scores(896, -10.f), boxes(896 * 16, 0.f);
  const int i = 512 + (2 * 8 + 3) * 6 + 1;  // 8x8 grid, cell (x=3,y=2), second anchor
  scores[i] = 2.f;                          // sigmoid = 0.8808
  float* b = &boxes[16 * i];
  b[0] = 4.f;   // +4 px in x
  b[1] = -2.f;  // -2 px in y
  b[2] = 20.f;
  b[3] = 24.f;
  b[4] = 1.f;  // first keypoint offset
  b[5] = 1.f;
  scores[7] = 100.f;  // clipped logit must not produce NaN; centre (3.5/16*128) inside
  std::vector<Face> out;
  decode_blazeface(scores.data(), boxes.data(), S, 0.5f, cv::Size(S, S), out);
  ASSERT_EQ(out.size(), 1u);  // anchor 7 has zero size and is dropped
  const float cx = 3.5f / 8 * S + 4.f, cy = 2.5f / 8 * S - 2.f;
  EXPECT_NEAR(out[0].score, 1.f / (1.f + std::exp(-2.f)), 1e-5);
  EXPECT_NEAR(out[0].box.x, cx - 10.f, 1e-3);
  EXPECT_NEAR(out[0].box.y, cy - 12.f, 1e-3);
  EXPECT_NEAR(out[0].box.width, 20.f, 1e-4);
  EXPECT_NEAR(out[0].box.height, 24.f, 1e-4);
  ASSERT_EQ(out[0].landmarks.size(), 6u);
  EXPECT_NEAR(out[0].landmarks[0].x, 3.5f / 8 * S + 1.f, 1e-3);
  // Centre (y=38) in the bottom padding of a letterboxed 128x30 image: dropped.
  out.clear();
  decode_blazeface(scores.data(), boxes.data(), S, 0.5f, cv::Size(S, 30), out);
  EXPECT_TRUE(out.empty());
}

TEST(FaceTiling, PlansPerMode) {
  const cv::Size net(640, 640);
  // Small frames: one run, upscaled at most by the mode's cap.
  auto p = plan_passes({166, 125}, net, DetectMode::kBalanced);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_FLOAT_EQ(p[0].scale, 2.f);
  EXPECT_FLOAT_EQ(plan_passes({166, 125}, net, DetectMode::kAccurate)[0].scale, 3.f);
  // 720p: fast = one letterboxed run; balanced = whole + 2 tiles; accurate = whole + 3x2 tiles.
  EXPECT_EQ(plan_passes({1280, 720}, net, DetectMode::kFast).size(), 1u);
  p = plan_passes({1280, 720}, net, DetectMode::kBalanced);
  ASSERT_EQ(p.size(), 3u);
  EXPECT_NEAR(p[1].scale, 640.f / 720.f, 1e-5);
  EXPECT_EQ(p[1].region.x, 0);
  EXPECT_EQ(p[2].region.br().x, 1280);
  EXPECT_GT(p[1].region.br().x - p[2].region.x, 100);  // overlap
  p = plan_passes({1280, 720}, net, DetectMode::kAccurate);
  EXPECT_EQ(p.size(), 7u);
  cv::Mat covered(720, 1280, CV_8U, cv::Scalar(0));
  for (size_t k = 1; k < p.size(); ++k) covered(p[k].region).setTo(1);
  EXPECT_EQ(cv::countNonZero(covered), 1280 * 720);
  // Dynamic networks: one whole-frame run at the scale the tiles of a 640 network would use.
  EXPECT_EQ(plan_passes({1920, 1080}, {0, 0}, DetectMode::kAccurate).size(), 1u);
  p = plan_passes({1280, 720}, {0, 0}, DetectMode::kBalanced);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].region, cv::Rect(0, 0, 1280, 720));
  EXPECT_NEAR(p[0].scale, 640.f / 720.f, 1e-5);
  EXPECT_FLOAT_EQ(plan_passes({166, 125}, {0, 0}, DetectMode::kBalanced)[0].scale, 2.f);
  // multi_scale adds the whole frame fitted into 640x640.
  p = plan_passes({1280, 720}, {0, 0}, DetectMode::kBalanced, true);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_FLOAT_EQ(p[0].scale, 0.5f);
  EXPECT_NEAR(p[1].scale, 640.f / 720.f, 1e-5);
  EXPECT_TRUE(plan_passes({0, 0}, net, DetectMode::kFast).empty());
}

TEST(FaceTiling, SmallFacePassesCropAroundFaces) {
  const cv::Size frame(1280, 720);
  EXPECT_TRUE(plan_small_face_passes(frame, {0, 0}, 2.f, {}).empty());
  // Dynamic network: a crop around the face (6 heights each side), not a whole grid tile.
  auto p = plan_small_face_passes(frame, {0, 0}, 2.f, {{600, 300, 20, 20}});
  ASSERT_EQ(p.size(), 1u);
  EXPECT_FLOAT_EQ(p[0].scale, 2.f);
  EXPECT_TRUE(p[0].region.contains({610, 310}));
  EXPECT_EQ(p[0].region, cv::Rect(480, 180, 260, 260));
  // Two faces close together share one crop; one near the corner is clipped to the frame.
  p = plan_small_face_passes(frame, {0, 0}, 2.f,
                             {{600, 300, 20, 20}, {660, 310, 18, 18}, {5, 700, 15, 15}});
  ASSERT_EQ(p.size(), 2u);
  EXPECT_TRUE(p[0].region.contains({610, 310}) && p[0].region.contains({669, 319}));
  EXPECT_EQ(p[1].region, cv::Rect(cv::Point(0, 610), cv::Point(110, 720)));
  // A group whose merged crop is wider than 640 network pixels but under 1152x640 of them is
  // one run of the whole crop (640x640 tiles of it would compute their overlap twice).
  p = plan_small_face_passes(frame, {0, 0}, 2.f,
                             {{400, 300, 20, 20}, {560, 305, 20, 20}, {700, 300, 20, 20}});
  ASSERT_EQ(p.size(), 1u);
  EXPECT_GT(p[0].region.width * 2, 640);
  EXPECT_LE(p[0].region.area() * 4, 1152 * 640);
  EXPECT_TRUE(p[0].region.contains({410, 310}) && p[0].region.contains({710, 310}));
  // A larger merged group is cut into runs of at most 640x640 network pixels, covering it.
  std::vector<cv::Rect2f> row;
  for (int x = 40; x < 1240; x += 60) row.push_back({static_cast<float>(x), 400, 30, 30});
  p = plan_small_face_passes(frame, {0, 0}, 2.f, row);
  ASSERT_GT(p.size(), 1u);
  cv::Mat covered(720, 1280, CV_8U, cv::Scalar(0));
  for (const Pass& pass : p) {
    EXPECT_LE(pass.region.width, 320);
    EXPECT_LE(pass.region.height, 320);
    covered(pass.region).setTo(1);
  }
  for (const cv::Rect2f& b : row) EXPECT_TRUE(covered.at<uint8_t>(415, static_cast<int>(b.x) + 15));
  // Fixed network: the grid tiles that hold a face's centre, each a full network run.
  p = plan_small_face_passes(frame, {640, 640}, 2.f, {{600, 300, 20, 20}});
  ASSERT_FALSE(p.empty());
  EXPECT_LT(p.size(), plan_upscaled_passes(frame, {640, 640}, 2.f).size());
  for (const Pass& pass : p) {
    EXPECT_EQ(pass.region.size(), cv::Size(320, 320));
    EXPECT_TRUE(pass.region.contains({610, 310}));
  }
}

TEST(FaceTiling, MergeDropsDuplicatesAndCutFaces) {
  std::vector<Face> faces = {
      {{100, 100, 50, 50}, 0.9f, {}},
      {{102, 101, 50, 50}, 0.8f, {}},  // same face from another tile
      {{100, 100, 20, 45}, 0.7f, {}},  // face cut by a tile edge, inside the whole one
      {{300, 300, 20, 20}, 0.6f, {}},
  };
  auto kept = merge_faces(faces, 0.3f);
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_FLOAT_EQ(kept[0].score, 0.9f);
  EXPECT_FLOAT_EQ(kept[1].box.x, 300.f);
}

TEST(FaceTiling, ToBgr8HandlesOddInputs) {
  EXPECT_EQ(to_bgr8(cv::Mat(4, 4, CV_8UC1)).type(), CV_8UC3);
  EXPECT_EQ(to_bgr8(cv::Mat(4, 4, CV_8UC4)).type(), CV_8UC3);
  EXPECT_EQ(to_bgr8(cv::Mat(4, 4, CV_16UC3)).type(), CV_8UC3);
  EXPECT_TRUE(to_bgr8(cv::Mat(4, 4, CV_8UC2)).empty());
  EXPECT_TRUE(to_bgr8(cv::Mat()).empty());
}

TEST(FaceModes, ParseAndPrint) {
  for (auto m : {DetectMode::kFast, DetectMode::kBalanced, DetectMode::kAccurate}) {
    auto parsed = parse_detect_mode(to_string(m));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, m);
  }
  EXPECT_FALSE(parse_detect_mode("turbo").ok());
  EXPECT_EQ(face_detector_names().size(), 6u);
  EXPECT_EQ(face_detector_names().back(), "haar");
}

}  // namespace
}  // namespace ev::face
