#include "edgevision/jpeg.hpp"

#include <turbojpeg.h>

#include <algorithm>
#include <exception>
#include <memory>
#include <string>

namespace ev {
namespace {

struct HandleFree {
  void operator()(void* h) const {
    if (h) tjDestroy(h);
  }
};
using Handle = std::unique_ptr<void, HandleFree>;

// One per thread: a handle is not thread-safe, and creating one per image costs allocations.
tjhandle compressor() {
  thread_local Handle h(tjInitCompress());
  return h.get();
}

tjhandle decompressor() {
  thread_local Handle h(tjInitDecompress());
  return h.get();
}

// The compressor's output buffer, kept per thread and grown by TurboJPEG when a frame needs
// more: a 720p frame's JPEG is copied out once instead of allocated each time.
struct OutputBuffer {
  unsigned char* data = nullptr;
  unsigned long size = 0;
  ~OutputBuffer() { tjFree(data); }
};

// Output buffers up to this size (a 1080p frame's JPEG) are kept for the thread's next image.
constexpr unsigned long kKeptBuffer = 2ul << 20;
// Decoded images above this are refused before allocating: a corrupt header's 65535 x 65535
// would ask for 12 GB.
constexpr int64_t kMaxDecodePixels = 100'000'000;

std::string tj_message(tjhandle h) {
  const char* m = tjGetErrorStr2(h);
  return m && *m ? m : "unknown TurboJPEG error";
}

// The image's size from its header on this thread's decompressor; `what` starts the messages.
Result<cv::Size> read_header(tjhandle h, const uint8_t* data, size_t size, const char* what) {
  using R = Result<cv::Size>;
  if (!data || size == 0) return R::Error(std::string(what) + ": no data");
  if (!h) return R::Error(std::string(what) + ": TurboJPEG could not start (out of memory?)");
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  // TurboJPEG takes a non-const pointer it does not write through.
  if (tjDecompressHeader3(h, const_cast<unsigned char*>(data), static_cast<unsigned long>(size),
                          &width, &height, &subsampling, &colorspace) != 0)
    return R::Error(std::string(what) + ": " + tj_message(h));
  if (width <= 0 || height <= 0) return R::Error(std::string(what) + ": no image in the data");
  return cv::Size(width, height);
}

}  // namespace

Status encode_jpeg(const cv::Mat& image, int quality, std::vector<uint8_t>& out) {
  if (image.empty() || image.dims != 2) return Status::Error("JPEG encode: empty image");
  if (image.depth() != CV_8U)
    return Status::Error("JPEG encode: 8-bit images only (got depth " +
                         std::to_string(image.depth()) + ")");
  int format = 0, subsampling = TJSAMP_420;
  switch (image.channels()) {
    case 1:
      format = TJPF_GRAY;
      subsampling = TJSAMP_GRAY;
      break;
    case 3:
      format = TJPF_BGR;
      break;
    case 4:
      format = TJPF_BGRX;  // alpha dropped, as imencode does
      break;
    default:
      return Status::Error("JPEG encode: " + std::to_string(image.channels()) +
                           " channels (1, 3 or 4 supported)");
  }
  tjhandle h = compressor();
  if (!h) return Status::Error("JPEG encode: TurboJPEG could not start (out of memory?)");
  thread_local OutputBuffer buffer;
  // The accurate DCT, as cv::imencode uses: TurboJPEG's default fast one loses 0.3 dB at
  // quality 95 for ~3% of the time.
  if (tjCompress2(h, image.data, image.cols, static_cast<int>(image.step[0]), image.rows, format,
                  &buffer.data, &buffer.size, subsampling, std::clamp(quality, 1, 100),
                  TJFLAG_ACCURATEDCT) != 0)
    return Status::Error("JPEG encode: " + tj_message(h));
  try {
    out.assign(buffer.data, buffer.data + buffer.size);
  } catch (const std::exception& e) {
    return Status::Error(std::string("JPEG encode: ") + e.what());
  }
  // A large image's buffer (a REST upload on an HTTP worker) is not kept for the thread's life.
  if (buffer.size > kKeptBuffer) {
    tjFree(buffer.data);
    buffer.data = nullptr;
    buffer.size = 0;
  }
  return Status::Ok();
}

Result<cv::Size> jpeg_size(const uint8_t* data, size_t size) {
  return read_header(decompressor(), data, size, "JPEG header");
}

Result<cv::Mat> decode_jpeg(const uint8_t* data, size_t size, int reduce) {
  using R = Result<cv::Mat>;
  if (reduce != 1 && reduce != 2 && reduce != 4 && reduce != 8)
    return R::Error("JPEG decode: reduce must be 1, 2, 4 or 8 (got " + std::to_string(reduce) +
                    ")");
  tjhandle h = decompressor();
  const Result<cv::Size> header = read_header(h, data, size, "JPEG decode");
  if (!header) return R(header.status());
  const int width = header->width, height = header->height;
  if (static_cast<int64_t>(width) * height > kMaxDecodePixels)
    return R::Error("JPEG decode: " + std::to_string(width) + "x" + std::to_string(height) +
                    " is larger than " + std::to_string(kMaxDecodePixels / 1'000'000) + " Mpx");
  const tjscalingfactor factor{1, reduce};
  const int w = TJSCALED(width, factor), h_out = TJSCALED(height, factor);
  cv::Mat bgr;
  try {
    bgr.create(h_out, w, CV_8UC3);
  } catch (const std::exception& e) {  // cv::Exception on out of memory
    return R::Error(std::string("JPEG decode: ") + e.what());
  }
  // Any libjpeg warning (a truncated file, corrupt entropy data) fails the decode: what it
  // would return is partly grey.
  if (tjDecompress2(h, const_cast<unsigned char*>(data), static_cast<unsigned long>(size), bgr.data,
                    w, static_cast<int>(bgr.step[0]), h_out, TJPF_BGR, TJFLAG_STOPONWARNING) != 0)
    return R::Error("JPEG decode: " + tj_message(h));
  return bgr;
}

int jpeg_reduce_for(cv::Size region, cv::Size wanted) {
  for (int r : {8, 4, 2})
    if (region.width / r >= wanted.width && region.height / r >= wanted.height) return r;
  return 1;
}

}  // namespace ev
