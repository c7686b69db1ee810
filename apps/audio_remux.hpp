// `--keep-audio`: the anonymized video gets the input's audio track back by remuxing with the
// ffmpeg command-line tool (Debian package `ffmpeg`); OpenCV writes video only.
#pragma once

#include <string>

#include "edgevision/status.hpp"

namespace ev::cli {
// Replaces `output` by a copy with `input`'s first audio track (stream-copied, else AAC).
// Inputs without audio leave `output` as it is. Errors when ffmpeg is missing or fails.
Status remux_audio(const std::string& input, const std::string& output);
}  // namespace ev::cli
