// The one place where the YAML configuration is read and validated. yaml-cpp throws; every
// exception stays inside this file and becomes an error value naming file:line, key and what
// was expected.
#include "edgevision/config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
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
    if constexpr (std::is_integral_v<T>) {
      if (v != static_cast<double>(static_cast<int64_t>(v))) {
        fail(n, key, "expected an integer, got '" + s + "'");
      }
    }
    if (v < lo || v > hi) {
      std::ostringstream os;
      os << "expected a number in [" << lo << ", " << hi << "], got " << s;
      fail(n, key, os.str());
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
    uint64_t v = std::stoull(m[1].str());
    const std::string unit = m[2].str();
    if (unit == "KiB" || unit == "k") v <<= 10;
    if (unit == "KB") v *= 1000;
    if (unit == "MiB" || unit == "M") v <<= 20;
    if (unit == "MB") v *= 1000 * 1000;
    if (unit == "GiB" || unit == "G") v <<= 30;
    if (unit == "GB") v *= 1000ull * 1000 * 1000;
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

bool is_loopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
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

CameraConfig read_camera(const Reader& r, const YAML::Node& n, const std::string& key) {
  CameraConfig c;
  r.check_map(n, key, {"id", "source", "fps", "roi", "loop", "enabled", "detect", "queue_size"});
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
  return c;
}

Config read_config(const Reader& r, const YAML::Node& root) {
  Config cfg;
  if (!root || root.IsNull())
    r.fail(root, "", "the file is empty (expected a mapping with 'cameras')");
  r.check_map(root, "", {"cameras", "privacy", "detection", "tracking", "events", "api", "models"});

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
    r.check_map(n, "privacy", {"detector", "mode", "method", "level"});
    r.get_enum(n, "privacy", "detector", cfg.privacy.detector,
               {"yunet", "yunet2022", "ssd", "blazeface", "blazeface128", "haar"});
    r.get_enum(n, "privacy", "mode", cfg.privacy.mode, {"fast", "balanced", "accurate"});
    r.get_enum(n, "privacy", "method", cfg.privacy.method,
               {"blur", "pixelate", "blackbox", "emoji"});
    r.get_enum(n, "privacy", "level", cfg.privacy.level, {"low", "medium", "high", "maximum"});
  }

  if (const YAML::Node n = root["detection"]) {
    const std::string k = "detection";
    r.check_map(n, k,
                {"model", "classes", "conf", "nms", "threads", "every_n", "motion_gating",
                 "motion_threshold", "device"});
    auto& d = cfg.detection;
    r.get(n, k, "model", d.model);
    if (d.model.empty()) r.fail(n["model"], k + ".model", "expected a model name or path");
    d.classes = r.string_list(n, k, "classes");
    r.get_number(n, k, "conf", d.conf, 0, 1);
    r.get_number(n, k, "nms", d.nms, 0, 1);
    r.get_number(n, k, "threads", d.threads, 0, 64);
    r.get_number(n, k, "every_n", d.every_n, 1, 1000);
    r.get(n, k, "motion_gating", d.motion_gating);
    r.get_number(n, k, "motion_threshold", d.motion_threshold, 0, 1);
    r.get_enum(n, k, "device", d.device, {"cpu", "cuda", "tensorrt", "openvino"});
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
    r.check_map(n, k, {"spool_dir", "log", "mqtt", "webhook", "jsonl"});
    r.get_path(n, k, "spool_dir", ev.spool_dir);
    r.get(n, k, "log", ev.log);
    if (const YAML::Node m = n["mqtt"]) {
      const std::string mk = "events.mqtt";
      r.check_map(m, mk,
                  {"enabled", "host", "port", "topic_prefix", "qos", "client_id", "username",
                   "password", "keepalive_s", "spool"});
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
  return cfg;
}

}  // namespace

Result<Config> parse_config(const std::string& yaml_text, const std::string& origin,
                            const std::filesystem::path& base_dir) {
  try {
    const YAML::Node root = YAML::Load(yaml_text);
    Reader reader(origin, base_dir);
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
