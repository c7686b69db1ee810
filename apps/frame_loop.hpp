// Pieces shared by the CLI commands that walk a source frame by frame (detect, track).
#pragma once

#include <cmath>
#include <memory>
#include <string>

#include <spdlog/spdlog.h>

#include "edgevision/anonymize.hpp"
#include "edgevision/io.hpp"

namespace ev::cli {

enum class NextFrame { kFrame, kCorrupt, kDone };

// Reads one frame. Corrupt frames are logged as warnings (the caller counts them); a failed
// source is logged as an error and sets rc to 1.
inline NextFrame read_next_frame(FrameSource& source, Frame& frame, int& rc) {
  std::string message;
  switch (source.read(frame, message)) {
    case ReadStatus::kFrame:
      return NextFrame::kFrame;
    case ReadStatus::kCorrupt:
      spdlog::warn("{}", message);
      return NextFrame::kCorrupt;
    case ReadStatus::kError:
      spdlog::error("{}", message);
      rc = 1;
      return NextFrame::kDone;
    case ReadStatus::kEnd:
      break;
  }
  return NextFrame::kDone;
}

// `-o` is optional: an empty path gives no sink. Returns false (logged) if it cannot be opened.
inline bool open_optional_sink(const std::string& output, const SourceInfo& info,
                               std::unique_ptr<FrameSink>& sink) {
  if (output.empty()) return true;
  auto s = open_sink(output, info);
  if (!s) {
    spdlog::error("{}", s.error());
    return false;
  }
  sink = std::move(s.value());
  return true;
}

// Closes the optional sink; a video sink reports there what the disk refused. Logged and rc set
// to 1 unless a write error was already (rc != 0).
inline void close_optional_sink(std::unique_ptr<FrameSink>& sink, int& rc) {
  if (!sink) return;
  if (Status closed = sink->close(); !closed && rc == 0) {
    spdlog::error("{}", closed.message());
    rc = 1;
  }
}

// Private by default: when a command writes images (`-o`), faces are anonymized unless the
// user opted out with --no-anonymize, which is logged as a warning. Without an output no image
// leaves the process, so no anonymizer is needed. Returns false (logged) when one is needed
// and no face detector can run: clear faces are never written as a fallback. The caller's
// object detections feed the head fallback (Anonymizer::set_persons).
// `still_photos`: the images are unrelated photos (an image or a folder given to `detect`), which
// get what `anonymize` gives photos: its own person passes (the larger one too, whatever classes
// the caller detects) and the mirrored face pass. Otherwise the caller's detections feed the
// head fallback (set_persons), as in a camera pipeline.
inline bool make_output_anonymizer(bool anonymize, bool writes_images, ModelManager& models,
                                   std::unique_ptr<Anonymizer>& anonymizer,
                                   bool still_photos = false) {
  if (!writes_images) return true;
  if (!anonymize) {
    spdlog::warn("--no-anonymize: output images will show identifiable faces");
    return true;
  }
  AnonymizerOptions options;
  options.head_fallback.own_detector = still_photos;
  if (still_photos) use_still_photo_passes(options);
  auto a = Anonymizer::create(options, models);
  if (!a) {
    spdlog::error(
        "no face detector can run, refusing to write images with clear faces "
        "(--no-anonymize writes them anyway): {}",
        a.error());
    return false;
  }
  anonymizer = std::move(a.value());
  // Photos without their own person passes: the caller's persons feed the head fallback.
  if (still_photos && !anonymizer->head_fallback_note().empty())
    spdlog::warn("{}; the detected persons are used instead", anonymizer->head_fallback_note());
  return true;
}

// Rounds for JSON output: round_to(206.5871, 10) == 206.6. Multiply-then-divide keeps the
// nearest double to the decimal (206.6, not 206.60000000000002).
inline double round_to(double v, double scale) {
  return std::round(v * scale) / scale;
}

// A run that read nothing at all is an error even if no single step failed.
inline int final_exit_code(int64_t frames, int rc, const std::string& input) {
  if (frames == 0 && rc == 0) {
    spdlog::error("{}: no frame could be read", input);
    return 1;
  }
  return rc;
}

}  // namespace ev::cli
