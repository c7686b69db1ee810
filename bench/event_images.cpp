// Cost of the server's event images (src/server/event_images.cpp) on a real 720p frame: the
// worker's time per event (decode the camera's JPEG, cut and encode the thumbnail, store), and
// the ring's bytes at its event limit. Usage: bench_event_images [VIDEO] [EVENTS] [PER_FRAME]
// PER_FRAME: events that share one camera frame (default 2; 1 = a new frame for every event).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "server/event_images.hpp"

namespace {

// One camera whose frame changes every `every` events, as when several events share a frame.
class OneCamera : public ev::ServiceView {
 public:
  std::vector<std::vector<uint8_t>> frames;
  size_t current = 0;
  std::vector<ev::CameraStatus> cameras() const override { return {}; }
  std::optional<std::vector<uint8_t>> snapshot_jpeg(const std::string&) const override {
    return frames[current % frames.size()];
  }
  ev::EventFeed& events() override { std::abort(); }
  prometheus::Registry& metrics() override { std::abort(); }
  nlohmann::json health() const override { return {}; }
};

}  // namespace

int main(int argc, char** argv) {
  const std::string video =
      argc > 1 && argv[1][0] ? argv[1]
                             : std::string(EV_SHARED_DIR) + "/data/video/otb_crossing/crossing.avi";
  const int events = argc > 2 ? std::atoi(argv[2]) : 400;
  const int per_frame = argc > 3 ? std::max(1, std::atoi(argv[3])) : 2;
  cv::VideoCapture in(video);
  if (!in.isOpened()) {
    std::fprintf(stderr, "cannot open %s\n", video.c_str());
    return 1;
  }
  OneCamera cam;
  cv::Mat f;
  for (int i = 0; i < 20 && in.read(f); ++i) {
    cv::Mat hd;
    cv::resize(f, hd, cv::Size(1280, 720));  // the service's typical camera size
    std::vector<uint8_t> jpeg;
    cv::imencode(".jpg", hd, jpeg, {cv::IMWRITE_JPEG_QUALITY, 85});
    cam.frames.push_back(std::move(jpeg));
  }
  if (cam.frames.empty()) return 1;
  ev::server_internal::EventImages images(cam, 200, 32u << 20);
  images.start();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < events; ++i) {
    if (i % per_frame == 0) ++cam.current;
    nlohmann::json e = {{"event_id", "cam-" + std::to_string(i)},
                        {"camera", "cam"},
                        {"box", {200 + (i * 37) % 800, 150, 120, 300}}};
    images.on_event(e);
    images.flush();  // one at a time: the per-event cost, not the queue's
  }
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const auto st = images.stats();
  size_t thumb = 0;
  for (int i = events - 10; i < events; ++i)
    if (auto t = images.thumbnail("cam-" + std::to_string(i))) thumb += t->size();
  std::printf(
      "events %d  per frame %d  per event %.2f ms  kept %zu  ring %.1f MiB  frame %.0f KiB  "
      "thumb %.1f KiB\n",
      events, per_frame, ms / events, st.kept, st.bytes / 1048576.0, cam.frames[0].size() / 1024.0,
      thumb / 10.0 / 1024.0);
  return 0;
}
