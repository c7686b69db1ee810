#include "edgevision/config_edit.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "edgevision/config.hpp"

namespace ev {
namespace fs = std::filesystem;
using nlohmann::json;

bool config_file_writable(const fs::path& file) {
  const fs::path dir = file.has_parent_path() ? file.parent_path() : fs::path(".");
  return ::access(file.c_str(), W_OK) == 0 && ::access(dir.c_str(), W_OK) == 0;
}

namespace {

// [[x, y], ...] as a flow sequence, the way the docs write points.
Result<YAML::Node> points_node(const json& points, const std::string& what) {
  if (!points.is_array()) return Result<YAML::Node>::Error(what + ": expected [[x, y], ...]");
  YAML::Node list(YAML::NodeType::Sequence);
  list.SetStyle(YAML::EmitterStyle::Flow);
  for (const auto& p : points) {
    if (!p.is_array() || p.size() != 2 || !p[0].is_number() || !p[1].is_number())
      return Result<YAML::Node>::Error(what + ": every point is [x, y]");
    YAML::Node xy(YAML::NodeType::Sequence);
    xy.SetStyle(YAML::EmitterStyle::Flow);
    // Whole pixels are what the editor produces; keep one decimal for anything finer.
    for (int i = 0; i < 2; ++i) xy.push_back(std::round(p[i].get<double>() * 10) / 10);
    list.push_back(xy);
  }
  return list;
}

// One of zones/lines: entries named in `edited` keep their other keys from `old`.
Result<YAML::Node> merge_list(const YAML::Node& old, const json& edited, const char* key,
                              const char* points_key) {
  YAML::Node out(YAML::NodeType::Sequence);
  if (!edited.is_array()) return Result<YAML::Node>::Error(std::string(key) + " must be a list");
  for (const auto& item : edited) {
    if (!item.is_object() || !item.contains("name") || !item["name"].is_string())
      return Result<YAML::Node>::Error(std::string(key) + ": every entry needs a name");
    const std::string name = item["name"].get<std::string>();
    YAML::Node entry(YAML::NodeType::Map);
    if (old && old.IsSequence()) {
      for (size_t i = 0; i < old.size(); ++i) {
        const YAML::Node o = old[i];
        if (o.IsMap() && o["name"] && o["name"].IsScalar() && o["name"].as<std::string>() == name)
          entry = YAML::Clone(o);
      }
    }
    entry["name"] = name;
    auto pts = points_node(item.contains(points_key) ? item[points_key] : json(),
                           std::string(key) + " '" + name + "'." + points_key);
    if (!pts) return pts;
    entry[points_key] = *pts;
    out.push_back(entry);
  }
  return out;
}

}  // namespace

Result<std::string> set_camera_scene_yaml(const std::string& yaml_text,
                                          const std::string& camera_id, const json& scene) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return Result<std::string>::Error(std::string("config is not valid YAML: ") + e.what());
  }
  if (!root.IsMap() || !root["cameras"] || !root["cameras"].IsSequence())
    return Result<std::string>::Error("config has no cameras list");
  YAML::Node camera;
  YAML::Node cameras = root["cameras"];
  for (size_t i = 0; i < cameras.size(); ++i) {
    YAML::Node c = cameras[i];
    if (c.IsMap() && c["id"] && c["id"].IsScalar() && c["id"].as<std::string>() == camera_id)
      camera.reset(c);
  }
  if (!camera) return Result<std::string>::Error("camera '" + camera_id + "' is not in the config");
  auto zones = merge_list(camera["zones"], scene.value("zones", json::array()), "zones", "polygon");
  if (!zones) return Result<std::string>::Error(zones.error());
  auto lines = merge_list(camera["lines"], scene.value("lines", json::array()), "lines", "points");
  if (!lines) return Result<std::string>::Error(lines.error());
  if (zones->size() > 0)
    camera["zones"] = *zones;
  else
    camera.remove("zones");
  if (lines->size() > 0)
    camera["lines"] = *lines;
  else
    camera.remove("lines");
  YAML::Emitter out;
  out << root;
  if (!out.good()) return Result<std::string>::Error("could not write YAML: " + out.GetLastError());
  return std::string(out.c_str()) + "\n";
}

Status save_camera_scene(const fs::path& file, const std::string& camera_id, const json& scene) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return Status::Error("cannot read " + file.string());
  std::ostringstream text;
  text << in.rdbuf();
  auto edited = set_camera_scene_yaml(text.str(), camera_id, scene);
  if (!edited) return Status::Error(edited.error());
  const fs::path dir = file.has_parent_path() ? file.parent_path() : fs::path(".");
  if (auto check = parse_config(*edited, file.string(), dir); !check)
    return Status::Error("the edited config is invalid: " + check.error());

  struct stat st {};
  const mode_t mode = ::stat(file.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0640;
  // GCC 12 warns (-Wrestrict, a false positive) on "." + std::string&&; append instead.
  std::string tmp_name(1, '.');
  tmp_name.append(file.filename().string()).append(".tmp-").append(std::to_string(::getpid()));
  const fs::path tmp = dir / tmp_name;
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Status::Error("cannot write " + tmp.string() + ": " + std::strerror(errno));
  const std::string& data = *edited;
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  const int write_errno = errno;
  const bool ok = done == data.size() && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), file.c_str()) != 0) {
    const std::string why = std::strerror(ok ? errno : write_errno);
    ::unlink(tmp.c_str());
    return Status::Error("cannot replace " + file.string() + ": " + why);
  }
  // The rename itself is durable once the folder is synced.
  if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::Ok();
}

}  // namespace ev
