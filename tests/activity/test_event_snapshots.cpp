// The bounded store of anonymized event frames behind the events' `snapshot` field.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include "edgevision/event_snapshots.hpp"

namespace ev {
namespace {

nlohmann::json event(const std::string& id, const std::string& type, const char* phase = nullptr) {
  nlohmann::json e = {{"event_id", id}, {"type", type}, {"box", {1, 2, 3, 4}}};
  if (phase) e["phase"] = phase;
  return e;
}

// Appended, not operator+: g++ 12 -O2 warns falsely (-Wrestrict) on "x" + std::to_string(i).
std::string id_of(std::string prefix, int i) {
  prefix += std::to_string(i);
  return prefix;
}

cv::Mat frame(int value) {
  return cv::Mat(48, 64, CV_8UC3, cv::Scalar(value, value, value));
}

TEST(EventSnapshots, AttachesAReferenceAndServesTheFrame) {
  EventSnapshots store;
  auto e = event("cam-1", "zone_enter");
  ASSERT_TRUE(store.attach(e, frame(200), 7));
  EXPECT_EQ(e["snapshot"], "/events/cam-1/snapshot.jpg");
  auto jpeg = store.jpeg("cam-1");
  ASSERT_TRUE(jpeg);
  const cv::Mat img = cv::imdecode(*jpeg, cv::IMREAD_COLOR);
  ASSERT_EQ(img.size(), cv::Size(64, 48));
  EXPECT_NEAR(img.at<cv::Vec3b>(10, 10)[0], 200, 3);
  EXPECT_FALSE(store.jpeg("cam-2"));
}

TEST(EventSnapshots, EndsAndEventsWithoutABoxGetNone) {
  EventSnapshots store;
  for (auto e :
       {event("a", "object_left"), event("b", "activity_ended"), event("c", "loitering", "end"),
        nlohmann::json{{"event_id", "d"}, {"type", "traffic"}}}) {
    EXPECT_FALSE(store.attach(e, frame(1), 1)) << e.dump();
    EXPECT_FALSE(e.contains("snapshot"));
  }
  auto start = event("e", "loitering", "start");
  EXPECT_TRUE(store.attach(start, frame(1), 1));
  EXPECT_EQ(store.frames(), 1u);
}

TEST(EventSnapshots, OneEncodePerFrameSharedByItsEvents) {
  EventSnapshots store;
  auto a = event("a", "line_cross");
  auto b = event("b", "zone_enter");
  store.attach(a, frame(10), 5);
  store.attach(b, frame(99), 5);  // same frame index: the stored frame is reused
  EXPECT_EQ(store.frames(), 1u);
  EXPECT_EQ(*store.jpeg("a"), *store.jpeg("b"));
}

TEST(EventSnapshots, BoundedByFramesAndBytes) {
  EventSnapshots store({.max_frames = 3});
  for (int i = 0; i < 10; ++i) {
    auto e = event(id_of("f", i), "fall");
    store.attach(e, frame(i * 20), i);
  }
  EXPECT_EQ(store.frames(), 3u);
  EXPECT_FALSE(store.jpeg("f6"));  // dropped: 404, never a wrong frame
  EXPECT_TRUE(store.jpeg("f7"));
  EXPECT_TRUE(store.jpeg("f9"));

  cv::Mat noise(240, 320, CV_8UC3);
  cv::randu(noise, 0, 255);
  std::vector<uint8_t> one;
  cv::imencode(".jpg", noise, one, {cv::IMWRITE_JPEG_QUALITY, 80});
  EventSnapshots small({.max_frames = 100, .max_bytes = one.size() * 2 + one.size() / 2});
  for (int i = 0; i < 6; ++i) {
    auto e = event(id_of("n", i), "fall");
    cv::randu(noise, 0, 255);
    small.attach(e, noise, i);
  }
  EXPECT_LE(small.bytes(), one.size() * 2 + one.size() / 2);
  EXPECT_LE(small.frames(), 3u);
  EXPECT_GE(small.frames(), 1u);
  EXPECT_TRUE(small.jpeg("n5"));

  EventSnapshots off({.max_frames = 0});
  auto e = event("x", "fall");
  EXPECT_FALSE(off.attach(e, frame(1), 1));
  EXPECT_FALSE(e.contains("snapshot"));
}

}  // namespace
}  // namespace ev
