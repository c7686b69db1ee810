#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include <thread>

#include "edgevision/bounded_queue.hpp"
#include "edgevision/pipeline.hpp"

namespace ev {
namespace {

// A fast producer and a slow consumer (a live camera ahead of a slow stage): the queue stays
// at capacity, drops are counted, and memory does not grow with the number of frames.
TEST(BoundedQueue, DropOldestUnderBackPressureKeepsMemoryFlat) {
  BoundedQueue<cv::Mat> q(4);
  std::atomic<bool> done{false};
  std::atomic<uint64_t> consumed{0};
  std::thread consumer([&] {
    while (auto m = q.pop()) {
      ++consumed;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  uint64_t rss_after_warmup = 0;
  const int frames = 20000;
  for (int i = 0; i < frames; ++i) {
    cv::Mat frame(96, 128, CV_8UC3, cv::Scalar(i % 255, 0, 0));  // 36 KiB each
    ASSERT_TRUE(q.push_drop_oldest(std::move(frame)));
    ASSERT_LE(q.size(), 4u);
    if (i == 1000) rss_after_warmup = process_rss_bytes();
  }
  const uint64_t rss_end = process_rss_bytes();
  q.close();
  consumer.join();
  EXPECT_EQ(q.dropped() + consumed, static_cast<uint64_t>(frames));
  EXPECT_GT(q.dropped(), frames / 2u);
  // 20000 frames would be ~700 MiB if kept; allow a few MiB of allocator noise.
  ASSERT_GT(rss_after_warmup, 0u);
  EXPECT_LT(rss_end, rss_after_warmup + (16u << 20))
      << "warm-up " << rss_after_warmup << " end " << rss_end;
}

TEST(BoundedQueue, BlockingPushLosesNothing) {
  BoundedQueue<int> q(2);
  std::vector<int> got;
  std::thread consumer([&] {
    while (auto v = q.pop()) got.push_back(*v);
  });
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(q.push(i));
  q.close();
  consumer.join();
  ASSERT_EQ(got.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(got[i], i);
  EXPECT_EQ(q.dropped(), 0u);
}

TEST(MotionDetector, StaticSceneHasNoMotionMovingObjectHas) {
  MotionDetector motion(0.002);
  cv::Mat frame(480, 640, CV_8UC3, cv::Scalar(90, 90, 90));
  cv::rectangle(frame, cv::Rect(50, 50, 100, 100), cv::Scalar(200, 200, 200), cv::FILLED);
  EXPECT_TRUE(motion.update(frame));  // first frame: nothing to compare with
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(motion.update(frame.clone()));
  // Sensor noise alone is not motion.
  cv::Mat noisy = frame.clone();
  cv::Mat noise(frame.size(), frame.type());
  cv::randu(noise, 0, 6);
  noisy += noise;
  EXPECT_FALSE(motion.update(noisy));
  cv::Mat moved(480, 640, CV_8UC3, cv::Scalar(90, 90, 90));
  cv::rectangle(moved, cv::Rect(150, 60, 100, 100), cv::Scalar(200, 200, 200), cv::FILLED);
  EXPECT_TRUE(motion.update(moved));
  EXPECT_GT(motion.last_fraction(), 0.002);
}

TEST(Process, RssIsReported) {
  EXPECT_GT(process_rss_bytes(), 1u << 20);
}

}  // namespace
}  // namespace ev
