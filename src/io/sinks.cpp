#include <spdlog/spdlog.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "edgevision/io.hpp"
#include "io/mjpeg_writer.hpp"

namespace ev {
namespace fs = std::filesystem;
namespace {

Status write_image(const fs::path& path, const cv::Mat& image, int jpeg_quality) {
  std::error_code ec;
  if (path.has_parent_path()) fs::create_directories(path.parent_path(), ec);
  // Write to a temp name and rename so a reader never sees a half-written image.
  const fs::path tmp = path.parent_path() / (".partial-" + path.filename().string());
  bool ok = false;
  try {
    ok = cv::imwrite(tmp.string(), image, {cv::IMWRITE_JPEG_QUALITY, jpeg_quality});
  } catch (const cv::Exception& e) {
    ok = false;
  }
  // imwrite picks the codec from the extension; the temp name keeps it.
  if (!ok) {
    fs::remove(tmp, ec);
    return Status::Error("cannot write image " + path.string());
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return Status::Error("cannot write image " + path.string() + ": " + ec.message());
  }
  return Status::Ok();
}

// True when `path` (resolved through symlinks as far as it exists) is `root` or inside it.
bool is_within(const fs::path& path, const fs::path& root) {
  std::error_code ec;
  const fs::path p = fs::weakly_canonical(path, ec);
  if (ec) return false;
  const fs::path r = fs::weakly_canonical(root, ec);
  if (ec || r.empty()) return false;
  auto pi = p.begin();
  for (auto ri = r.begin(); ri != r.end(); ++ri, ++pi) {
    if (ri->empty()) continue;  // trailing separator
    if (pi == p.end() || *pi != *ri) return false;
  }
  return true;
}

// image -> one file (OUTPUT may be a file name or an existing folder); folder -> OUTPUT/<relative
// name>.
// Never writes outside OUTPUT and never over the input image itself: an anonymizer that
// replaces the originals would lose the only copy.
class ImageSink final : public FrameSink {
 public:
  ImageSink(fs::path output, bool output_is_dir, fs::path input_root, bool input_is_folder,
            SinkOptions options)
      : output_(std::move(output)),
        output_is_dir_(output_is_dir),
        input_root_(std::move(input_root)),
        input_is_folder_(input_is_folder),
        options_(std::move(options)) {}
  Status write(const Frame& frame) override {
    const fs::path name = frame.name.lexically_normal();
    if (output_is_dir_ && (name.empty() || name.is_absolute() || *name.begin() == ".."))
      return Status::Error("refusing to write '" + frame.name.string() + "' outside " +
                           output_.string());
    const fs::path dest = output_is_dir_ ? output_ / name : output_;
    std::error_code ec;
    if (!frame.name.empty() && fs::exists(dest, ec) &&
        fs::equivalent(dest, input_root_ / frame.name, ec))
      return Status::Error("refusing to overwrite the input image " + dest.string() +
                           " (choose another output)");
    // A folder input's images may sit anywhere under its root (a subfolder of OUTPUT may even
    // be a link into it): nothing is written there.
    if (input_is_folder_ && is_within(dest, input_root_))
      return Status::Error("refusing to write " + dest.string() + " inside the input folder " +
                           input_root_.string() + " (choose an output outside it)");
    Status s = write_image(dest, frame.image, options_.jpeg_quality);
    if (s) ++written_;
    return s;
  }
  Status close() override { return Status::Ok(); }
  int64_t frames_written() const override { return written_; }

 private:
  fs::path output_;
  bool output_is_dir_;
  fs::path input_root_;
  bool input_is_folder_;
  SinkOptions options_;
  int64_t written_ = 0;
};

class VideoSink final : public FrameSink {
 public:
  VideoSink(fs::path output, SourceInfo input, SinkOptions options)
      : output_(std::move(output)), input_(std::move(input)), options_(std::move(options)) {}
  ~VideoSink() override { close(); }

  Status write(const Frame& frame) override {
    if (!writer_.isOpened() && !mjpeg_) {
      if (opened_once_) return Status::Error("video writer for " + output_.string() + " is closed");
      Status s = open(frame.image.size());
      if (!s) return s;
    }
    cv::Mat image = frame.image;
    if (image.size() != size_) {
      // Frame size changed mid-stream (some streams do): keep the container consistent.
      cv::resize(frame.image, image, size_);
    }
    if (mjpeg_) {
      if (Status s = mjpeg_->write(image); !s) return s;
    } else {
      writer_.write(image);
    }
    ++written_;
    return Status::Ok();
  }
  // cv::VideoWriter::write() reports nothing (a full disk drops frames silently), so its file
  // is read back once at close: what can be read is what was written. The MJPEG writer knows
  // (every frame is flushed and checked).
  Status close() override {
    if (mjpeg_) {
      close_status_ = mjpeg_->close();
      written_ = mjpeg_->frames();
      mjpeg_.reset();
      return close_status_;
    }
    if (!writer_.isOpened()) return close_status_;
    writer_.release();
    const int64_t attempted = written_;
    int64_t readable = 0;
    try {
      cv::VideoCapture check(output_.string(), cv::CAP_FFMPEG);
      while (check.isOpened() && readable < attempted && check.grab()) ++readable;
    } catch (const cv::Exception&) {
    }
    std::error_code ec;
    const auto bytes = fs::file_size(output_, ec);
    if (readable < attempted) {
      written_ = readable;
      close_status_ = Status::Error(
          "only " + std::to_string(readable) + " of " + std::to_string(attempted) +
          " frames could be written to " + output_.string() + " (" +
          (ec ? ec.message() : std::to_string(bytes) + " bytes") + "; disk full or write error?)");
    }
    return close_status_;
  }
  int64_t frames_written() const override { return written_; }

 private:
  Status open(cv::Size size) {
    opened_once_ = true;
    size_ = size;
    std::string fourcc = options_.fourcc;
    bool h264_first = false;
    if (fourcc.empty()) {
      const std::string ext = output_.extension().string();
      // H.264 where OpenCV's FFmpeg has an encoder (libx264/openh264): a third of mp4v's size.
      h264_first = ext == ".mp4" || ext == ".m4v" || ext == ".mov";
      fourcc = h264_first ? "avc1" : "MJPG";
    }
    if (fourcc.size() != 4) return Status::Error("fourcc must have 4 characters: '" + fourcc + "'");
    const double fps = input_.fps > 0 ? input_.fps : 25.0;
    std::error_code ec;
    if (output_.has_parent_path()) fs::create_directories(output_.parent_path(), ec);
    if (fourcc == "MJPG") {
      auto w = MjpegFileWriter::open(output_, fps, size, options_.mjpeg_quality);
      if (!w) return w.status();
      mjpeg_ = std::move(*w);
      spdlog::debug("writing {} ({}x{} @ {:.3f} fps, MJPG quality {})", output_.string(),
                    size.width, size.height, fps, options_.mjpeg_quality);
      return Status::Ok();
    }
    try {
      writer_.open(output_.string(), cv::CAP_FFMPEG,
                   cv::VideoWriter::fourcc(fourcc[0], fourcc[1], fourcc[2], fourcc[3]), fps, size,
                   true);
      if (!writer_.isOpened() && h264_first) {
        spdlog::warn("no H.264 encoder in OpenCV's FFmpeg; writing {} as MPEG-4 Part 2 (mp4v)",
                     output_.string());
        fourcc = "mp4v";
        writer_.open(output_.string(), cv::CAP_FFMPEG, cv::VideoWriter::fourcc('m', 'p', '4', 'v'),
                     fps, size, true);
      }
    } catch (const cv::Exception& e) {
      return Status::Error("cannot open video writer " + output_.string() + ": " + e.what());
    }
    if (!writer_.isOpened())
      return Status::Error("cannot open video writer " + output_.string() + " (codec " + fourcc +
                           ")");
    spdlog::debug("writing {} ({}x{} @ {:.3f} fps, {})", output_.string(), size.width, size.height,
                  fps, fourcc);
    return Status::Ok();
  }

  fs::path output_;
  Status close_status_;
  SourceInfo input_;
  SinkOptions options_;
  cv::VideoWriter writer_;
  std::unique_ptr<MjpegFileWriter> mjpeg_;  // MJPG: libjpeg-turbo frames muxed by libavformat
  cv::Size size_;
  bool opened_once_ = false;
  int64_t written_ = 0;
};

}  // namespace

Result<std::unique_ptr<FrameSink>> open_sink(const fs::path& output, const SourceInfo& input,
                                             const SinkOptions& options) {
  using R = Result<std::unique_ptr<FrameSink>>;
  std::error_code ec;
  switch (input.kind) {
    case SourceKind::kImage: {
      const bool dir = fs::is_directory(output, ec) || (!output.has_extension());
      if (!dir && !is_image_file(output))
        return R::Error("output " + output.string() +
                        " must be an image file or a folder for an image input");
      return std::unique_ptr<FrameSink>(new ImageSink(output, dir, input.uri, false, options));
    }
    case SourceKind::kFolder:
      if (fs::exists(output, ec) && !fs::is_directory(output, ec))
        return R::Error("output " + output.string() + " must be a folder for a folder input");
      if (is_within(output, input.uri))
        return R::Error("output folder " + output.string() + " is inside the input folder " +
                        input.uri +
                        ": anonymized images would replace or mix with the "
                        "originals; choose a folder outside it");
      fs::create_directories(output, ec);
      if (ec) return R::Error("cannot create folder " + output.string() + ": " + ec.message());
      return std::unique_ptr<FrameSink>(new ImageSink(output, true, input.uri, true, options));
    default:
      if (is_image_file(output) || !output.has_extension())
        return R::Error("output " + output.string() +
                        " must be a video file (.avi, .mp4, .mkv) for a video input");
      if (fs::exists(output, ec) && fs::equivalent(output, input.uri, ec))
        return R::Error("refusing to overwrite the input video " + output.string() +
                        " (choose another output)");
      return std::unique_ptr<FrameSink>(new VideoSink(output, input, options));
  }
}

}  // namespace ev
