// The one place where the YAML configuration is read and validated. yaml-cpp throws; every
// exception stays inside this file and becomes an error value naming file:line, key and what
// was expected.
#include "edgevision/config.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <yaml-cpp/yaml.h>

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <regex>
#include <set>
#include <sstream>

namespace ev {
namespace {

namespace fs = std::filesystem;

// Thrown only inside this file; converted to Result at the public boundary.
struct ConfigError {
  std::string message;
};

class Reader {
 public:
  Reader(std::string origin, fs::path base) : origin_(std::move(origin)), base_(std::move(base)) {}

  [[noreturn]] void fail(const YAML::Node& node, const std::string& key,
                         const std::string& what) const {
    std::ostringstream os;
    os << origin_;
    if (node.IsDefined() && node.Mark().line >= 0) {
      os << ":" << node.Mark().line + 1 << ":" << node.Mark().column + 1;
    }
    os << ": " << (key.empty() ? std::string("(top level)") : "key '" + key + "'") << ": " << what;
    throw ConfigError{os.str()};
  }

  // Unknown keys are errors: a typo must not silently fall back to a default.
  void check_map(const YAML::Node& node, const std::string& key,
                 const std::set<std::string>& allowed) const {
    if (!node.IsMap()) fail(node, key, "expected a mapping");
    for (const auto& kv : node) {
      const std::string name = kv.first.as<std::string>();
      if (!allowed.count(name)) {
        std::string list;
        for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
        fail(kv.first, join(key, name), "unknown key (expected one of: " + list + ")");
      }
    }
  }

  static std::string join(const std::string& parent, const std::string& name) {
    return parent.empty() ? name : parent + "." + name;
  }

  std::string scalar(const YAML::Node& node, const std::string& key, const char* expected) const {
    if (!node.IsScalar()) fail(node, key, std::string("expected ") + expected);
    return node.Scalar();
  }

  void get(const YAML::Node& map, const std::string& parent, const std::string& name,
           std::string& out) const {
    const YAML::Node n = map[name];
    if (!n) return;
    out = scalar(n, join(parent, name), "a string");
  }

  void get(const YAML::Node& map, const std::string& parent, const std::string& name,
           bool& out) const {
    const YAML::Node n = map[name];
    if (!n) return;
    const std::string key = join(parent, name);
    const std::string s = scalar(n, key, "true or false");
    if (s == "true" || s == "yes" || s == "on") {
      out = true;
    } else if (s == "false" || s == "no" || s == "off") {
      out = false;
    } else {
      fail(n, key, "expected true or false, got '" + s + "'");
    }
  }

  template <typename T>
  void get_number(const YAML::Node& map, const std::string& parent, const std::string& name, T& out,
                  double lo, double hi) const {
    const YAML::Node n = map[name];
    if (!n) return;
    const std::string key = join(parent, name);
    const std::string s = scalar(n, key, "a number");
    double v = 0;
    try {
      size_t used = 0;
      v = std::stod(s, &used);
      if (used != s.size()) throw std::invalid_argument(s);
    } catch (const std::exception&) {
      fail(n, key, "expected a number, got '" + s + "'");
    }
    // std::stod reads "nan" and "inf"; NaN passes every range comparison and would silently
    // disable whatever it configures.
    if (!std::isfinite(v)) fail(n, key, "expected a finite number, got '" + s + "'");
    if (v < lo || v > hi) {
      std::ostringstream os;
      os << "expected a number in [" << lo << ", " << hi << "], got " << s;
      fail(n, key, os.str());
    }
    if constexpr (std::is_integral_v<T>) {
      if (v != std::trunc(v)) fail(n, key, "expected an integer, got '" + s + "'");
    }
    out = static_cast<T>(v);
  }

  // Sizes accept plain bytes or a KiB/MiB/GiB suffix ("64MiB").
  void get_bytes(const YAML::Node& map, const std::string& parent, const std::string& name,
                 uint64_t& out, uint64_t lo) const {
    const YAML::Node n = map[name];
    if (!n) return;
    const std::string key = join(parent, name);
    const std::string s = scalar(n, key, "a size in bytes");
    static const std::regex re(R"(^\s*([0-9]+)\s*(|B|KiB|MiB|GiB|KB|MB|GB|k|M|G)\s*$)");
    std::smatch m;
    if (!std::regex_match(s, m, re)) {
      fail(n, key, "expected a size such as 1048576, 512KiB, 64MiB or 1GiB, got '" + s + "'");
    }
    const std::string unit = m[2].str();
    uint64_t scale = 1;
    if (unit == "KiB" || unit == "k") scale = 1ull << 10;
    if (unit == "KB") scale = 1000;
    if (unit == "MiB" || unit == "M") scale = 1ull << 20;
    if (unit == "MB") scale = 1000 * 1000;
    if (unit == "GiB" || unit == "G") scale = 1ull << 30;
    if (unit == "GB") scale = 1000ull * 1000 * 1000;
    // Shifting silently wrapped: 17179869185GiB used to become 1 GiB.
    constexpr uint64_t kMax = uint64_t{1} << 50;  // 1 PiB: far beyond any sane size
    uint64_t v = 0;
    try {
      v = std::stoull(m[1].str());
    } catch (const std::exception&) {
      fail(n, key, "size '" + s + "' is too large");
    }
    if (v > kMax / scale) fail(n, key, "size '" + s + "' is too large (at most 1 PiB)");
    v *= scale;
    if (v < lo) fail(n, key, "expected at least " + std::to_string(lo) + " bytes, got '" + s + "'");
    out = v;
  }

  void get_enum(const YAML::Node& map, const std::string& parent, const std::string& name,
                std::string& out, const std::vector<std::string>& allowed) const {
    const YAML::Node n = map[name];
    if (!n) return;
    const std::string key = join(parent, name);
    const std::string s = scalar(n, key, "a string");
    if (std::find(allowed.begin(), allowed.end(), s) == allowed.end()) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      fail(n, key, "expected one of " + list + ", got '" + s + "'");
    }
    out = s;
  }

  void get_path(const YAML::Node& map, const std::string& parent, const std::string& name,
                fs::path& out) const {
    std::string s;
    get(map, parent, name, s);
    if (!s.empty()) out = resolve(s);
  }

  fs::path resolve(const std::string& s) const {
    fs::path p(s);
    if (p.is_relative() && !base_.empty()) p = base_ / p;
    return p.lexically_normal();
  }

  std::vector<std::string> string_list(const YAML::Node& map, const std::string& parent,
                                       const std::string& name) const {
    std::vector<std::string> out;
    const YAML::Node n = map[name];
    if (!n) return out;
    const std::string key = join(parent, name);
    if (!n.IsSequence()) fail(n, key, "expected a list of strings");
    for (size_t i = 0; i < n.size(); ++i) {
      out.push_back(scalar(n[i], key + "[" + std::to_string(i) + "]", "a string"));
    }
    return out;
  }

  const fs::path& base() const { return base_; }

 private:
  std::string origin_;
  fs::path base_;
};

bool valid_id(const std::string& id) {
  static const std::regex re("^[A-Za-z0-9_-]{1,64}$");
  return std::regex_match(id, re);
}

// Decided on the parsed address, never on a prefix: "127.evil.example" is a host name.
bool is_loopback(const std::string& host) {
  if (host == "localhost") return true;
  std::string h = host;
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  in_addr v4{};
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

// yaml-cpp keeps the first of two equal keys and drops the second without a word; a config
// with `conf: 0.9` twice must not silently keep either.
void check_duplicate_keys(const Reader& r, const YAML::Node& node, const std::string& key) {
  if (node.IsMap()) {
    std::set<std::string> seen;
    for (const auto& kv : node) {
      const std::string name = kv.first.IsScalar() ? kv.first.Scalar() : std::string("?");
      const std::string child = Reader::join(key, name);
      if (kv.first.IsScalar() && !seen.insert(name).second)
        r.fail(kv.first, child, "duplicate key (each key may appear once)");
      check_duplicate_keys(r, kv.second, child);
    }
  } else if (node.IsSequence()) {
    for (size_t i = 0; i < node.size(); ++i)
      check_duplicate_keys(r, node[i], key + "[" + std::to_string(i) + "]");
  }
}

void read_spool(const Reader& r, const YAML::Node& sink, const std::string& key,
                SpoolConfig& spool) {
  const YAML::Node n = sink["spool"];
  if (!n) return;
  const std::string k = key + ".spool";
  r.check_map(n, k, {"dir", "max_bytes"});
  r.get_path(n, k, "dir", spool.dir);
  r.get_bytes(n, k, "max_bytes", spool.max_bytes, 64 * 1024);
}

// Password from the environment or a file (so it need not sit in the YAML), TLS, stats and
// Home Assistant discovery.
void read_mqtt_extras(const Reader& r, const YAML::Node& m, const std::string& mk, MqttConfig& q) {
  r.get(m, mk, "password_env", q.password_env);
  r.get_path(m, mk, "password_file", q.password_file);
  const int sources = !q.password.empty() + !q.password_env.empty() + !q.password_file.empty();
  if (sources > 1)
    r.fail(m, mk, "give the password only one way: password, password_env or password_file");
  if (!q.password_env.empty()) {
    const char* v = std::getenv(q.password_env.c_str());
    if (!v)
      r.fail(m["password_env"], mk + ".password_env",
             "environment variable " + q.password_env + " is not set");
    q.password = v;
  }
  if (!q.password_file.empty()) {
    std::ifstream in(q.password_file);
    if (!in)
      r.fail(m["password_file"], mk + ".password_file", "cannot read " + q.password_file.string());
    std::getline(in, q.password);
    if (!q.password.empty() && q.password.back() == '\r') q.password.pop_back();
  }
  if (!q.password.empty() && q.username.empty())
    r.fail(m, mk + ".username", "a password needs a username");
  r.get(m, mk, "tls", q.tls);
  r.get_path(m, mk, "ca_file", q.ca_file);
  r.get_path(m, mk, "cert_file", q.cert_file);
  r.get_path(m, mk, "key_file", q.key_file);
  r.get(m, mk, "tls_insecure", q.tls_insecure);
  if (!q.ca_file.empty()) q.tls = true;
  if (q.cert_file.empty() != q.key_file.empty())
    r.fail(m, mk, "cert_file and key_file go together");
  if (!q.cert_file.empty() && !q.tls) q.tls = true;
  r.get_number(m, mk, "stats_interval_s", q.stats_interval_s, 0, 86400);
  r.get(m, mk, "ha_discovery", q.ha_discovery);
  r.get(m, mk, "ha_discovery_prefix", q.ha_discovery_prefix);
  if (q.ha_discovery_prefix.empty() ||
      q.ha_discovery_prefix.find_first_of("#+") != std::string::npos)
    r.fail(m["ha_discovery_prefix"], mk + ".ha_discovery_prefix",
           "expected an MQTT topic without wildcards");
}

// ---- Scene analytics: filters, zones, lines, analytics (docs/configuration.md) ----------

cv::Point2f read_point(const Reader& r, const YAML::Node& n, const std::string& key) {
  if (!n.IsSequence() || n.size() != 2) r.fail(n, key, "expected a point [x, y] in pixels");
  float v[2] = {0, 0};
  for (size_t i = 0; i < 2; ++i) {
    YAML::Node wrapper;
    wrapper["v"] = n[i];
    r.get_number(wrapper, key, "v", v[i], -100000, 100000);
  }
  return {v[0], v[1]};
}

std::vector<cv::Point2f> read_points(const Reader& r, const YAML::Node& n, const std::string& key,
                                     size_t min_points, size_t max_points) {
  if (!n.IsSequence() || n.size() < min_points || n.size() > max_points) {
    r.fail(n, key,
           "expected a list of " +
               (min_points == max_points ? std::to_string(min_points)
                                         : std::to_string(min_points) + " or more") +
               " points [[x, y], ...]");
  }
  std::vector<cv::Point2f> out;
  for (size_t i = 0; i < n.size(); ++i) {
    out.push_back(read_point(r, n[i], key + "[" + std::to_string(i) + "]"));
  }
  return out;
}

void check_scene_name(const Reader& r, const YAML::Node& n, const std::string& key,
                      std::set<std::string>& seen) {
  if (!n["name"]) r.fail(n, key + ".name", "missing required key (a name such as 'door')");
  std::string name;
  r.get(n, key, "name", name);
  if (!valid_id(name)) {
    r.fail(n["name"], key + ".name",
           "expected 1-64 characters of A-Z a-z 0-9 _ -, got '" + name + "'");
  }
  if (!seen.insert(name).second) r.fail(n["name"], key + ".name", "duplicate name '" + name + "'");
}

void read_scene(const Reader& r, const YAML::Node& cam, const std::string& key,
                SceneConfig& scene) {
  if (const YAML::Node f = cam["filters"]) {
    const std::string k = key + ".filters";
    if (!f.IsMap())
      r.fail(f, k,
             "expected a mapping of class name -> {min_score, min_area, max_area, min_age_s}");
    for (const auto& kv : f) {
      const std::string cls = kv.first.as<std::string>();
      const std::string ck = k + "." + cls;
      ClassFilterConfig fc;
      r.check_map(kv.second, ck, {"min_score", "min_area", "max_area", "min_age_s"});
      r.get_number(kv.second, ck, "min_score", fc.min_score, 0, 1);
      r.get_number(kv.second, ck, "min_area", fc.min_area, 0, 1e9);
      r.get_number(kv.second, ck, "max_area", fc.max_area, 0, 1e9);
      r.get_number(kv.second, ck, "min_age_s", fc.min_age_s, 0, 3600);
      if (fc.max_area > 0 && fc.max_area < fc.min_area) {
        r.fail(kv.second, ck + ".max_area", "expected 0 or a value >= min_area");
      }
      scene.filters.emplace_back(cls, fc);
    }
  }
  std::set<std::string> names;
  if (const YAML::Node zs = cam["zones"]) {
    const std::string k = key + ".zones";
    if (!zs.IsSequence()) r.fail(zs, k, "expected a list of zones");
    for (size_t i = 0; i < zs.size(); ++i) {
      const std::string zk = k + "[" + std::to_string(i) + "]";
      const YAML::Node z = zs[i];
      r.check_map(z, zk, {"name", "polygon", "classes", "loitering_s", "max_objects", "speed"});
      check_scene_name(r, z, zk, names);
      ZoneConfig zc;
      r.get(z, zk, "name", zc.name);
      if (!z["polygon"])
        r.fail(z, zk + ".polygon", "missing required key (>= 3 points [[x, y], ...])");
      zc.polygon = read_points(r, z["polygon"], zk + ".polygon", 3, 64);
      if (std::abs(cv::contourArea(zc.polygon)) < 1.0) {
        r.fail(z["polygon"], zk + ".polygon", "expected a polygon with a non-zero area");
      }
      zc.classes = r.string_list(z, zk, "classes");
      r.get_number(z, zk, "loitering_s", zc.loitering_s, 0, 86400);
      r.get_number(z, zk, "max_objects", zc.max_objects, 0, 10000);
      if (const YAML::Node sp = z["speed"]) {
        const std::string sk = zk + ".speed";
        r.check_map(sp, sk, {"points", "width_m", "length_m"});
        if (!sp["points"] || !sp["width_m"] || !sp["length_m"]) {
          r.fail(sp, sk, "expected points (4 image points), width_m and length_m");
        }
        zc.speed.points = read_points(r, sp["points"], sk + ".points", 4, 4);
        r.get_number(sp, sk, "width_m", zc.speed.width_m, 0.1, 10000);
        r.get_number(sp, sk, "length_m", zc.speed.length_m, 0.1, 10000);
        if (std::abs(cv::contourArea(zc.speed.points)) < 1.0) {
          r.fail(sp["points"], sk + ".points", "expected 4 points around a non-empty area");
        }
      }
      scene.zones.push_back(std::move(zc));
    }
  }
  if (const YAML::Node ls = cam["lines"]) {
    const std::string k = key + ".lines";
    if (!ls.IsSequence()) r.fail(ls, k, "expected a list of lines");
    for (size_t i = 0; i < ls.size(); ++i) {
      const std::string lk = k + "[" + std::to_string(i) + "]";
      const YAML::Node l = ls[i];
      r.check_map(l, lk, {"name", "points", "classes"});
      check_scene_name(r, l, lk, names);
      LineConfig lc;
      r.get(l, lk, "name", lc.name);
      if (!l["points"]) r.fail(l, lk + ".points", "missing required key ([[x1, y1], [x2, y2]])");
      const auto pts = read_points(r, l["points"], lk + ".points", 2, 2);
      if (cv::norm(pts[1] - pts[0]) < 1.0)
        r.fail(l["points"], lk + ".points", "expected two distinct points");
      lc.p1 = pts[0];
      lc.p2 = pts[1];
      lc.classes = r.string_list(l, lk, "classes");
      scene.lines.push_back(std::move(lc));
    }
  }
  if (const YAML::Node a = cam["analytics"]) {
    const std::string k = key + ".analytics";
    r.check_map(a, k, {"activities", "traffic_interval_s", "snapshots", "floor_evidence"});
    r.get(a, k, "activities", scene.activities);
    r.get(a, k, "floor_evidence", scene.floor_evidence);
    r.get_number(a, k, "traffic_interval_s", scene.traffic_interval_s, 0, 86400);
    r.get_number(a, k, "snapshots", scene.snapshots, 0, 1000);
  }
}

CameraConfig read_camera(const Reader& r, const YAML::Node& n, const std::string& key) {
  CameraConfig c;
  r.check_map(n, key,
              {"id", "source", "fps", "roi", "loop", "enabled", "detect", "queue_size", "filters",
               "zones", "lines", "analytics", "mjpeg_packets"});
  if (!n["id"]) r.fail(n, key + ".id", "missing required key (a camera name such as 'door')");
  if (!n["source"]) {
    r.fail(n, key + ".source", "missing required key (file, folder, /dev/videoN or rtsp:// URL)");
  }
  r.get(n, key, "id", c.id);
  if (!valid_id(c.id)) {
    r.fail(n["id"], key + ".id", "expected 1-64 characters of A-Z a-z 0-9 _ -, got '" + c.id + "'");
  }
  r.get(n, key, "source", c.source);
  if (c.source.empty()) r.fail(n["source"], key + ".source", "expected a non-empty source");
  // Local paths are relative to the config file; URLs and device indices are not paths.
  const bool is_url = c.source.find("://") != std::string::npos;
  const bool is_index = std::all_of(c.source.begin(), c.source.end(), ::isdigit);
  if (!is_url && !is_index && c.source.rfind("/dev/", 0) != 0) c.source = r.resolve(c.source);
  r.get_number(n, key, "fps", c.fps, 0, 1000);
  r.get(n, key, "loop", c.loop);
  r.get(n, key, "enabled", c.enabled);
  r.get(n, key, "detect", c.detect);
  r.get_number(n, key, "queue_size", c.queue_size, 1, 64);
  r.get(n, key, "mjpeg_packets", c.mjpeg_packets);
  if (const YAML::Node roi = n["roi"]) {
    const std::string k = key + ".roi";
    if (!roi.IsSequence() || roi.size() != 4) {
      r.fail(roi, k, "expected [x, y, width, height] in pixels");
    }
    int v[4] = {0, 0, 0, 0};
    for (size_t i = 0; i < 4; ++i) {
      YAML::Node wrapper;
      wrapper["v"] = roi[i];
      r.get_number(wrapper, k, "v", v[i], 0, 100000);
    }
    if (v[2] <= 0 || v[3] <= 0) r.fail(roi, k, "expected a positive width and height");
    c.roi = cv::Rect(v[0], v[1], v[2], v[3]);
  }
  read_scene(r, n, key, c.scene);
  return c;
}

Config read_config(const Reader& r, const YAML::Node& root) {
  Config cfg;
  if (!root || root.IsNull())
    r.fail(root, "", "the file is empty (expected a mapping with 'cameras')");
  r.check_map(root, "",
              {"cameras", "privacy", "detection", "tracking", "events", "api", "models", "runtime",
               "alpr"});

  const YAML::Node cams = root["cameras"];
  if (!cams) r.fail(root, "cameras", "missing required key (a list of cameras)");
  if (!cams.IsSequence()) r.fail(cams, "cameras", "expected a list of cameras");
  std::set<std::string> ids;
  for (size_t i = 0; i < cams.size(); ++i) {
    const std::string key = "cameras[" + std::to_string(i) + "]";
    CameraConfig c = read_camera(r, cams[i], key);
    if (!ids.insert(c.id).second) {
      r.fail(cams[i]["id"], key + ".id", "duplicate camera id '" + c.id + "'");
    }
    cfg.cameras.push_back(std::move(c));
  }

  if (const YAML::Node n = root["privacy"]) {
    r.check_map(n, "privacy",
                {"detector", "mode", "method", "level", "motion_regions", "full_pass_every",
                 "small_face_interval", "plates", "head_fallback"});
    for (auto [key, field] : {std::pair{"plates", &cfg.privacy.plates},
                              std::pair{"head_fallback", &cfg.privacy.head_fallback}}) {
      if (!n[key]) continue;
      bool on = true;
      r.get(n, "privacy", key, on);
      *field = on;
    }
    r.get_enum(n, "privacy", "detector", cfg.privacy.detector,
               {"yunet", "yunet2022", "ssd", "blazeface", "blazeface128", "haar"});
    r.get_enum(n, "privacy", "mode", cfg.privacy.mode, {"fast", "balanced", "accurate"});
    r.get_enum(n, "privacy", "method", cfg.privacy.method,
               {"blur", "pixelate", "blackbox", "emoji"});
    r.get_enum(n, "privacy", "level", cfg.privacy.level, {"low", "medium", "high", "maximum"});
    r.get(n, "privacy", "motion_regions", cfg.privacy.motion_regions);
    r.get_number(n, "privacy", "full_pass_every", cfg.privacy.full_pass_every, 1, 1000);
    r.get_number(n, "privacy", "small_face_interval", cfg.privacy.small_face_interval, 1, 30);
  }

  if (const YAML::Node n = root["detection"]) {
    const std::string k = "detection";
    r.check_map(n, k,
                {"model", "classes", "conf", "nms", "threads", "every_n", "motion_gating",
                 "motion_threshold", "device", "rect", "skip_when_behind"});
    auto& d = cfg.detection;
    r.get(n, k, "model", d.model);
    if (d.model.empty()) r.fail(n["model"], k + ".model", "expected a model name or path");
    d.classes = r.string_list(n, k, "classes");
    r.get_number(n, k, "conf", d.conf, 0, 1);
    r.get_number(n, k, "nms", d.nms, 0, 1);
    r.get_number(n, k, "threads", d.threads, 0, 64);
    r.get_number(n, k, "every_n", d.every_n, 1, 1000);
    r.get(n, k, "motion_gating", d.motion_gating);
    r.get(n, k, "skip_when_behind", d.skip_when_behind);
    r.get_number(n, k, "motion_threshold", d.motion_threshold, 0, 1);
    r.get_enum(n, k, "device", d.device, {"cpu", "cuda", "tensorrt", "openvino"});
    r.get(n, k, "rect", d.rect);
  }

  if (const YAML::Node n = root["alpr"]) {
    const std::string k = "alpr";
    r.check_map(
        n, k,
        {"enabled", "plate_model", "ocr", "region", "queue_size", "min_plate_area", "throttle",
         "allow", "deny", "read_variants", "vehicle_pass", "haar_second_chance"});
    auto& a = cfg.alpr;
    r.get(n, k, "enabled", a.enabled);
    r.get(n, k, "plate_model", a.plate_model);
    if (a.plate_model.empty()) r.fail(n["plate_model"], k + ".plate_model", "expected a model");
    r.get_enum(n, k, "ocr", a.ocr, {"cct", "tesseract", "paddle"});
    r.get_enum(n, k, "region", a.region, {"", "br", "eu", "nl", "us"});
    r.get_number(n, k, "queue_size", a.queue_size, 1, 1000);
    r.get_number(n, k, "min_plate_area", a.min_plate_area, 0, 1e8);
    r.get(n, k, "throttle", a.throttle);
    r.get_number(n, k, "read_variants", a.read_variants, 1, 3);
    r.get(n, k, "vehicle_pass", a.vehicle_pass);
    r.get(n, k, "haar_second_chance", a.haar_second_chance);
    a.allow = r.string_list(n, k, "allow");
    a.deny = r.string_list(n, k, "deny");
  }

  if (const YAML::Node n = root["tracking"]) {
    const std::string k = "tracking";
    r.check_map(
        n, k,
        {"track_thresh", "match_thresh", "new_track_thresh", "max_lost", "min_hits", "max_tracks"});
    auto& t = cfg.tracking;
    r.get_number(n, k, "track_thresh", t.track_thresh, 0, 1);
    r.get_number(n, k, "match_thresh", t.match_thresh, 0, 1);
    r.get_number(n, k, "new_track_thresh", t.new_track_thresh, 0, 1);
    r.get_number(n, k, "max_lost", t.max_lost, 0, 100000);
    r.get_number(n, k, "min_hits", t.min_hits, 1, 1000);
    r.get_number(n, k, "max_tracks", t.max_tracks, 1, 100000);
  }

  auto& ev = cfg.events;
  ev.spool_dir = r.resolve("spool");
  if (const YAML::Node n = root["events"]) {
    const std::string k = "events";
    r.check_map(n, k, {"spool_dir", "log", "mqtt", "webhook", "jsonl", "device_id"});
    r.get_path(n, k, "spool_dir", ev.spool_dir);
    r.get(n, k, "device_id", ev.device_id);
    if (!ev.device_id.empty() && !valid_id(ev.device_id))
      r.fail(n["device_id"], k + ".device_id", "expected 1-64 of A-Z a-z 0-9 _ -");
    r.get(n, k, "log", ev.log);
    if (const YAML::Node m = n["mqtt"]) {
      const std::string mk = "events.mqtt";
      r.check_map(m, mk, {"enabled",      "host",
                          "port",         "topic_prefix",
                          "qos",          "client_id",
                          "username",     "password",
                          "keepalive_s",  "spool",
                          "password_env", "password_file",
                          "tls",          "ca_file",
                          "cert_file",    "key_file",
                          "tls_insecure", "stats_interval_s",
                          "ha_discovery", "ha_discovery_prefix"});
      auto& q = ev.mqtt;
      q.enabled = true;  // a present section means "on" unless it says otherwise
      r.get(m, mk, "enabled", q.enabled);
      r.get(m, mk, "host", q.host);
      r.get_number(m, mk, "port", q.port, 1, 65535);
      r.get(m, mk, "topic_prefix", q.topic_prefix);
      if (q.topic_prefix.empty() || q.topic_prefix.find_first_of("#+") != std::string::npos ||
          q.topic_prefix.back() == '/') {
        r.fail(m["topic_prefix"], mk + ".topic_prefix",
               "expected a non-empty MQTT topic without wildcards or a trailing '/'");
      }
      r.get_number(m, mk, "qos", q.qos, 0, 2);
      if (q.qos != 1) {
        r.fail(m["qos"], mk + ".qos", "expected 1 (events are delivered at least once)");
      }
      r.get(m, mk, "client_id", q.client_id);
      r.get(m, mk, "username", q.username);
      r.get(m, mk, "password", q.password);
      r.get_number(m, mk, "keepalive_s", q.keepalive_s, 5, 3600);
      read_spool(r, m, mk, q.spool);
      if (q.host.empty()) r.fail(m["host"], mk + ".host", "expected a host name or address");
      read_mqtt_extras(r, m, mk, q);
    }
    if (const YAML::Node w = n["webhook"]) {
      const std::string wk = "events.webhook";
      r.check_map(w, wk, {"enabled", "url", "timeout_ms", "bearer_token", "spool"});
      auto& h = ev.webhook;
      h.enabled = true;
      r.get(w, wk, "enabled", h.enabled);
      r.get(w, wk, "url", h.url);
      r.get_number(w, wk, "timeout_ms", h.timeout_ms, 100, 600000);
      r.get(w, wk, "bearer_token", h.bearer_token);
      read_spool(r, w, wk, h.spool);
      static const std::regex url_re(R"(^https?://[^/:\s]+(:[0-9]+)?(/\S*)?$)");
      if (h.enabled && !std::regex_match(h.url, url_re)) {
        r.fail(w["url"] ? w["url"] : w, wk + ".url",
               "expected an http:// or https:// URL, got '" + h.url + "'");
      }
    }
    if (const YAML::Node j = n["jsonl"]) {
      const std::string jk = "events.jsonl";
      r.check_map(j, jk, {"enabled", "path", "rotate_bytes", "keep", "spool"});
      auto& f = ev.jsonl;
      f.enabled = true;
      r.get(j, jk, "enabled", f.enabled);
      r.get_path(j, jk, "path", f.path);
      r.get_bytes(j, jk, "rotate_bytes", f.rotate_bytes, 4096);
      r.get_number(j, jk, "keep", f.keep, 0, 100);
      read_spool(r, j, jk, f.spool);
      if (f.enabled && f.path.empty())
        r.fail(j, jk + ".path", "missing required key (a file path)");
    }
  }
  if (ev.mqtt.spool.dir.empty()) ev.mqtt.spool.dir = ev.spool_dir / "mqtt";
  if (ev.webhook.spool.dir.empty()) ev.webhook.spool.dir = ev.spool_dir / "webhook";
  if (ev.jsonl.spool.dir.empty()) ev.jsonl.spool.dir = ev.spool_dir / "jsonl";

  if (const YAML::Node n = root["api"]) {
    const std::string k = "api";
    r.check_map(n, k, {"enabled", "listen", "port", "token", "max_body_bytes", "web_dir"});
    auto& a = cfg.api;
    r.get(n, k, "enabled", a.enabled);
    r.get(n, k, "listen", a.listen);
    r.get_number(n, k, "port", a.port, 0, 65535);
    r.get(n, k, "token", a.token);
    r.get_bytes(n, k, "max_body_bytes", a.max_body_bytes, 1024);
    r.get_path(n, k, "web_dir", a.web_dir);
    if (a.enabled && !is_loopback(a.listen) && a.token.empty()) {
      r.fail(n["listen"], k + ".listen",
             "listening on '" + a.listen + "' (not loopback) requires api.token to be set");
    }
  }

  if (const YAML::Node n = root["models"]) {
    const std::string k = "models";
    r.check_map(n, k, {"dirs", "cache_dir", "allow_download"});
    for (const auto& d : r.string_list(n, k, "dirs")) cfg.models.dirs.push_back(r.resolve(d));
    r.get_path(n, k, "cache_dir", cfg.models.cache_dir);
    r.get(n, k, "allow_download", cfg.models.allow_download);
  }

  if (const YAML::Node n = root["runtime"]) {
    const std::string k = "runtime";
    r.check_map(
        n, k, {"threads", "share_sessions", "allow_spinning", "runs_per_session", "session_arena"});
    r.get_number(n, k, "threads", cfg.runtime.threads, 0, 1024);
    r.get(n, k, "share_sessions", cfg.runtime.share_sessions);
    r.get(n, k, "allow_spinning", cfg.runtime.allow_spinning);
    r.get_number(n, k, "runs_per_session", cfg.runtime.runs_per_session, 0, 64);
    r.get(n, k, "session_arena", cfg.runtime.session_arena);
  }
  return cfg;
}

}  // namespace

Result<Config> parse_config(const std::string& yaml_text, const std::string& origin,
                            const std::filesystem::path& base_dir) {
  try {
    const YAML::Node root = YAML::Load(yaml_text);
    Reader reader(origin, base_dir);
    check_duplicate_keys(reader, root, "");
    return read_config(reader, root);
  } catch (const ConfigError& e) {
    return Result<Config>::Error(e.message);
  } catch (const YAML::Exception& e) {
    std::ostringstream os;
    os << origin;
    if (e.mark.line >= 0) os << ":" << e.mark.line + 1 << ":" << e.mark.column + 1;
    os << ": invalid YAML: " << e.msg;
    return Result<Config>::Error(os.str());
  } catch (const std::exception& e) {
    return Result<Config>::Error(origin + ": " + e.what());
  }
}

Result<Config> load_config(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return Result<Config>::Error(file.string() + ": cannot open the configuration file");
  std::ostringstream ss;
  ss << in.rdbuf();
  std::error_code ec;
  fs::path abs = fs::absolute(file, ec);
  if (ec) abs = file;
  auto cfg = parse_config(ss.str(), file.string(), abs.parent_path());
  if (cfg) cfg->file = abs;
  return cfg;
}

}  // namespace ev
