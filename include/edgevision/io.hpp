// Frame sources (image, folder, video file, V4L2 camera, RTSP/HTTP stream) and sinks that
// write the same kind of output as the input (image -> image, folder -> folder with the same
// relative names, video -> video with the same size and fps).
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include <opencv2/core.hpp>

#include "edgevision/status.hpp"

namespace ev {

enum class SourceKind { kImage, kFolder, kVideo, kCamera, kStream };
const char* to_string(SourceKind kind);

struct SourceInfo {
  SourceKind kind = SourceKind::kVideo;
  std::string uri;
  double fps = 0.0;                // 0 if unknown (images)
  cv::Size size;                   // first frame size; may vary across a folder
  int64_t frame_count = -1;        // -1 if unknown (streams, cameras)
  int fourcc = 0;                  // video codec of the input, 0 if unknown
  bool decodes_on_demand = false;  // MJPEG stream read as packets: skipped frames cost no decode
};

struct Frame {
  cv::Mat image;               // BGR 8-bit
  int64_t index = 0;           // 0-based position in the source (corrupt frames keep their slot)
  double timestamp_ms = 0.0;   // source time
  std::filesystem::path name;  // image/folder: path relative to the input root; else empty
};

enum class ReadStatus {
  kFrame,    // `frame` holds a new frame
  kCorrupt,  // a frame/file could not be decoded; warn, count, and keep reading
  kEnd,      // no more frames
  kError     // the source failed for good (see message)
};

class FrameSource {
 public:
  virtual ~FrameSource() = default;
  // `message` gets the reason for kCorrupt / kError.
  virtual ReadStatus read(Frame& frame, std::string& message) = 0;
  virtual const SourceInfo& info() const = 0;
  // Like read(), but once the next frame has arrived `wanted()` decides whether it is decoded
  // at all: a frame not wanted is consumed without decoding (video capture: grab() without
  // retrieve()), `skipped` is set and `frame.image` is left empty. For a live camera read
  // faster than it is analysed (an fps cap), most of its frames are never decoded.
  virtual ReadStatus read_if(Frame& frame, std::string& message,
                             const std::function<bool()>& wanted, bool& skipped) {
    skipped = false;
    const ReadStatus rs = read(frame, message);
    if (rs == ReadStatus::kFrame && !wanted()) {
      skipped = true;
      frame.image.release();
    }
    return rs;
  }
};

struct SourceOptions {
  bool loop = false;         // restart files at the end (demo cameras)
  int max_corrupt_run = 25;  // consecutive undecodable video frames before giving up
  // Network streams (FFmpeg): an open that gets no answer, or a read that gets no data, fails
  // after this instead of FFmpeg's default (30 s or never). 0: FFmpeg's default.
  int open_timeout_ms = 10000;
  // Below 5 s so a camera's stop() returns within 5 s even when its stream went silent after
  // opening (the reader thread is inside FFmpeg's read until then); Frigate uses 5 s too.
  int read_timeout_ms = 4000;
  // MJPEG streams are read as JPEG packets and only the frames that are analysed are decoded
  // (false: OpenCV decodes every frame, as for other codecs).
  bool raw_mjpeg = true;
  // Set by the owner to abandon a pending open (checked every 100 ms while the stream is probed).
  const std::atomic<bool>* cancel = nullptr;
};

// uri: a file, a folder, "/dev/videoN" or a camera index, rtsp://, http(s)://.
Result<std::unique_ptr<FrameSource>> open_source(const std::string& uri,
                                                 const SourceOptions& options = {});

class FrameSink {
 public:
  virtual ~FrameSink() = default;
  virtual Status write(const Frame& frame) = 0;
  virtual Status close() = 0;
  virtual int64_t frames_written() const = 0;
};

struct SinkOptions {
  std::string fourcc;  // empty: from the extension (.mp4 -> avc1 (H.264), else mp4v; .avi -> MJPG)
  int jpeg_quality = 95;  // image outputs
  // MJPG video frames (libjpeg-turbo): 85 gives 41.6 dB PSNR at 136 KB per 720p traffic frame,
  // about what FFmpeg's MJPEG encoder behind cv::VideoWriter gave (41.1 dB, 108 KB) at 2.5x the
  // CPU (bench/README.md, "MJPEG video with libjpeg-turbo").
  int mjpeg_quality = 85;
};

// Output of the same kind as `input`: image file, folder, or video with input fps and size.
Result<std::unique_ptr<FrameSink>> open_sink(const std::filesystem::path& output,
                                             const SourceInfo& input,
                                             const SinkOptions& options = {});

bool is_image_file(const std::filesystem::path& path);
bool is_video_file(const std::filesystem::path& path);

}  // namespace ev
