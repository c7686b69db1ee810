// Small libav helpers shared by the MJPEG decoder and writer.
#pragma once

extern "C" {
#include <libavcodec/packet.h>
#include <libavutil/error.h>
}

#include <string>

namespace ev {

inline std::string av_message(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, buf, sizeof buf);
  return buf;
}

struct PacketFree {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};

}  // namespace ev
