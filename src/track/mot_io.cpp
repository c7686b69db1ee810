#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "edgevision/track.hpp"

namespace ev {

std::string format_mot_line(const MotRecord& r) {
  return fmt::format("{},{},{:.2f},{:.2f},{:.2f},{:.2f},{:.4f},-1,-1,-1", r.frame, r.id, r.box.x,
                     r.box.y, r.box.width, r.box.height, r.conf);
}

Status write_mot_file(const std::filesystem::path& path, const std::vector<MotRecord>& records) {
  std::ofstream f(path);
  if (!f) return Status::Error(fmt::format("cannot write {}", path.string()));
  for (const auto& r : records) f << format_mot_line(r) << '\n';
  f.flush();
  if (!f) return Status::Error(fmt::format("write failed: {}", path.string()));
  return Status::Ok();
}

Result<std::vector<MotRecord>> parse_mot_text(const std::string& text, const std::string& origin) {
  std::vector<MotRecord> out;
  std::istringstream in(text);
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    for (char& c : line) {
      if (c == ',' || c == '\t' || c == '\r') c = ' ';
    }
    const auto first = line.find_first_not_of(' ');
    if (first == std::string::npos || line[first] == '#') continue;
    std::istringstream fields(line);
    std::vector<double> v;
    std::string tok;
    while (fields >> tok) {
      char* end = nullptr;
      const double x = std::strtod(tok.c_str(), &end);
      if (end != tok.c_str() + tok.size() || !std::isfinite(x))
        return Result<std::vector<MotRecord>>::Error(
            fmt::format("{}:{}: not a number: '{}'", origin, lineno, tok));
      v.push_back(x);
    }
    if (v.size() < 6)
      return Result<std::vector<MotRecord>>::Error(fmt::format(
          "{}:{}: expected >= 6 fields (frame,id,x,y,w,h), got {}", origin, lineno, v.size()));
    MotRecord r;
    r.frame = static_cast<int>(v[0]);
    r.id = static_cast<int64_t>(v[1]);
    r.box = cv::Rect2f(static_cast<float>(v[2]), static_cast<float>(v[3]), static_cast<float>(v[4]),
                       static_cast<float>(v[5]));
    r.conf = v.size() > 6 ? static_cast<float>(v[6]) : 1.f;
    out.push_back(r);
  }
  return out;
}

Result<std::vector<MotRecord>> read_mot_file(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f)
    return Result<std::vector<MotRecord>>::Error(fmt::format("cannot read {}", path.string()));
  std::ostringstream ss;
  ss << f.rdbuf();
  return parse_mot_text(ss.str(), path.string());
}

}  // namespace ev
