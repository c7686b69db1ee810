// File hashing with OpenSSL EVP, streamed so multi-GB models never sit in memory.
#include <fmt/format.h>
#include <openssl/evp.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include "edgevision/models.hpp"
#include "models/detail.hpp"

namespace ev {
namespace fs = std::filesystem;

Result<std::string> sha256_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Result<std::string>::Error(
        fmt::format("cannot open {} for hashing: {}", path.string(), std::strerror(errno)));
  }
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
    return Result<std::string>::Error("OpenSSL: cannot initialise sha256");
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const std::streamsize n = in.gcount();
    if (n > 0 && EVP_DigestUpdate(ctx.get(), buffer.data(), static_cast<size_t>(n)) != 1)
      return Result<std::string>::Error("OpenSSL: sha256 update failed");
  }
  if (in.bad()) return Result<std::string>::Error("read error while hashing " + path.string());
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx.get(), digest, &len) != 1)
    return Result<std::string>::Error("OpenSSL: sha256 final failed");
  std::string hex;
  hex.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

namespace models_detail {

Result<std::string> sha256_file_cached(const fs::path& path) {
  // Keyed by (path, mtime, size): a file rewritten in place gets a new mtime, so a stale
  // entry is never served; hashing a 100 MB model on every resolve() would not be cheap.
  using Key = std::tuple<std::string, fs::file_time_type::rep, uintmax_t>;
  static std::mutex mutex;
  static std::map<Key, std::string> memo;

  std::error_code ec;
  const fs::path abs = fs::absolute(path, ec);
  const auto mtime = fs::last_write_time(path, ec);
  if (ec)
    return Result<std::string>::Error(
        fmt::format("cannot stat {}: {}", path.string(), ec.message()));
  const uintmax_t size = fs::file_size(path, ec);
  if (ec)
    return Result<std::string>::Error(
        fmt::format("cannot stat {}: {}", path.string(), ec.message()));
  const Key key{abs.lexically_normal().string(), mtime.time_since_epoch().count(), size};
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (auto it = memo.find(key); it != memo.end()) return it->second;
  }
  auto hash = sha256_file(path);
  if (!hash) return hash;
  std::lock_guard<std::mutex> lock(mutex);
  memo[key] = *hash;
  return hash;
}

}  // namespace models_detail
}  // namespace ev
