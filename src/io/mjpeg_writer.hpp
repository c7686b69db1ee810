// Motion-JPEG video files: each frame encoded by libjpeg-turbo (cv::imencode) and muxed by
// libavformat (AVI, MKV, MOV: the container from the file name). cv::VideoWriter's MJPG goes
// through FFmpeg's own JPEG encoder, 2.5x the CPU of libjpeg-turbo at the same PSNR on 720p
// (bench/README.md), and reports no write error; here every frame is flushed to the file and a
// failed write (a full disk) is an error at once.
#pragma once

#include <opencv2/core.hpp>

#include <filesystem>
#include <memory>

#include "edgevision/status.hpp"

namespace ev {

class MjpegFileWriter {
 public:
  // `quality`: libjpeg quality 1-100 for every frame.
  static Result<std::unique_ptr<MjpegFileWriter>> open(const std::filesystem::path& path,
                                                       double fps, cv::Size size, int quality);
  ~MjpegFileWriter();
  MjpegFileWriter(const MjpegFileWriter&) = delete;
  MjpegFileWriter& operator=(const MjpegFileWriter&) = delete;

  // One BGR frame of the size given to open(). An error once a write failed; the frames before
  // it are in the file.
  Status write(const cv::Mat& bgr);
  // Writes the container's index and closes the file; an error when that fails. Idempotent.
  Status close();
  int64_t frames() const;  // frames whose bytes reached the file

 private:
  struct State;
  explicit MjpegFileWriter(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace ev
