#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <vector>

#include <spdlog/spdlog.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include "edgevision/io.hpp"
#include "edgevision/redact.hpp"
#include "io/mjpeg_decoder.hpp"

namespace ev {
namespace fs = std::filesystem;

const char* to_string(SourceKind kind) {
  switch (kind) {
    case SourceKind::kImage:
      return "image";
    case SourceKind::kFolder:
      return "folder";
    case SourceKind::kVideo:
      return "video";
    case SourceKind::kCamera:
      return "camera";
    case SourceKind::kStream:
      return "stream";
  }
  return "unknown";
}

namespace {

std::string lower_ext(const fs::path& p) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return std::tolower(c); });
  return e;
}

}  // namespace

bool is_image_file(const fs::path& path) {
  static const std::vector<std::string> kExt = {".jpg", ".jpeg", ".png", ".bmp", ".webp",
                                                ".tif", ".tiff", ".ppm", ".pgm", ".jp2"};
  return std::find(kExt.begin(), kExt.end(), lower_ext(path)) != kExt.end();
}

bool is_video_file(const fs::path& path) {
  static const std::vector<std::string> kExt = {".avi",  ".mp4",   ".mkv",  ".mov", ".m4v",
                                                ".webm", ".mpg",   ".mpeg", ".wmv", ".flv",
                                                ".ts",   ".mjpeg", ".h264"};
  return std::find(kExt.begin(), kExt.end(), lower_ext(path)) != kExt.end();
}

namespace {

// A single image or a folder of images (recursive, sorted by relative path).
class ImageListSource final : public FrameSource {
 public:
  ImageListSource(fs::path root, std::vector<fs::path> files, SourceKind kind, bool loop)
      : root_(std::move(root)), files_(std::move(files)), loop_(loop) {
    info_.kind = kind;
    info_.uri = root_.string();
    info_.frame_count = static_cast<int64_t>(files_.size());
  }

  ReadStatus read(Frame& frame, std::string& message) override {
    if (next_ >= files_.size()) {
      if (!loop_ || files_.empty()) return ReadStatus::kEnd;
      next_ = 0;
    }
    // Names are taken as listed, never through symlinks: fs::relative() would resolve a link
    // to its target and the sink would write OUTPUT/../<target>, i.e. over the original.
    const fs::path& file = files_[next_];
    frame.index = static_cast<int64_t>(index_++);
    ++next_;
    frame.timestamp_ms = 0;
    frame.name =
        info_.kind == SourceKind::kImage ? file.filename() : file.lexically_relative(root_);
    try {
      frame.image = cv::imread(file.string(), cv::IMREAD_COLOR);
    } catch (const cv::Exception& e) {
      frame.image.release();
    }
    if (frame.image.empty()) {
      message = "cannot decode image " + file.string();
      return ReadStatus::kCorrupt;
    }
    if (info_.size.empty()) info_.size = frame.image.size();
    return ReadStatus::kFrame;
  }
  const SourceInfo& info() const override { return info_; }

 private:
  fs::path root_;
  std::vector<fs::path> files_;
  bool loop_;
  size_t next_ = 0;
  size_t index_ = 0;
  SourceInfo info_;
};

class CaptureSource final : public FrameSource {
 public:
  // `mjpeg`: the capture is in raw mode (CAP_PROP_FORMAT -1) and its packets are JPEGs.
  CaptureSource(cv::VideoCapture cap, SourceInfo info, SourceOptions options,
                std::unique_ptr<MjpegDecoder> mjpeg)
      : cap_(std::move(cap)), info_(std::move(info)), options_(options), mjpeg_(std::move(mjpeg)) {}

  ReadStatus read(Frame& frame, std::string& message) override {
    for (;;) {
      if (read_image(frame.image)) {
        number_next(frame);
        corrupt_run_ = 0;
        return ReadStatus::kFrame;
      }
      // A failed read before the advertised end is a damaged frame: keep its slot, warn, and
      // try the next one; give up after a long run of failures (a truncated file).
      const bool before_end = info_.frame_count > 0 && index_ < info_.frame_count;
      if (before_end && corrupt_run_ < options_.max_corrupt_run) {
        ++corrupt_run_;
        frame.index = index_++;
        message = "undecodable frame " + std::to_string(frame.index) + " in " + info_.uri;
        return ReadStatus::kCorrupt;
      }
      if (before_end && !truncation_reported_) {
        truncation_reported_ = true;
        spdlog::warn("{}: stream ended at frame {} of {} advertised (truncated file?)", info_.uri,
                     index_ - corrupt_run_, info_.frame_count);
      }
      if (options_.loop && info_.kind == SourceKind::kVideo && index_ > 0 && loops_ < 1'000'000) {
        ++loops_;
        cap_.set(cv::CAP_PROP_POS_FRAMES, 0);
        corrupt_run_ = 0;
        if (read_image(frame.image)) {
          frame.index = index_++;
          frame.timestamp_ms = info_.fps > 0 ? frame.index * 1000.0 / info_.fps : 0;
          return ReadStatus::kFrame;
        }
      }
      if (info_.kind == SourceKind::kStream || info_.kind == SourceKind::kCamera) {
        message = "stream " + info_.uri + " stopped delivering frames";
        return ReadStatus::kError;
      }
      return ReadStatus::kEnd;
    }
  }
  const SourceInfo& info() const override { return info_; }

  ReadStatus read_if(Frame& frame, std::string& message, const std::function<bool()>& wanted,
                     bool& skipped) override {
    skipped = false;
    // Only live sources: a file's frames are all wanted (it is paced, not skipped), and its
    // corrupt-frame and loop handling live in read().
    if (info_.kind != SourceKind::kStream && info_.kind != SourceKind::kCamera)
      return FrameSource::read_if(frame, message, wanted, skipped);
    if (!grab_frame()) return read(frame, message);  // its failure handling decides what this is
    number_next(frame);
    if (!wanted()) {
      skipped = true;
      frame.image.release();
      return ReadStatus::kFrame;
    }
    if (!retrieve_image(frame.image)) {
      if (++corrupt_run_ > options_.max_corrupt_run) {
        message = "stream " + info_.uri + " delivers only undecodable frames";
        return ReadStatus::kError;
      }
      message = "undecodable frame " + std::to_string(frame.index) + " in " + info_.uri;
      return ReadStatus::kCorrupt;
    }
    corrupt_run_ = 0;
    return ReadStatus::kFrame;
  }

 private:
  // The grabbed frame's image, decoded by OpenCV or, in raw mode, from its JPEG packet.
  bool retrieve_image(cv::Mat& image) {
    try {
      if (!mjpeg_) return cap_.retrieve(image) && !image.empty();
      return cap_.retrieve(packet_) && mjpeg_->decode(packet_, image).ok();
    } catch (const cv::Exception&) {
      return false;
    }
  }
  bool grab_frame() {
    try {
      return cap_.grab();
    } catch (const cv::Exception&) {
      return false;
    }
  }
  bool read_image(cv::Mat& image) { return grab_frame() && retrieve_image(image); }
  // A stream without a frame rate is stamped with the capture's own clock.
  void number_next(Frame& frame) {
    frame.index = index_++;
    frame.timestamp_ms =
        info_.fps > 0 ? frame.index * 1000.0 / info_.fps : cap_.get(cv::CAP_PROP_POS_MSEC);
  }

  cv::VideoCapture cap_;
  SourceInfo info_;
  SourceOptions options_;
  std::unique_ptr<MjpegDecoder> mjpeg_;
  cv::Mat packet_;
  int64_t index_ = 0;
  int corrupt_run_ = 0;
  int64_t loops_ = 0;
  bool truncation_reported_ = false;
};

// OpenCV 4.6 holds one process-wide lock for the whole of an FFmpeg open, so a stream that
// never answers would stall every other camera's open for the open timeout. Before FFmpeg sees
// an http:// or rtsp:// URL, the server must answer a request of ours, made outside that lock
// (and abandonable through options.cancel). Connection-only for https/rtsps; none for udp/tcp.
Status probe_stream(const std::string& uri, const SourceOptions& options) {
  const size_t sep = uri.find("://");
  const std::string scheme = uri.substr(0, sep);
  int default_port = 0;
  if (scheme == "http") default_port = 80;
  if (scheme == "https") default_port = 443;
  if (scheme == "rtsp") default_port = 554;
  if (scheme == "rtsps") default_port = 322;
  if (default_port == 0 || options.open_timeout_ms <= 0) return Status::Ok();
  std::string rest = uri.substr(sep + 3);
  const size_t path_at = rest.find_first_of("/?#");
  std::string authority = rest.substr(0, path_at);
  const std::string path = path_at == std::string::npos ? "/" : rest.substr(path_at);
  if (const size_t at = authority.rfind('@'); at != std::string::npos)
    authority = authority.substr(at + 1);
  std::string host = authority, port = std::to_string(default_port);
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    host = authority.substr(1, close == std::string::npos ? std::string::npos : close - 1);
    if (close != std::string::npos && close + 1 < authority.size() && authority[close + 1] == ':')
      port = authority.substr(close + 2);
  } else if (const size_t colon = authority.rfind(':'); colon != std::string::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  const std::string name = redact_url(uri);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || !res)
    return Status::Error("cannot resolve the host of " + name);
  const int fd = ::socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int rc = fd < 0 ? -1 : ::connect(fd, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  if (fd < 0) return Status::Error("cannot open a socket for " + name);
  const bool in_progress = rc != 0 && errno == EINPROGRESS;
  if (rc != 0 && !in_progress) {
    ::close(fd);
    return Status::Error(name + ": connection refused or unreachable");
  }
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(options.open_timeout_ms);
  // Waits for `events` in 100 ms slices; false on timeout, cancel or error.
  auto wait = [&](short events) {
    while (std::chrono::steady_clock::now() < deadline) {
      if (options.cancel && options.cancel->load()) return false;
      pollfd p{fd, events, 0};
      const int n = ::poll(&p, 1, 100);
      if (n > 0) return (p.revents & events) != 0 || (p.revents & POLLHUP) != 0;
      if (n < 0 && errno != EINTR) return false;
    }
    return false;
  };
  std::string failure;
  if (!wait(POLLOUT)) {
    failure = "no connection";
  } else {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) failure = "connection refused or unreachable";
  }
  if (failure.empty() && (scheme == "http" || scheme == "rtsp")) {
    const std::string request = scheme == "http"
                                    ? "OPTIONS " + path + " HTTP/1.0\r\nHost: " + host + "\r\n\r\n"
                                    : "OPTIONS " + uri.substr(0, sep + 3) + authority + path +
                                          " RTSP/1.0\r\nCSeq: 1\r\n\r\n";
    // OPTIONS fetches nothing; any answer, an error status or even closing the connection,
    // shows a live server. Only silence is a black hole.
    char byte = 0;
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) < 0 || !wait(POLLIN) ||
        ::recv(fd, &byte, 1, MSG_DONTWAIT) < 0)
      failure = "no answer";
  }
  ::close(fd);
  if (failure.empty()) return Status::Ok();
  if (options.cancel && options.cancel->load()) return Status::Error(name + ": open cancelled");
  return Status::Error(name + ": " + failure + " within " +
                       std::to_string(options.open_timeout_ms) + " ms");
}

Result<std::unique_ptr<FrameSource>> open_capture(const std::string& uri, SourceKind kind,
                                                  const SourceOptions& options) {
  if (kind == SourceKind::kStream) {
    if (Status st = probe_stream(uri, options); !st)
      return Result<std::unique_ptr<FrameSource>>::Error("cannot open " + st.message());
  }
  cv::VideoCapture cap;
  try {
    if (kind == SourceKind::kCamera) {
      const bool is_index = !uri.empty() && std::all_of(uri.begin(), uri.end(), ::isdigit);
      if (is_index)
        cap.open(std::stoi(uri), cv::CAP_V4L2);
      else
        cap.open(uri, cv::CAP_V4L2);
    } else if (kind == SourceKind::kStream) {
      // A stream that never answers must not hold this camera (nor OpenCV's FFmpeg open lock,
      // which every other camera's open waits for) for FFmpeg's default of 30 s or forever.
      std::vector<int> params;
      params.reserve(4);
      if (options.open_timeout_ms > 0) {
        params.push_back(cv::CAP_PROP_OPEN_TIMEOUT_MSEC);
        params.push_back(options.open_timeout_ms);
      }
      if (options.read_timeout_ms > 0) {
        params.push_back(cv::CAP_PROP_READ_TIMEOUT_MSEC);
        params.push_back(options.read_timeout_ms);
      }
      cap.open(uri, cv::CAP_FFMPEG, params);
    } else {
      // FFmpeg only: the GStreamer fallback of CAP_ANY prints assertion noise on bad files.
      cap.open(uri, cv::CAP_FFMPEG);
    }
  } catch (const cv::Exception& e) {
    return Result<std::unique_ptr<FrameSource>>::Error("cannot open " + redact_url(uri) + ": " +
                                                       redact_text(e.what()));
  }
  if (!cap.isOpened())
    return Result<std::unique_ptr<FrameSource>>::Error("cannot open " + redact_url(uri) +
                                                       ": not a readable video, camera or stream");
  SourceInfo info;
  info.kind = kind;
  // Stream URLs may carry credentials; everything downstream only names the source.
  info.uri = kind == SourceKind::kStream ? redact_url(uri) : uri;
  info.fps = cap.get(cv::CAP_PROP_FPS);
  if (!(info.fps > 0 && info.fps < 1000)) info.fps = 0;
  info.size = cv::Size(static_cast<int>(cap.get(cv::CAP_PROP_FRAME_WIDTH)),
                       static_cast<int>(cap.get(cv::CAP_PROP_FRAME_HEIGHT)));
  const double count = cap.get(cv::CAP_PROP_FRAME_COUNT);
  info.frame_count = kind == SourceKind::kVideo && count > 0 ? static_cast<int64_t>(count) : -1;
  info.fourcc = static_cast<int>(cap.get(cv::CAP_PROP_FOURCC));
  // OpenCV's grab() decodes every frame, also those an fps cap then skips (at 30 fps capped
  // to 10, two thirds of the decoding is thrown away). An MJPEG stream is read as packets
  // instead and only the frames that are analysed are decoded.
  std::unique_ptr<MjpegDecoder> mjpeg;
  if (kind == SourceKind::kStream && options.raw_mjpeg && is_live_mjpeg_fourcc(info.fourcc)) {
    auto decoder = MjpegDecoder::create();
    bool raw = false;
    if (decoder) {
      try {
        raw = cap.set(cv::CAP_PROP_FORMAT, -1);
      } catch (const cv::Exception&) {
        raw = false;
      }
    }
    if (raw) {
      mjpeg = std::move(*decoder);
      info.decodes_on_demand = true;
    } else {
      spdlog::warn("{}: MJPEG frames skipped by the fps cap are decoded too ({})", info.uri,
                   decoder ? "OpenCV refused raw packets" : decoder.error());
    }
  }
  return std::unique_ptr<FrameSource>(
      new CaptureSource(std::move(cap), info, options, std::move(mjpeg)));
}

}  // namespace

Result<std::unique_ptr<FrameSource>> open_source(const std::string& uri,
                                                 const SourceOptions& options) {
  using R = Result<std::unique_ptr<FrameSource>>;
  if (uri.rfind("rtsp://", 0) == 0 || uri.rfind("rtsps://", 0) == 0 ||
      uri.rfind("http://", 0) == 0 || uri.rfind("https://", 0) == 0 ||
      uri.rfind("udp://", 0) == 0 || uri.rfind("tcp://", 0) == 0)
    return open_capture(uri, SourceKind::kStream, options);
  if (uri.rfind("/dev/video", 0) == 0 ||
      (!uri.empty() && std::all_of(uri.begin(), uri.end(), ::isdigit)))
    return open_capture(uri, SourceKind::kCamera, options);

  std::error_code ec;
  const fs::path path(uri);
  if (fs::is_directory(path, ec)) {
    std::vector<fs::path> files;
    for (fs::recursive_directory_iterator
             it(path, fs::directory_options::skip_permission_denied, ec),
         end;
         !ec && it != end; it.increment(ec)) {
      if (it->is_regular_file(ec) && is_image_file(it->path())) files.push_back(it->path());
    }
    if (ec) return R::Error("cannot list folder " + uri + ": " + ec.message());
    std::sort(files.begin(), files.end());
    if (files.empty()) return R::Error("folder " + uri + " contains no images");
    return std::unique_ptr<FrameSource>(
        new ImageListSource(path, std::move(files), SourceKind::kFolder, options.loop));
  }
  if (!fs::exists(path, ec)) return R::Error("input not found: " + uri);
  if (is_image_file(path))
    return std::unique_ptr<FrameSource>(
        new ImageListSource(path.parent_path(), {path}, SourceKind::kImage, options.loop));
  return open_capture(uri, SourceKind::kVideo, options);
}

}  // namespace ev
