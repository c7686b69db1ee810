#include "io/mjpeg_writer.hpp"

#include "io/av_util.hpp"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/rational.h>
}

#include "edgevision/jpeg.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

namespace ev {

struct MjpegFileWriter::State {
  std::string path;
  AVFormatContext* out = nullptr;
  AVStream* stream = nullptr;
  AVRational frame_time{1, 25};  // one frame, in seconds
  int quality = 85;
  cv::Size size;
  int64_t frames = 0;
  Status failed;        // the first failed write; later writes repeat it
  bool header = false;  // written: the trailer is due at close
  bool closed = false;
  std::vector<uint8_t> jpeg;

  // `what` failed with `code`: the error every later call returns.
  Status fail(const std::string& what, int code) {
    const bool disk = code == AVERROR(ENOSPC) || code == AVERROR(EDQUOT) || code == AVERROR(EIO);
    failed = Status::Error("only " + std::to_string(frames) + " of " + std::to_string(frames + 1) +
                           " frames could be written to " + path + " (" + what + ": " +
                           av_message(code) + (disk ? "; disk full or write error?" : "") + ")");
    return failed;
  }

  // Closes the file and frees the muxer; the close's error code (0 when fine).
  int release() {
    if (!out) return 0;
    int rc = 0;
    if (out->pb && !(out->oformat->flags & AVFMT_NOFILE)) rc = avio_closep(&out->pb);
    avformat_free_context(out);
    out = nullptr;
    return rc;
  }
};

MjpegFileWriter::MjpegFileWriter(std::unique_ptr<State> state) : state_(std::move(state)) {}

MjpegFileWriter::~MjpegFileWriter() {
  (void)close();
}

Result<std::unique_ptr<MjpegFileWriter>> MjpegFileWriter::open(const std::filesystem::path& path,
                                                               double fps, cv::Size size,
                                                               int quality) {
  using R = Result<std::unique_ptr<MjpegFileWriter>>;
  if (size.width <= 0 || size.height <= 0) return R::Error("MJPEG writer: empty frame size");
  auto s = std::make_unique<State>();
  s->path = path.string();
  s->size = size;
  s->quality = std::clamp(quality, 1, 100);
  // A rate the container can express (a NaN, zero or absurd input rate: 25).
  if (std::isfinite(fps) && fps >= 1e-3 && fps <= 1e5)
    s->frame_time = av_inv_q(av_d2q(fps, 1 << 20));
  const std::string ext = path.extension().string();
  int rc = avformat_alloc_output_context2(&s->out, nullptr, nullptr, s->path.c_str());
  if (rc < 0 || !s->out)
    return R::Error("cannot write MJPEG video " + s->path + ": no container for '" + ext + "'");
  // Its destructor frees the context (and closes the file) on every error below.
  std::unique_ptr<MjpegFileWriter> w(new MjpegFileWriter(std::move(s)));
  State& st = *w->state_;
  // Some containers take the stream but label it as something else (MPEG-TS as private data,
  // MPEG-PS as MPEG video): only those that declare MJPEG support.
  if (avformat_query_codec(st.out->oformat, AV_CODEC_ID_MJPEG, FF_COMPLIANCE_NORMAL) != 1)
    return R::Error("cannot write MJPEG video " + st.path + ": '" + ext +
                    "' files cannot hold MJPEG; use .avi or .mkv (or .mp4 for H.264)");
  st.stream = avformat_new_stream(st.out, nullptr);
  if (!st.stream) return R::Error("cannot write MJPEG video " + st.path + ": no stream");
  AVCodecParameters* par = st.stream->codecpar;
  par->codec_type = AVMEDIA_TYPE_VIDEO;
  par->codec_id = AV_CODEC_ID_MJPEG;
  par->width = size.width;
  par->height = size.height;
  par->format = AV_PIX_FMT_YUVJ420P;  // libjpeg's default 4:2:0 subsampling
  st.stream->time_base = st.frame_time;
  st.stream->avg_frame_rate = av_inv_q(st.frame_time);
  st.stream->r_frame_rate = st.stream->avg_frame_rate;
  if (!(st.out->oformat->flags & AVFMT_NOFILE)) {
    rc = avio_open(&st.out->pb, st.path.c_str(), AVIO_FLAG_WRITE);
    if (rc < 0) return R::Error("cannot open " + st.path + " for writing: " + av_message(rc));
  }
  rc = avformat_write_header(st.out, nullptr);
  if (rc < 0) {
    st.release();
    std::error_code ec;
    std::filesystem::remove(path, ec);  // nothing playable was written
    return R::Error("cannot write the header of " + st.path + ": " + av_message(rc));
  }
  st.header = true;
  return w;
}

Status MjpegFileWriter::write(const cv::Mat& bgr) {
  State& s = *state_;
  if (!s.failed.ok()) return s.failed;
  if (s.closed || !s.out) return Status::Error("MJPEG writer for " + s.path + " is closed");
  if (bgr.size() != s.size || bgr.type() != CV_8UC3)
    return Status::Error("MJPEG writer for " + s.path + ": frame is not " +
                         std::to_string(s.size.width) + "x" + std::to_string(s.size.height) +
                         " BGR");
  if (Status enc = encode_jpeg(bgr, s.quality, s.jpeg); !enc)
    return Status::Error("MJPEG writer for " + s.path + ": " + enc.message());
  std::unique_ptr<AVPacket, PacketFree> pkt(av_packet_alloc());
  if (!pkt || av_new_packet(pkt.get(), static_cast<int>(s.jpeg.size())) < 0)
    return Status::Error("MJPEG writer for " + s.path + ": out of memory");
  std::memcpy(pkt->data, s.jpeg.data(), s.jpeg.size());
  pkt->stream_index = s.stream->index;
  pkt->pts = pkt->dts = s.frames;
  pkt->duration = 1;
  pkt->flags |= AV_PKT_FLAG_KEY;
  av_packet_rescale_ts(pkt.get(), s.frame_time, s.stream->time_base);
  int rc = av_write_frame(s.out, pkt.get());
  if (rc < 0) return s.fail("writing a frame", rc);
  // Flushed per frame (one write() of the frame's bytes, which the buffer would make anyway):
  // a frame counts as written only once the file took it. Muxers that buffer (Matroska's
  // clusters) are asked to flush first.
  if ((s.out->oformat->flags & AVFMT_ALLOW_FLUSH) && (rc = av_write_frame(s.out, nullptr)) < 0)
    return s.fail("writing a frame", rc);
  if (s.out->pb) {
    avio_flush(s.out->pb);
    if (s.out->pb->error < 0) return s.fail("writing a frame", s.out->pb->error);
  }
  ++s.frames;
  return Status::Ok();
}

Status MjpegFileWriter::close() {
  State& s = *state_;
  if (s.closed) return s.failed;
  s.closed = true;
  if (s.failed.ok() && s.out && s.header) {
    const int rc = av_write_trailer(s.out);
    if (s.out->pb) avio_flush(s.out->pb);
    const int io = s.out->pb ? s.out->pb->error : 0;
    if (rc < 0 || io < 0) {
      s.failed = Status::Error("the index of " + s.path + " could not be written (" +
                               av_message(rc < 0 ? rc : io) +
                               "; disk full or write error?): players may not read it");
    }
  }
  const int closed = s.release();
  if (s.failed.ok() && closed < 0)
    s.failed = Status::Error("closing " + s.path + " failed (" + av_message(closed) +
                             "): the last frames may be missing");
  return s.failed;
}

int64_t MjpegFileWriter::frames() const {
  return state_->frames;
}

}  // namespace ev
