// Pieces of the REST server that are pure functions, kept apart so tests can reach them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "edgevision/status.hpp"

namespace ev::server_internal {

enum class ImageFormat { kJpeg, kPng };

struct ImageProbe {
  ImageFormat format = ImageFormat::kJpeg;
  int width = 0;
  int height = 0;
};

// Reads the format and dimensions from the header bytes without decoding, so a small body
// that declares a huge image (decompression bomb) is refused before any pixel is allocated.
// Errors say what is wrong (not an image, truncated, no size).
Result<ImageProbe> probe_image(std::string_view bytes);

// Constant-time (in the secret's content) comparison of a presented token with the expected one.
bool token_equals(std::string_view presented, std::string_view expected);

// The file under `root` that an URL path names, or nullopt when the path is not acceptable
// (traversal, hidden files, not a regular file, outside root after resolving links).
std::optional<std::filesystem::path> resolve_static_path(const std::filesystem::path& root,
                                                         const std::string& url_path);
const char* content_type_for(const std::filesystem::path& file);

// Resident set size of this process in bytes (0 if unknown).
int64_t process_rss_bytes();

}  // namespace ev::server_internal
