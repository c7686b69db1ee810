#include "audio_remux.hpp"

#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <vector>

extern char** environ;

namespace ev::cli {
namespace {
namespace fs = std::filesystem;

std::string find_in_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string p = path && *path ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= p.size()) {
    const size_t end = p.find(':', start);
    const fs::path dir =
        p.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!dir.empty() && ::access((dir / name).c_str(), X_OK) == 0) return (dir / name).string();
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return {};
}

// argv directly, no shell: file names are never interpreted.
int run(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (::posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) return -1;
  int status = 0;
  if (::waitpid(pid, &status, 0) < 0) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

Status remux_audio(const std::string& input, const std::string& output) {
  const std::string ffmpeg = find_in_path("ffmpeg");
  if (ffmpeg.empty())
    return Status::Error("--keep-audio needs the ffmpeg tool (apt install ffmpeg); " + output +
                         " has no audio");
  const fs::path out(output);
  const fs::path tmp = out.parent_path() / (".remux-" + out.filename().string());
  spdlog::info("--keep-audio: adding the audio of {} with {}", input, ffmpeg);
  for (const char* codec : {"copy", "aac"}) {
    const int rc =
        run({ffmpeg, "-nostdin", "-v", "error", "-y", "-i", output, "-i", input, "-map", "0:v:0",
             "-map", "1:a:0?", "-c:v", "copy", "-c:a", codec, "-shortest", tmp.string()});
    if (rc == 0) {
      std::error_code ec;
      fs::rename(tmp, out, ec);
      if (ec) return Status::Error("--keep-audio: " + out.string() + ": " + ec.message());
      return Status::Ok();
    }
    std::error_code ec;
    fs::remove(tmp, ec);
    if (std::string(codec) == "copy")
      spdlog::info("--keep-audio: the audio codec does not fit the container; re-encoding as AAC");
  }
  return Status::Error("--keep-audio: ffmpeg could not add the audio of " + input + " to " +
                       output);
}

}  // namespace ev::cli
