// Manifest parsing. Every field is checked here, once, so the rest of the product can trust
// a ModelSpec; errors point at the origin, line and key so a user can fix their YAML.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <stdexcept>

#include "edgevision/models.hpp"

namespace ev {
namespace detail {
extern const char* const kBuiltinManifestYaml;
}  // namespace detail

namespace {

// Internal only: parse_manifest converts it to a Status before returning.
struct ManifestError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Parser {
 public:
  explicit Parser(std::string origin) : origin_(std::move(origin)) {}

  [[noreturn]] void fail(const YAML::Node& node, const std::string& where,
                         const std::string& what) const {
    const YAML::Mark mark = node.Mark();
    if (mark.is_null()) throw ManifestError(fmt::format("{}: {}: {}", origin_, where, what));
    throw ManifestError(
        fmt::format("{}:{}:{}: {}: {}", origin_, mark.line + 1, mark.column + 1, where, what));
  }

  static std::string show(const YAML::Node& node) {
    if (node.IsScalar()) return "'" + node.Scalar() + "'";
    if (node.IsSequence()) return "a list";
    if (node.IsMap()) return "a mapping";
    return "nothing";
  }

  // Iterates a mapping, rejecting keys not in `allowed` and keys given twice.
  template <typename Fn>
  void for_each_key(const YAML::Node& map, const std::string& where,
                    const std::set<std::string>& allowed, Fn&& fn) const {
    if (!map.IsMap()) fail(map, where, "expected a mapping, got " + show(map));
    std::set<std::string> seen;
    for (const auto& kv : map) {
      if (!kv.first.IsScalar()) fail(kv.first, where, "expected a string key");
      const std::string key = kv.first.Scalar();
      if (!allowed.count(key)) {
        std::string list;
        for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
        fail(kv.first, where, fmt::format("unknown key '{}' (expected one of: {})", key, list));
      }
      if (!seen.insert(key).second) fail(kv.first, where, fmt::format("duplicate key '{}'", key));
      fn(key, kv.second, where + "." + key);
    }
  }

  std::string str(const YAML::Node& n, const std::string& where) const {
    if (!n.IsScalar()) fail(n, where, "expected a string, got " + show(n));
    return n.Scalar();
  }

  std::string one_of(const YAML::Node& n, const std::string& where,
                     const std::vector<std::string>& values) const {
    std::string s = str(n, where);
    if (std::find(values.begin(), values.end(), s) == values.end())
      fail(n, where, fmt::format("expected one of {}, got '{}'", fmt::join(values, "|"), s));
    return s;
  }

  int64_t integer(const YAML::Node& n, const std::string& where, int64_t min_value) const {
    int64_t v = 0;
    if (!n.IsScalar() || !YAML::convert<int64_t>::decode(n, v))
      fail(n, where, "expected an integer, got " + show(n));
    if (v < min_value)
      fail(n, where, fmt::format("expected an integer >= {}, got {}", min_value, v));
    return v;
  }

  double number(const YAML::Node& n, const std::string& where) const {
    double v = 0;
    if (!n.IsScalar() || !YAML::convert<double>::decode(n, v))
      fail(n, where, "expected a number, got " + show(n));
    return v;
  }

  std::array<float, 3> triple(const YAML::Node& n, const std::string& where) const {
    if (n.IsScalar()) {
      const float v = static_cast<float>(number(n, where));
      return {v, v, v};
    }
    if (!n.IsSequence() || n.size() != 3)
      fail(n, where, "expected a number or a list of 3 numbers, got " + show(n));
    std::array<float, 3> out{};
    for (size_t i = 0; i < 3; ++i)
      out[i] = static_cast<float>(number(n[i], fmt::format("{}[{}]", where, i)));
    return out;
  }

  std::vector<std::string> strings(const YAML::Node& n, const std::string& where) const {
    if (!n.IsSequence()) fail(n, where, "expected a list of strings, got " + show(n));
    std::vector<std::string> out;
    for (size_t i = 0; i < n.size(); ++i) out.push_back(str(n[i], fmt::format("{}[{}]", where, i)));
    return out;
  }

  ModelFile file(const YAML::Node& n, const std::string& where) const {
    ModelFile f;
    bool has_file = false, has_sha = false;
    for_each_key(n, where, {"file", "sha256", "size", "sources"},
                 [&](const std::string& key, const YAML::Node& v, const std::string& w) {
                   if (key == "file") {
                     f.file = str(v, w);
                     // The name becomes a path in the cache: keep it a plain file name.
                     if (f.file.empty() || f.file == "." || f.file == ".." ||
                         f.file.find('/') != std::string::npos)
                       fail(v, w, "expected a plain file name, got '" + f.file + "'");
                     has_file = true;
                   } else if (key == "sha256") {
                     f.sha256 = str(v, w);
                     std::transform(f.sha256.begin(), f.sha256.end(), f.sha256.begin(),
                                    [](unsigned char c) { return std::tolower(c); });
                     if (f.sha256.size() != 64 ||
                         f.sha256.find_first_not_of("0123456789abcdef") != std::string::npos)
                       fail(v, w, "expected 64 hex digits, got '" + f.sha256 + "'");
                     has_sha = true;
                   } else if (key == "size") {
                     f.size = integer(v, w, 0);
                   } else if (key == "sources") {
                     f.sources = strings(v, w);
                     for (size_t i = 0; i < f.sources.size(); ++i) {
                       const std::string& s = f.sources[i];
                       if (s.rfind("https://", 0) != 0 && s.rfind("http://", 0) != 0 &&
                           s.rfind("file://", 0) != 0 && s.rfind("npm:", 0) != 0)
                         fail(v[i], fmt::format("{}[{}]", w, i),
                              "expected a source starting with https://, http://, file:// or "
                              "npm:, got '" +
                                  s + "'");
                     }
                   }
                 });
    if (!has_file) fail(n, where, "missing required key 'file'");
    if (!has_sha) fail(n, where, "missing required key 'sha256' (file '" + f.file + "')");
    return f;
  }

  Preprocess preprocess(const YAML::Node& n, const std::string& where) const {
    Preprocess p;
    for_each_key(n, where,
                 {"width", "height", "color", "layout", "resize", "pad_value", "scale", "mean",
                  "std", "rect"},
                 [&](const std::string& key, const YAML::Node& v, const std::string& w) {
                   if (key == "width") p.width = static_cast<int>(integer(v, w, 0));
                   if (key == "height") p.height = static_cast<int>(integer(v, w, 0));
                   if (key == "color") p.color = one_of(v, w, {"bgr", "rgb", "gray"});
                   if (key == "layout") p.layout = one_of(v, w, {"nchw", "nhwc"});
                   if (key == "resize")
                     p.resize = one_of(v, w, {"letterbox", "letterbox_center", "stretch", "pad32"});
                   if (key == "pad_value") p.pad_value = static_cast<float>(number(v, w));
                   if (key == "scale") p.scale = static_cast<float>(number(v, w));
                   if (key == "mean") p.mean = triple(v, w);
                   if (key == "rect") p.rect = one_of(v, w, {"true", "false"}) == "true";
                   if (key == "std") {
                     p.std = triple(v, w);
                     for (float s : p.std)
                       if (s == 0.f) fail(v, w, "expected non-zero values (it is a divisor)");
                   }
                 });
    return p;
  }

  double threshold(const YAML::Node& n, const std::string& where) const {
    const double v = number(n, where);
    if (v < 0.0 || v > 1.0) fail(n, where, fmt::format("expected a number in [0, 1], got {}", v));
    return v;
  }

  ModelSpec model(const YAML::Node& n, const std::string& where) const {
    ModelSpec m;
    bool has_name = false, has_files = false;
    // Read the name first so later errors can say which model they are about.
    std::string label = where;
    if (n.IsMap() && n["name"] && n["name"].IsScalar())
      label = "model '" + n["name"].Scalar() + "'";
    for_each_key(n, label,
                 {"name", "version", "task", "backend", "decoder", "license", "description",
                  "files", "preprocess", "labels", "conf_threshold", "nms_threshold"},
                 [&](const std::string& key, const YAML::Node& v, const std::string& w) {
                   if (key == "name") {
                     m.name = str(v, w);
                     if (m.name.empty()) fail(v, w, "expected a non-empty name");
                     has_name = true;
                   } else if (key == "version") {
                     m.version = str(v, w);
                   } else if (key == "task") {
                     m.task = str(v, w);
                   } else if (key == "backend") {
                     m.backend = one_of(v, w, {"auto", "onnxruntime", "opencv"});
                   } else if (key == "decoder") {
                     m.decoder = str(v, w);
                   } else if (key == "license") {
                     m.license = str(v, w);
                   } else if (key == "description") {
                     m.description = str(v, w);
                   } else if (key == "files") {
                     if (!v.IsSequence() || v.size() == 0)
                       fail(v, w, "expected a non-empty list of files, got " + show(v));
                     for (size_t i = 0; i < v.size(); ++i)
                       m.files.push_back(file(v[i], fmt::format("{}[{}]", w, i)));
                     has_files = true;
                   } else if (key == "preprocess") {
                     m.preprocess = preprocess(v, w);
                   } else if (key == "labels") {
                     m.labels = strings(v, w);
                   } else if (key == "conf_threshold") {
                     m.conf_threshold = threshold(v, w);
                   } else if (key == "nms_threshold") {
                     m.nms_threshold = threshold(v, w);
                   }
                 });
    if (!has_name) fail(n, where, "missing required key 'name'");
    if (!has_files) fail(n, label, "missing required key 'files'");
    return m;
  }

  Manifest manifest(const YAML::Node& root) const {
    Manifest out;
    if (!root || root.IsNull())
      fail(root, "manifest", "expected a mapping with 'models', got nothing");
    bool has_models = false;
    for_each_key(root, "manifest", {"models"},
                 [&](const std::string&, const YAML::Node& v, const std::string& w) {
                   has_models = true;
                   if (v.IsNull()) return;  // "models:" with no entries is an empty manifest
                   if (!v.IsSequence()) fail(v, w, "expected a list of models, got " + show(v));
                   std::set<std::string> names;
                   for (size_t i = 0; i < v.size(); ++i) {
                     ModelSpec m = model(v[i], fmt::format("models[{}]", i));
                     if (!names.insert(m.name).second)
                       fail(v[i]["name"], "model '" + m.name + "'", "duplicate model name");
                     out.models.push_back(std::move(m));
                   }
                 });
    if (!has_models) fail(root, "manifest", "missing required key 'models'");
    return out;
  }

 private:
  std::string origin_;
};

}  // namespace

const ModelSpec* Manifest::find(const std::string& name) const {
  for (const auto& m : models)
    if (m.name == name) return &m;
  return nullptr;
}

Result<Manifest> parse_manifest(const std::string& yaml_text, const std::string& origin) {
  Parser parser(origin);
  try {
    return parser.manifest(YAML::Load(yaml_text));
  } catch (const ManifestError& e) {
    return Result<Manifest>::Error(e.what());
  } catch (const YAML::Exception& e) {
    // yaml-cpp's what() already carries "line N, column M"; say it our way too.
    if (e.mark.is_null()) return Result<Manifest>::Error(fmt::format("{}: {}", origin, e.msg));
    return Result<Manifest>::Error(fmt::format("{}:{}:{}: invalid YAML: {}", origin,
                                               e.mark.line + 1, e.mark.column + 1, e.msg));
  } catch (const std::exception& e) {
    return Result<Manifest>::Error(fmt::format("{}: {}", origin, e.what()));
  }
}

const Manifest& builtin_manifest() {
  static const Manifest manifest = [] {
    auto parsed = parse_manifest(detail::kBuiltinManifestYaml, "builtin models/manifest.yaml");
    if (!parsed) {
      // Only reachable if a broken manifest was compiled in; the tests guard against it.
      spdlog::error("{}", parsed.error());
      return Manifest{};
    }
    return std::move(parsed).value();
  }();
  return manifest;
}

}  // namespace ev
