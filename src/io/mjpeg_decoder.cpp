#include "io/mjpeg_decoder.hpp"

#include "io/av_util.hpp"

#include <spdlog/spdlog.h>

#include "edgevision/jpeg.hpp"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <libswscale/swscale.h>
}

#include <opencv2/videoio.hpp>

#include <string>

namespace ev {

namespace {

struct CodecContextFree {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct FrameFree {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct SwsFree {
  void operator()(SwsContext* s) const { sws_freeContext(s); }
};

// The JPEG ("full range") variants are deprecated in swscale: convert as the plain format
// with the range set explicitly, as FFmpeg itself asks.
AVPixelFormat unjpeg(AVPixelFormat f, bool& full_range) {
  full_range = true;
  switch (f) {
    case AV_PIX_FMT_YUVJ420P:
      return AV_PIX_FMT_YUV420P;
    case AV_PIX_FMT_YUVJ422P:
      return AV_PIX_FMT_YUV422P;
    case AV_PIX_FMT_YUVJ444P:
      return AV_PIX_FMT_YUV444P;
    case AV_PIX_FMT_YUVJ440P:
      return AV_PIX_FMT_YUV440P;
    case AV_PIX_FMT_YUVJ411P:
      return AV_PIX_FMT_YUV411P;
    default:
      full_range = false;
      return f;
  }
}

// A start-of-image marker after the first: entropy-coded data cannot hold one (0xFF is
// stuffed there), so it starts another JPEG (a second field, or an EXIF thumbnail).
bool holds_second_image(const uint8_t* data, size_t size) {
  for (size_t i = 2; i + 1 < size; ++i)
    if (data[i] == 0xFF && data[i + 1] == 0xD8) return true;
  return false;
}

constexpr int kTurboRefusals = 8;

}  // namespace

struct MjpegDecoder::State {
  std::unique_ptr<AVCodecContext, CodecContextFree> codec;
  std::unique_ptr<AVFrame, FrameFree> frame;
  std::unique_ptr<AVPacket, PacketFree> packet;
  std::unique_ptr<SwsContext, SwsFree> sws;
  int sws_width = 0, sws_height = 0, sws_format = -1;
  // TurboJPEG first (15% faster than libavcodec + swscale on 720p); a packet it refuses
  // (a libjpeg warning, an odd colour space) goes to libavcodec, which conceals
  // damage as before. A camera whose packets it keeps refusing is left to libavcodec.
  bool turbo = true;
  int turbo_refusals = 0;
  int64_t fallbacks = 0;
};

MjpegDecoder::MjpegDecoder(std::unique_ptr<State> state) : state_(std::move(state)) {}
MjpegDecoder::~MjpegDecoder() = default;

Result<std::unique_ptr<MjpegDecoder>> MjpegDecoder::create() {
  using R = Result<std::unique_ptr<MjpegDecoder>>;
  const AVCodec* codec = avcodec_find_decoder(AV_CODEC_ID_MJPEG);
  if (!codec) return R::Error("libavcodec has no MJPEG decoder");
  auto st = std::make_unique<State>();
  st->codec.reset(avcodec_alloc_context3(codec));
  st->frame.reset(av_frame_alloc());
  st->packet.reset(av_packet_alloc());
  if (!st->codec || !st->frame || !st->packet)
    return R::Error("out of memory for the MJPEG decoder");
  // One thread: decoding runs on the camera's reader thread, inside the box's thread budget.
  st->codec->thread_count = 1;
  if (const int rc = avcodec_open2(st->codec.get(), codec, nullptr); rc < 0)
    return R::Error("cannot open the MJPEG decoder: " + av_message(rc));
  return std::unique_ptr<MjpegDecoder>(new MjpegDecoder(std::move(st)));
}

Status MjpegDecoder::decode(const cv::Mat& packet, cv::Mat& bgr) {
  State& s = *state_;
  if (packet.empty() || !packet.isContinuous() || packet.depth() != CV_8U)
    return Status::Error("empty or malformed MJPEG packet");
  const size_t bytes = packet.total() * packet.elemSize();
  // A second image in the packet (interlaced capture cards send the two fields as two JPEGs)
  // is libavcodec's: TurboJPEG would return the first field alone, libavcodec joins them.
  if (s.turbo) {
    if (!holds_second_image(packet.ptr<uint8_t>(), bytes)) {
      Result<cv::Mat> fast = decode_jpeg(packet.ptr<uint8_t>(), bytes);
      if (fast) {
        s.turbo_refusals = 0;
        bgr = std::move(*fast);
        return Status::Ok();
      }
      if (++s.turbo_refusals >= kTurboRefusals) {
        s.turbo = false;
        spdlog::info("mjpeg: {} packets in a row refused by TurboJPEG ({}); libavcodec only",
                     s.turbo_refusals, fast.error());
      }
    }
    ++s.fallbacks;
  }
  AVPacket* pkt = s.packet.get();
  av_packet_unref(pkt);
  pkt->data = const_cast<uint8_t*>(packet.ptr<uint8_t>());
  pkt->size = static_cast<int>(bytes);
  int rc = avcodec_send_packet(s.codec.get(), pkt);
  pkt->data = nullptr;
  pkt->size = 0;
  if (rc < 0) return Status::Error("undecodable JPEG packet: " + av_message(rc));
  rc = avcodec_receive_frame(s.codec.get(), s.frame.get());
  if (rc < 0) return Status::Error("undecodable JPEG packet: " + av_message(rc));
  const AVFrame* f = s.frame.get();
  if (f->width <= 0 || f->height <= 0) return Status::Error("JPEG packet without an image");
  bool full_range = false;
  const AVPixelFormat src_format = unjpeg(static_cast<AVPixelFormat>(f->format), full_range);
  if (!s.sws || s.sws_width != f->width || s.sws_height != f->height || s.sws_format != f->format) {
    s.sws.reset(sws_getContext(f->width, f->height, src_format, f->width, f->height,
                               AV_PIX_FMT_BGR24, SWS_BILINEAR, nullptr, nullptr, nullptr));
    if (!s.sws) return Status::Error("no colour conversion from this JPEG's pixel format");
    const int* coefficients = sws_getCoefficients(SWS_CS_DEFAULT);
    sws_setColorspaceDetails(s.sws.get(), coefficients, full_range ? 1 : 0, coefficients, 1, 0,
                             1 << 16, 1 << 16);
    s.sws_width = f->width;
    s.sws_height = f->height;
    s.sws_format = f->format;
  }
  // swscale's SIMD paths may write a little past the end of the last row: one spare row.
  cv::Mat out = cv::Mat(f->height + 1, f->width, CV_8UC3).rowRange(0, f->height);
  uint8_t* dst[4] = {out.data, nullptr, nullptr, nullptr};
  int dst_stride[4] = {static_cast<int>(out.step[0]), 0, 0, 0};
  sws_scale(s.sws.get(), f->data, f->linesize, 0, f->height, dst, dst_stride);
  av_frame_unref(s.frame.get());
  bgr = out;
  return Status::Ok();
}

int64_t MjpegDecoder::fallbacks() const {
  return state_->fallbacks;
}

bool is_live_mjpeg_fourcc(int fourcc) {
  return fourcc == cv::VideoWriter::fourcc('m', 'j', 'p', 'e');
}

}  // namespace ev
