// JPEG in memory on real 720p frames, side by side in one run (bench/README.md, "JPEG through
// TurboJPEG"): ev::encode_jpeg vs cv::imencode; ev::decode_jpeg (full, 1/2, 1/4) vs
// cv::imdecode; the MJPEG camera decoder (src/io/mjpeg_decoder.cpp) vs libavcodec + swscale,
// what that decoder used alone before. One thread, OpenCV single-threaded, median of ROUNDS
// rounds over FRAMES frames. Usage: bench_jpeg_codec [VIDEO] [FRAMES] [ROUNDS] [QUALITY]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libswscale/swscale.h>
}

#include "edgevision/jpeg.hpp"
#include "io/mjpeg_decoder.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// libavcodec's MJPEG decoder + swscale to BGR on one thread: the reference.
class AvcodecDecoder {
 public:
  AvcodecDecoder() {
    const AVCodec* codec = avcodec_find_decoder(AV_CODEC_ID_MJPEG);
    ctx_ = avcodec_alloc_context3(codec);
    ctx_->thread_count = 1;
    avcodec_open2(ctx_, codec, nullptr);
    frame_ = av_frame_alloc();
    packet_ = av_packet_alloc();
  }
  ~AvcodecDecoder() {
    sws_freeContext(sws_);
    av_packet_free(&packet_);
    av_frame_free(&frame_);
    avcodec_free_context(&ctx_);
  }
  cv::Mat decode(const std::vector<uint8_t>& jpeg) {
    packet_->data = const_cast<uint8_t*>(jpeg.data());
    packet_->size = static_cast<int>(jpeg.size());
    if (avcodec_send_packet(ctx_, packet_) < 0 || avcodec_receive_frame(ctx_, frame_) < 0)
      return {};
    if (!sws_) {
      sws_ =
          sws_getContext(frame_->width, frame_->height, AV_PIX_FMT_YUV420P, frame_->width,
                         frame_->height, AV_PIX_FMT_BGR24, SWS_BILINEAR, nullptr, nullptr, nullptr);
      const int* c = sws_getCoefficients(SWS_CS_DEFAULT);
      sws_setColorspaceDetails(sws_, c, 1, c, 1, 0, 1 << 16, 1 << 16);
    }
    cv::Mat out(frame_->height + 1, frame_->width, CV_8UC3);
    uint8_t* dst[4] = {out.data, nullptr, nullptr, nullptr};
    int stride[4] = {static_cast<int>(out.step[0]), 0, 0, 0};
    sws_scale(sws_, frame_->data, frame_->linesize, 0, frame_->height, dst, stride);
    av_frame_unref(frame_);
    return out.rowRange(0, out.rows - 1);
  }

 private:
  AVCodecContext* ctx_ = nullptr;
  AVFrame* frame_ = nullptr;
  AVPacket* packet_ = nullptr;
  SwsContext* sws_ = nullptr;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const std::string video = argc > 1 && argv[1][0]
                                ? argv[1]
                                : std::string(EV_SHARED_DIR) + "/data/video/highway_cars.mp4";
  const int max_frames = argc > 2 ? std::max(1, std::atoi(argv[2])) : 40;
  const int rounds = argc > 3 ? std::max(1, std::atoi(argv[3])) : 5;
  const int quality = argc > 4 ? std::atoi(argv[4]) : 85;
  cv::setNumThreads(1);
  cv::VideoCapture in(video);
  std::vector<cv::Mat> frames;
  std::vector<std::vector<uint8_t>> jpegs;
  cv::Mat f;
  while (static_cast<int>(frames.size()) < max_frames && in.read(f)) {
    frames.push_back(f.clone());
    jpegs.emplace_back();
    cv::imencode(".jpg", f, jpegs.back(), {cv::IMWRITE_JPEG_QUALITY, quality});
  }
  if (frames.empty()) {
    std::fprintf(stderr, "no frames in %s\n", video.c_str());
    return 1;
  }
  auto mjpeg = ev::MjpegDecoder::create();
  if (!mjpeg) {
    std::fprintf(stderr, "%s\n", mjpeg.error().c_str());
    return 1;
  }
  AvcodecDecoder avcodec;
  struct Row {
    const char* name;
    std::function<bool(size_t)> run;
    std::vector<double> ms;
  };
  std::vector<uint8_t> out;
  std::vector<Row> rows{
      {"encode: cv::imencode",
       [&](size_t i) {
         return cv::imencode(".jpg", frames[i], out, {cv::IMWRITE_JPEG_QUALITY, quality});
       },
       {}},
      {"encode: ev::encode_jpeg",
       [&](size_t i) { return ev::encode_jpeg(frames[i], quality, out).ok(); },
       {}},
      {"decode: cv::imdecode",
       [&](size_t i) { return !cv::imdecode(jpegs[i], cv::IMREAD_COLOR).empty(); },
       {}},
      {"decode: ev::decode_jpeg",
       [&](size_t i) { return ev::decode_jpeg(jpegs[i].data(), jpegs[i].size()).ok(); },
       {}},
      {"decode: ev::decode_jpeg 1/2",
       [&](size_t i) { return ev::decode_jpeg(jpegs[i].data(), jpegs[i].size(), 2).ok(); },
       {}},
      {"decode: ev::decode_jpeg 1/4",
       [&](size_t i) { return ev::decode_jpeg(jpegs[i].data(), jpegs[i].size(), 4).ok(); },
       {}},
      {"decode: libavcodec + swscale",
       [&](size_t i) { return !avcodec.decode(jpegs[i]).empty(); },
       {}},
      {"decode: MjpegDecoder (camera packets)",
       [&](size_t i) {
         cv::Mat bgr;
         return (*mjpeg)
             ->decode(cv::Mat(1, static_cast<int>(jpegs[i].size()), CV_8U, jpegs[i].data()), bgr)
             .ok();
       },
       {}},
  };
  for (int r = 0; r < rounds; ++r)
    for (Row& row : rows) {  // interleaved: drift of the box hits every row alike
      const auto t0 = Clock::now();
      for (size_t i = 0; i < frames.size(); ++i)
        if (!row.run(i)) {
          std::fprintf(stderr, "%s failed on frame %zu\n", row.name, i);
          return 1;
        }
      row.ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count() /
                       static_cast<double>(frames.size()));
    }
  std::printf("%s: %zu frames %dx%d, JPEG q%d (%.0f KiB), median of %d rounds, one thread\n",
              video.c_str(), frames.size(), frames[0].cols, frames[0].rows, quality,
              static_cast<double>(jpegs[0].size()) / 1024.0, rounds);
  std::printf("| path | ms per frame (median) | min-max of rounds |\n|---|---|---|\n");
  for (const Row& row : rows) {
    const auto [lo, hi] = std::minmax_element(row.ms.begin(), row.ms.end());
    std::printf("| %s | %.2f | %.2f-%.2f |\n", row.name, median(row.ms), *lo, *hi);
  }
  std::printf("MjpegDecoder fell back to libavcodec on %lld packets\n",
              static_cast<long long>((*mjpeg)->fallbacks()));
  return 0;
}
