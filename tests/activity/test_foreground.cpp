// Foreground evidence for falls on synthetic frames: the MOG2 blob of a body lying where a
// person stood, what it must not be taken for (nothing there, a person the detector still
// sees, a light switched on), and the scene's fall event from it.
#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include "edgevision/foreground.hpp"
#include "edgevision/scene.hpp"

namespace ev {
namespace {

constexpr double kFps = 10.0;

// A textured grey floor (fixed pattern) with a little sensor noise per frame.
class Stage {
 public:
  Stage() : background_(480, 640, CV_8UC3), rng_(7) {
    cv::RNG pattern(1);
    pattern.fill(background_, cv::RNG::UNIFORM, 70, 110);
    cv::GaussianBlur(background_, background_, cv::Size(5, 5), 0);
  }
  // Bodies lower than 100 px are drawn in another colour: a lying body shows other parts
  // (back, legs) than the standing front, and MOG2 learns the colour of a body that stood
  // or walked over the same pixels for a while.
  cv::Mat frame(const std::vector<cv::Rect>& bodies, int brightness = 0) {
    cv::Mat f = background_.clone();
    cv::Mat noise(f.size(), CV_8UC3);
    rng_.fill(noise, cv::RNG::UNIFORM, 0, 4);
    f += noise;
    for (const auto& b : bodies) {
      const cv::Scalar colour =
          b.height < 100 ? cv::Scalar(60, 150, 200) : cv::Scalar(200, 190, 210);
      cv::rectangle(f, b, colour, cv::FILLED);
    }
    if (brightness) f += cv::Scalar::all(brightness);
    return f;
  }

 private:
  cv::Mat background_;
  cv::RNG rng_;
};

TEST(Foreground, BlobOfANewObjectAndNothingOnTheEmptyFloor) {
  Stage stage;
  ForegroundModel fg;
  for (int i = 0; i < 40; ++i) fg.update(stage.frame({}));
  ASSERT_TRUE(fg.usable());
  const cv::Rect2f anchor(250, 300, 200, 120), region(150, 200, 400, 260);
  EXPECT_FALSE(fg.blob(region, anchor).has_value());
  fg.update(stage.frame({cv::Rect(280, 340, 170, 60)}));
  const auto blob = fg.blob(region, anchor);
  ASSERT_TRUE(blob.has_value());
  // Found at 320 px working width (half size): within two full-frame pixels per side.
  EXPECT_NEAR(blob->box.x, 280, 3);
  EXPECT_NEAR(blob->box.y, 340, 3);
  EXPECT_NEAR(blob->box.width, 170, 4);
  EXPECT_NEAR(blob->box.height, 60, 4);
  EXPECT_GT(blob->area, 0.8 * 170 * 60);
  // Outside the anchor: not this person's blob.
  EXPECT_FALSE(fg.blob(region, cv::Rect2f(150, 200, 60, 60)).has_value());
}

TEST(Foreground, NoEvidenceBeforeWarmUpOrWhenTheWholeFrameChanges) {
  Stage stage;
  ForegroundModel fg;
  fg.update(stage.frame({}));
  fg.update(stage.frame({cv::Rect(280, 340, 170, 60)}));
  EXPECT_FALSE(fg.usable());  // two frames: no background learnt yet
  for (int i = 0; i < 40; ++i) fg.update(stage.frame({}));
  EXPECT_TRUE(fg.usable());
  fg.update(stage.frame({cv::Rect(280, 340, 170, 60)}, 60));  // the light switched on
  EXPECT_GT(fg.fraction(), 0.35);
  EXPECT_FALSE(fg.usable());
  EXPECT_FALSE(fg.blob({150, 200, 400, 260}, {250, 300, 200, 120}).has_value());
}

// A person walks into view (the detector sees them), stands, and then either lies down where
// they stood or walks out of view; the detector loses them either way and the tracker keeps
// the track alive for `lost_frames`. What the foreground shows decides whether it is a fall.
enum class After {
  kLyingThere,
  kGone,
  kLyingButDetectedStanding,
  kLightSwitchedOn,
  // Walks right until the frame edge cuts their box, then out of view, while something flat
  // shows up at foot level beside their last upright place (PETS09 frame 525: a false fall).
  kOutAtTheEdgeBesideABlob,
  // The same walk, stopping short of the edge, and the same blob: lying there.
  kLyingBesideWhereTheyStopped,
};

size_t falls_after(After after, bool with_foreground = true, nlohmann::json* fall = nullptr) {
  Stage stage;
  ForegroundModel fg;
  SceneAnalyzer scene("cam", {});
  size_t falls = 0;
  const SceneEmitter emit = [&](nlohmann::json e) {
    if (e["type"] != "fall") return;
    ++falls;
    if (fall) *fall = e;
  };
  int64_t i = 0;
  auto step = [&](const std::vector<cv::Rect>& bodies, std::vector<SceneObservation> tracks,
                  std::vector<SceneDetection> dets, int brightness = 0) {
    fg.update(stage.frame(bodies, brightness));
    SceneFrame f;
    f.index = i;
    f.time_ms = static_cast<double>(i) * 1000.0 / kFps;
    f.tracks = std::move(tracks);
    f.live_ids = {1};
    f.detections = std::move(dets);
    f.frame_size = {640, 480};
    if (with_foreground) f.foreground = &fg;
    scene.update(f, emit);
    ++i;
  };
  for (int k = 0; k < 30; ++k) step({}, {}, {});  // empty room
  for (int k = 0; k < 30; ++k) {                  // walks in slowly from the left
    cv::Rect body(200 + 3 * k, 220, 60, 180);
    // Or towards the right edge: from k = 24 the edge cuts the box (detections are clipped).
    if (after == After::kOutAtTheEdgeBesideABlob) body = cv::Rect(430 + 6 * k, 220, 60, 180);
    if (after == After::kLyingBesideWhereTheyStopped)
      body = cv::Rect(430 + 6 * std::min(k, 23), 220, 60, 180);
    body &= cv::Rect(0, 0, 640, 480);
    step({body}, {{1, "person", 0, cv::Rect2f(body), 0.9f}}, {{"person", cv::Rect2f(body), 0.9f}});
  }
  for (int k = 0; k < 15; ++k) {  // lost by the detector
    switch (after) {
      case After::kLyingThere:
        step({cv::Rect(260, 340, 170, 60)}, {}, {});
        break;
      case After::kGone:
        step({}, {}, {});
        break;
      case After::kLyingButDetectedStanding:
        // A person box (another track) covers the blob: someone the detector sees there.
        step({cv::Rect(260, 340, 170, 60)}, {}, {{"person", cv::Rect2f(250, 230, 190, 175), 0.8f}});
        break;
      case After::kLightSwitchedOn:
        step({cv::Rect(260, 340, 170, 60)}, {}, {}, 60);
        break;
      case After::kOutAtTheEdgeBesideABlob:
      case After::kLyingBesideWhereTheyStopped:
        step({cv::Rect(470, 340, 150, 60)}, {}, {});
        break;
    }
  }
  return falls;
}

TEST(Foreground, ReleasedWhileNobodyIsInViewAndRestartedByAPerson) {
  Stage stage;
  ForegroundParams p;
  p.idle_frames = 10;
  ForegroundModel fg(p);
  // Learns from the first frame, for idle_frames without a person.
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(fg.update_while(stage.frame({}), false)) << i;
  EXPECT_EQ(fg.frames(), 10);
  EXPECT_FALSE(fg.update_while(stage.frame({}), false));
  EXPECT_FALSE(fg.active());
  EXPECT_FALSE(fg.usable());
  EXPECT_TRUE(fg.mask().empty());
  // A person starts a new model, which warms up again.
  EXPECT_TRUE(fg.update_while(stage.frame({}), true));
  EXPECT_TRUE(fg.active());
  EXPECT_EQ(fg.frames(), 1);
  EXPECT_FALSE(fg.usable());
  for (int i = 0; i < 30; ++i) fg.update_while(stage.frame({}), true);
  EXPECT_TRUE(fg.usable());
  // The person left: evidence for idle_frames more (a person lost by the detector may still
  // be there), then released.
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(fg.update_while(stage.frame({}), false));
  EXPECT_TRUE(fg.usable());
  EXPECT_FALSE(fg.update_while(stage.frame({}), false));
  EXPECT_FALSE(fg.active());
}

TEST(SceneFallForeground, LyingWhereTheyStoodIsAFall) {
  nlohmann::json fall;
  EXPECT_EQ(falls_after(After::kLyingThere, true, &fall), 1u);
  // The event shows where the body lies (drawn at 260,340 170x60), not the last upright box.
  EXPECT_EQ(fall["evidence"], "foreground");
  ASSERT_EQ(fall["box"].size(), 4u);
  EXPECT_NEAR(fall["box"][0].get<double>(), 260, 3);
  EXPECT_NEAR(fall["box"][1].get<double>(), 340, 3);
  EXPECT_NEAR(fall["box"][2].get<double>(), 170, 4);
  EXPECT_NEAR(fall["box"][3].get<double>(), 60, 4);
  // Without the foreground the track gives nothing: the last box was upright.
  EXPECT_EQ(falls_after(After::kLyingThere, false), 0u);
}

TEST(SceneFallForeground, WalkedOffOrSeenByTheDetectorOrLightChangeIsNot) {
  EXPECT_EQ(falls_after(After::kGone), 0u);
  EXPECT_EQ(falls_after(After::kLyingButDetectedStanding), 0u);
  EXPECT_EQ(falls_after(After::kLightSwitchedOn), 0u);
}

// Lost where the frame edge cut their box: they walked out of view, and the foreground beside
// where they were is someone or something else. Stopped short of the edge, the same blob is them.
TEST(SceneFallForeground, LostAtTheFrameEdgeIsNotLookedForInTheForeground) {
  EXPECT_EQ(falls_after(After::kOutAtTheEdgeBesideABlob), 0u);
  EXPECT_EQ(falls_after(After::kLyingBesideWhereTheyStopped), 1u);
}

}  // namespace
}  // namespace ev
