// Decodes the JPEG packets of an MJPEG stream that OpenCV reads in raw mode
// (CAP_PROP_FORMAT = -1), so a live camera read faster than it is analysed only pays for the
// frames it analyses: OpenCV's grab() decodes every frame, a raw grab() only reads the packet.
#pragma once

#include <opencv2/core.hpp>

#include <cstdint>
#include <memory>
#include <string>

#include "edgevision/status.hpp"

namespace ev {

class MjpegDecoder {
 public:
  // libjpeg-turbo, with libavcodec's MJPEG decoder for the packets it refuses; one thread (the
  // camera's reader thread does the work).
  static Result<std::unique_ptr<MjpegDecoder>> create();
  ~MjpegDecoder();
  MjpegDecoder(const MjpegDecoder&) = delete;
  MjpegDecoder& operator=(const MjpegDecoder&) = delete;

  // `packet`: one whole JPEG (the 1xN CV_8U Mat of a raw retrieve()). `bgr` gets a newly
  // allocated image, never a buffer shared with an earlier frame.
  Status decode(const cv::Mat& packet, cv::Mat& bgr);
  // Packets libavcodec was given while TurboJPEG was in use: refused by it, or holding two
  // images (tests, diagnostics).
  int64_t fallbacks() const;

 private:
  struct State;
  explicit MjpegDecoder(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// True for the tag OpenCV reports for a bare MJPEG stream ("mjpe", from the codec name: HTTP
// multipart or RTSP cameras). MJPEG inside a container ("MJPG": an AVI served over HTTP) is a
// recording that arrives faster than real time; read as packets, the frames a busy pipeline
// skips would cost nothing and the reader would race through it, so it is decoded in full.
bool is_live_mjpeg_fourcc(int fourcc);

}  // namespace ev
