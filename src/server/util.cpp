// Header probing, token comparison, static path resolution and RSS for the REST server.
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "server/server_internal.hpp"

namespace ev::server_internal {
namespace fs = std::filesystem;

namespace {

uint8_t byte_at(std::string_view s, size_t i) {
  return static_cast<uint8_t>(s[i]);
}

Result<ImageProbe> probe_png(std::string_view b) {
  // Signature (8) + IHDR length (4) + "IHDR" (4) + width (4) + height (4).
  if (b.size() < 24 || b.substr(12, 4) != "IHDR")
    return Result<ImageProbe>::Error("PNG header is truncated or has no IHDR chunk");
  auto be32 = [&](size_t i) {
    return (uint32_t{byte_at(b, i)} << 24) | (uint32_t{byte_at(b, i + 1)} << 16) |
           (uint32_t{byte_at(b, i + 2)} << 8) | uint32_t{byte_at(b, i + 3)};
  };
  const uint32_t w = be32(16), h = be32(20);
  if (w == 0 || h == 0 || w > 0x7fffffffu || h > 0x7fffffffu)
    return Result<ImageProbe>::Error("PNG declares an invalid size");
  // Every PNG ends with an IEND chunk; its absence means the upload was cut short.
  const size_t tail = std::min<size_t>(b.size(), 64);
  if (b.substr(b.size() - tail).find("IEND") == std::string_view::npos)
    return Result<ImageProbe>::Error("PNG is truncated (no IEND chunk)");
  return ImageProbe{ImageFormat::kPng, static_cast<int>(w), static_cast<int>(h)};
}

Result<ImageProbe> probe_jpeg(std::string_view b) {
  ImageProbe probe;
  bool have_size = false;
  size_t i = 2;
  // Walk the marker segments up to the first frame header (SOFn), which holds the size.
  while (i + 4 <= b.size() && !have_size) {
    if (byte_at(b, i) != 0xFF) return Result<ImageProbe>::Error("JPEG marker structure is corrupt");
    const uint8_t marker = byte_at(b, i + 1);
    if (marker == 0xFF) {  // fill byte
      ++i;
      continue;
    }
    if (marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0x01) {
      i += 2;
      continue;
    }
    const size_t len = (size_t{byte_at(b, i + 2)} << 8) | byte_at(b, i + 3);
    if (len < 2 || i + 2 + len > b.size()) return Result<ImageProbe>::Error("JPEG is truncated");
    const bool sof =
        marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (sof) {
      if (len < 7) return Result<ImageProbe>::Error("JPEG frame header is too short");
      probe.height = (byte_at(b, i + 5) << 8) | byte_at(b, i + 6);
      probe.width = (byte_at(b, i + 7) << 8) | byte_at(b, i + 8);
      have_size = true;
    }
    if (marker == 0xDA) break;  // scan data follows; no frame header seen
    i += 2 + len;
  }
  if (!have_size) return Result<ImageProbe>::Error("JPEG has no frame header (truncated?)");
  if (probe.width == 0 || probe.height == 0)
    return Result<ImageProbe>::Error("JPEG declares an empty size");
  // libjpeg "decodes" a truncated file into a grey-filled image; the end-of-image marker is the
  // only cheap way to tell a complete upload. Some writers append a few padding bytes after it.
  const size_t tail = std::min<size_t>(b.size(), 64);
  if (b.substr(b.size() - tail).find("\xFF\xD9") == std::string_view::npos)
    return Result<ImageProbe>::Error("JPEG is truncated (no end-of-image marker)");
  return probe;
}

}  // namespace

Result<ImageProbe> probe_image(std::string_view bytes) {
  if (bytes.empty()) return Result<ImageProbe>::Error("empty body");
  if (bytes.size() >= 3 && byte_at(bytes, 0) == 0xFF && byte_at(bytes, 1) == 0xD8 &&
      byte_at(bytes, 2) == 0xFF)
    return probe_jpeg(bytes);
  if (bytes.size() >= 8 && bytes.substr(0, 8) == std::string_view("\x89PNG\r\n\x1a\n", 8))
    return probe_png(bytes);
  return Result<ImageProbe>::Error("body is not a JPEG or PNG image");
}

bool token_equals(std::string_view presented, std::string_view expected) {
  // Hashing first makes the comparison length-independent; CRYPTO_memcmp does not exit early.
  unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(presented.data()), presented.size(), a);
  SHA256(reinterpret_cast<const unsigned char*>(expected.data()), expected.size(), b);
  return CRYPTO_memcmp(a, b, sizeof a) == 0 && !expected.empty();
}

std::optional<fs::path> resolve_static_path(const fs::path& root, const std::string& url_path) {
  if (url_path.empty() || url_path.front() != '/') return std::nullopt;
  std::string rel = url_path.substr(1);
  if (rel.empty()) rel = "index.html";
  if (rel.size() > 256) return std::nullopt;
  // Refuse rather than normalise: a legitimate dashboard URL never needs any of these.
  if (rel.find('\\') != std::string::npos || rel.find('\0') != std::string::npos ||
      rel.find("//") != std::string::npos || rel.back() == '/')
    return std::nullopt;
  size_t start = 0;
  while (start <= rel.size()) {
    const size_t end = std::min(rel.find('/', start), rel.size());
    const std::string_view seg(rel.data() + start, end - start);
    if (seg.empty() || seg.front() == '.') return std::nullopt;  // "..", ".git", ".env"
    start = end + 1;
  }
  std::error_code ec;
  const fs::path canon_root = fs::canonical(root, ec);
  if (ec) return std::nullopt;
  const fs::path file = fs::canonical(canon_root / rel, ec);
  if (ec || !fs::is_regular_file(file, ec)) return std::nullopt;
  // A symlink inside the web dir must not lead out of it.
  const auto [root_end, _] = std::mismatch(canon_root.begin(), canon_root.end(), file.begin());
  if (root_end != canon_root.end()) return std::nullopt;
  return file;
}

const char* content_type_for(const fs::path& file) {
  const std::string ext = file.extension().string();
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".json") return "application/json";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".jpg" || ext == ".jpeg") return "image/jpeg";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".txt") return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

int64_t process_rss_bytes() {
  std::ifstream in("/proc/self/statm");
  int64_t pages_total = 0, pages_resident = 0;
  if (!(in >> pages_total >> pages_resident)) return 0;
  return pages_resident * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace ev::server_internal
