// Downloads into a temp file beside the destination, checks size and sha256, then renames:
// a reader of `dest` sees either the old file or the complete new one, never a partial one.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <regex>
#include <vector>

#include "edgevision/models.hpp"
#include "models/detail.hpp"

namespace ev {
namespace fs = std::filesystem;

namespace {

// Errors of one transfer attempt; fetch_file adds the file name and source.
struct TransferError {
  std::string reason;
};

Status write_all(int fd, const char* data, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Status::Error(fmt::format("write error: {}", std::strerror(errno)));
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return Status::Ok();
}

Status copy_to_fd(const fs::path& src, int fd, const ProgressFn& progress) {
  std::ifstream in(src, std::ios::binary);
  if (!in)
    return Status::Error(fmt::format("cannot open {}: {}", src.string(), std::strerror(errno)));
  std::error_code ec;
  const auto total = static_cast<int64_t>(fs::file_size(src, ec));
  std::vector<char> buffer(1 << 20);
  int64_t done = 0;
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const auto n = static_cast<size_t>(in.gcount());
    if (n == 0) break;
    if (Status s = write_all(fd, buffer.data(), n); !s.ok()) return s;
    done += static_cast<int64_t>(n);
    if (progress) progress(done, ec ? 0 : total);
  }
  if (in.bad()) return Status::Error("read error on " + src.string());
  return Status::Ok();
}

// httplib's own names ("Connection", "Read") say little to someone reading a log.
std::string describe(httplib::Error err) {
  switch (err) {
    case httplib::Error::Connection:
      return "cannot connect (connection refused, unknown host or no network)";
    case httplib::Error::ConnectionTimeout:
      return "connection timed out";
    case httplib::Error::Read:
      return "read failed (connection closed or timed out)";
    case httplib::Error::Write:
      return "write failed (connection closed)";
    case httplib::Error::ExceedRedirectCount:
      return "too many redirects";
    case httplib::Error::SSLConnection:
      return "TLS connection failed";
    case httplib::Error::SSLLoadingCerts:
      return "cannot load the system CA certificates";
    case httplib::Error::SSLServerVerification:
      return "TLS certificate verification failed";
    default:
      return "HTTP client error: " + httplib::to_string(err);
  }
}

Status http_get(const std::string& url, int fd, int64_t expected_size, const ProgressFn& progress) {
  static const std::regex kUrl(R"(^(https?://[^/?#]+)([^#]*)(#.*)?$)", std::regex::icase);
  std::smatch m;
  if (!std::regex_match(url, m, kUrl)) return Status::Error("malformed URL");
  const std::string scheme_host_port = m[1].str();
  const std::string path = m[2].length() ? m[2].str() : "/";

  httplib::Client client(scheme_host_port);
  if (!client.is_valid())
    return Status::Error("cannot create an HTTP client for " + scheme_host_port);
  client.set_follow_location(true);
  client.set_connection_timeout(10, 0);
  client.set_read_timeout(30, 0);  // per read: a stalled server fails, a slow one does not
  client.set_write_timeout(30, 0);
  client.set_keep_alive(false);
  client.enable_server_certificate_verification(true);

  std::string abort_reason;
  int64_t content_length = 0;
  int64_t received = 0;
  const httplib::Headers headers{{"User-Agent", "edgevision-models/1"}};
  auto res = client.Get(
      path, headers,
      [&](const httplib::Response& r) {
        if (r.status != 200) {
          abort_reason = fmt::format("HTTP {} {}", r.status, r.reason);
          return false;
        }
        if (r.has_header("Content-Length")) {
          try {
            content_length = std::stoll(r.get_header_value("Content-Length"));
          } catch (const std::exception&) {
            content_length = 0;
          }
        }
        if (expected_size > 0 && content_length > 0 && content_length != expected_size) {
          abort_reason =
              fmt::format("server announces {} bytes, expected {}", content_length, expected_size);
          return false;
        }
        return true;
      },
      [&](const char* data, size_t n) {
        received += static_cast<int64_t>(n);
        // A server that sends more than the manifest's size is wrong; stop before it fills the
        // disk.
        if (expected_size > 0 && received > expected_size) {
          abort_reason = fmt::format("server sent more than the expected {} bytes", expected_size);
          return false;
        }
        if (Status s = write_all(fd, data, n); !s.ok()) {
          abort_reason = s.message();
          return false;
        }
        if (progress) progress(received, content_length > 0 ? content_length : expected_size);
        return true;
      });
  if (!abort_reason.empty()) return Status::Error(abort_reason);
  if (!res) {
    const httplib::Error err = res.error();
    std::string why = describe(err);
    if (err == httplib::Error::Read && content_length > 0)
      why += fmt::format(" (connection closed after {} of {} bytes)", received, content_length);
    return Status::Error(why);
  }
  if (res->status != 200) return Status::Error(fmt::format("HTTP {} {}", res->status, res->reason));
  if (content_length > 0 && received != content_length)
    return Status::Error(
        fmt::format("truncated body: got {} of {} bytes", received, content_length));
  return Status::Ok();
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// Removes the temp file (and temp dir) unless the download was committed.
struct TempGuard {
  std::string file;
  fs::path dir;
  int fd = -1;
  bool committed = false;
  ~TempGuard() {
    if (fd >= 0) ::close(fd);
    if (!committed && !file.empty()) ::unlink(file.c_str());
    if (!dir.empty()) {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  }
};

}  // namespace

Status fetch_file(const std::string& source, const fs::path& dest,
                  const std::string& expected_sha256, int64_t expected_size,
                  const ProgressFn& progress) {
  const std::string name = dest.filename().string();
  auto failed = [&](const std::string& reason) {
    return Status::Error(fmt::format("download failed for {} from {}: {}", name, source, reason));
  };
  try {
    if (name.empty()) return failed("destination has no file name");
    const fs::path dir = dest.has_parent_path() ? dest.parent_path() : fs::path(".");
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return failed(fmt::format("cannot create {}: {}", dir.string(), ec.message()));

    TempGuard temp;
    const std::string tmpl_text = dest.string() + ".partial-XXXXXX";
    std::vector<char> tmpl(tmpl_text.begin(), tmpl_text.end());
    tmpl.push_back('\0');
    temp.fd = ::mkstemp(tmpl.data());
    if (temp.fd < 0)
      return failed(
          fmt::format("cannot create a temp file in {}: {}", dir.string(), std::strerror(errno)));
    temp.file = tmpl.data();
    ::fchmod(temp.fd, 0644);  // mkstemp makes 0600; models are ordinary readable files

    spdlog::info("fetching {} from {}", name, source);
    Status transfer;
    if (source.rfind("https://", 0) == 0 || source.rfind("http://", 0) == 0) {
      transfer = http_get(source, temp.fd, expected_size, progress);
    } else if (source.rfind("file://", 0) == 0) {
      transfer = copy_to_fd(source.substr(7), temp.fd, progress);
    } else if (source.rfind("npm:", 0) == 0) {
      const std::string work_tmpl = (dir / ".npm-XXXXXX").string();
      std::vector<char> wt(work_tmpl.begin(), work_tmpl.end());
      wt.push_back('\0');
      if (!::mkdtemp(wt.data()))
        return failed(
            fmt::format("cannot create a work dir in {}: {}", dir.string(), std::strerror(errno)));
      temp.dir = wt.data();
      auto member = models_detail::npm_fetch_member(source, temp.dir);
      transfer = member ? copy_to_fd(*member, temp.fd, progress) : member.status();
    } else {
      transfer = Status::Error("unsupported source (expected https://, http://, file:// or npm:)");
    }
    if (!transfer.ok()) return failed(transfer.message());

    if (::fsync(temp.fd) != 0) return failed(fmt::format("fsync: {}", std::strerror(errno)));
    ::close(temp.fd);
    temp.fd = -1;

    const auto size = static_cast<int64_t>(fs::file_size(temp.file, ec));
    if (ec) return failed("cannot stat the downloaded file: " + ec.message());
    if (expected_size > 0 && size != expected_size)
      return Status::Error(fmt::format("size mismatch for {} from {}: got {} bytes, expected {}",
                                       name, source, size, expected_size));
    if (!expected_sha256.empty()) {
      auto sha = sha256_file(temp.file);
      if (!sha) return failed(sha.error());
      if (*sha != lower(expected_sha256))
        return Status::Error(fmt::format("sha256 mismatch for {} from {}: got {}, expected {}",
                                         name, source, *sha, lower(expected_sha256)));
    }
    if (::rename(temp.file.c_str(), dest.c_str()) != 0)
      return failed(fmt::format("cannot rename into {}: {}", dest.string(), std::strerror(errno)));
    temp.committed = true;
    spdlog::info("fetched {} ({} bytes) into {}", name, size, dest.string());
    return Status::Ok();
  } catch (const std::exception& e) {
    return failed(e.what());
  }
}

}  // namespace ev
