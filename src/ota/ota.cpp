// OTA model updates: staged download, hash check, smoke inference, atomic symlink swap.
#include "edgevision/ota.hpp"
#include "core/thread_name.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <condition_variable>
#include <ctime>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>
#include <opencv2/objdetect.hpp>

#include "edgevision/backend.hpp"

namespace ev::ota {
namespace fs = std::filesystem;

namespace {

bool plain_name(const std::string& s, size_t max_len = 128) {
  if (s.empty() || s.size() > max_len || s.front() == '.') return false;
  return s.find_first_not_of(
             "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-") ==
         std::string::npos;
}

Result<std::string> read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return Result<std::string>::Error("cannot read " + p.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Status write_text(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  out.flush();
  if (!out) return Status::Error("cannot write " + p.string());
  return Status::Ok();
}

// A bare path becomes a file:// URL so fetch_file and the manifest parser accept it.
std::string as_source(const std::string& s) {
  if (s.find("://") != std::string::npos || s.rfind("npm:", 0) == 0) return s;
  std::error_code ec;
  return "file://" + fs::absolute(s, ec).string();
}

void fsync_dir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

// Points dir/link at target with one rename(2): readers see the old or the new link, never
// a missing one.
Status point_link(const fs::path& dir, const std::string& link, const fs::path& target) {
  const fs::path tmp = dir / fmt::format(".{}.tmp-{}", link, ::getpid());
  std::error_code ec;
  fs::remove(tmp, ec);
  fs::create_symlink(target, tmp, ec);
  if (ec)
    return Status::Error(fmt::format("cannot create link {}: {}", tmp.string(), ec.message()));
  fs::rename(tmp, dir / link, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return Status::Error(
        fmt::format("cannot swap link {}: {}", (dir / link).string(), ec.message()));
  }
  fsync_dir(dir);
  return Status::Ok();
}

std::optional<std::string> link_version(const fs::path& link) {
  std::error_code ec;
  const fs::path target = fs::read_symlink(link, ec);
  if (ec) return std::nullopt;
  const std::string v = target.filename().string();
  if (!plain_name(v)) return std::nullopt;
  return v;
}

// Serializes updates of one model across processes (CLI vs. another CLI); released on close.
class FileLock {
 public:
  explicit FileLock(const fs::path& path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ >= 0 && ::flock(fd_, LOCK_EX) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

std::string emit_spec(const ModelSpec& m) {
  YAML::Emitter e;
  e << YAML::BeginMap << YAML::Key << "models" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  e << YAML::Key << "name" << YAML::Value << m.name;
  e << YAML::Key << "version" << YAML::Value << m.version;
  if (!m.task.empty()) e << YAML::Key << "task" << YAML::Value << m.task;
  if (!m.backend.empty()) e << YAML::Key << "backend" << YAML::Value << m.backend;
  if (!m.decoder.empty()) e << YAML::Key << "decoder" << YAML::Value << m.decoder;
  if (!m.license.empty()) e << YAML::Key << "license" << YAML::Value << m.license;
  if (!m.description.empty()) e << YAML::Key << "description" << YAML::Value << m.description;
  e << YAML::Key << "files" << YAML::Value << YAML::BeginSeq;
  for (const auto& f : m.files) {
    e << YAML::BeginMap << YAML::Key << "file" << YAML::Value << f.file << YAML::Key << "sha256"
      << YAML::Value << f.sha256;
    if (f.size > 0) e << YAML::Key << "size" << YAML::Value << f.size;
    if (!f.sources.empty()) e << YAML::Key << "sources" << YAML::Value << f.sources;
    e << YAML::EndMap;
  }
  e << YAML::EndSeq;
  const Preprocess& p = m.preprocess;
  e << YAML::Key << "preprocess" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "width" << YAML::Value << p.width << YAML::Key << "height" << YAML::Value
    << p.height << YAML::Key << "color" << YAML::Value << p.color << YAML::Key << "layout"
    << YAML::Value << p.layout << YAML::Key << "resize" << YAML::Value << p.resize << YAML::Key
    << "pad_value" << YAML::Value << p.pad_value << YAML::Key << "scale" << YAML::Value << p.scale;
  e << YAML::Key << "mean" << YAML::Value << YAML::Flow
    << std::vector<float>(p.mean.begin(), p.mean.end());
  e << YAML::Key << "std" << YAML::Value << YAML::Flow
    << std::vector<float>(p.std.begin(), p.std.end());
  if (!p.rect) e << YAML::Key << "rect" << YAML::Value << "false";
  e << YAML::EndMap;
  if (!m.labels.empty()) e << YAML::Key << "labels" << YAML::Value << YAML::Flow << m.labels;
  if (m.conf_threshold > 0) e << YAML::Key << "conf_threshold" << YAML::Value << m.conf_threshold;
  if (m.nms_threshold > 0) e << YAML::Key << "nms_threshold" << YAML::Value << m.nms_threshold;
  e << YAML::EndMap << YAML::EndSeq << YAML::EndMap;
  return std::string(e.c_str()) + "\n";
}

Result<InstalledModel> load_version(const fs::path& model_dir, const std::string& name,
                                    const std::string& version) {
  const fs::path dir = model_dir / "versions" / version;
  auto text = read_text(dir / "manifest.yaml");
  if (!text) return text.status();
  auto manifest = parse_manifest(*text, (dir / "manifest.yaml").string());
  if (!manifest) return manifest.status();
  const ModelSpec* spec = manifest->find(name);
  if (!spec)
    return Result<InstalledModel>::Error(fmt::format("{}: no entry for '{}'", dir.string(), name));
  InstalledModel m;
  m.name = name;
  m.version = version;
  m.spec = *spec;
  m.dir = dir;
  m.from_ota = true;
  for (const auto& f : spec->files) {
    const fs::path p = dir / f.file;
    std::error_code ec;
    if (!fs::is_regular_file(p, ec))
      return Result<InstalledModel>::Error(
          fmt::format("{}: file {} is missing", dir.string(), f.file));
    m.paths.push_back(p);
  }
  return m;
}

Status verify_files(const InstalledModel& m) {
  for (size_t i = 0; i < m.paths.size(); ++i) {
    auto sha = sha256_file(m.paths[i]);
    if (!sha) return sha.status();
    if (*sha != m.spec.files[i].sha256)
      return Status::Error(fmt::format("{}: sha256 {} does not match {}", m.paths[i].string(), *sha,
                                       m.spec.files[i].sha256));
  }
  return Status::Ok();
}

int64_t dim_or(int64_t d, int64_t fallback) {
  return d > 0 ? d : fallback;
}

// The spec this update installs, with its files' sources.
Result<ModelSpec> target_spec(const UpdateRequest& r, const Manifest& base) {
  if (!r.manifest_source.empty()) {
    const std::string source = as_source(r.manifest_source);
    std::string text;
    if (source.rfind("file://", 0) == 0) {
      auto t = read_text(source.substr(7));
      if (!t) return t.status();
      text = std::move(*t);
    } else {
      // The manifest itself is small and unhashed; what it lists is hash-checked below.
      const fs::path tmp = fs::temp_directory_path() / fmt::format("edgevision-manifest-{}-{}.yaml",
                                                                   ::getpid(), std::time(nullptr));
      Status s = fetch_file(source, tmp, "", 0);
      if (!s.ok()) return Status::Error("cannot fetch release manifest: " + s.message());
      auto t = read_text(tmp);
      std::error_code ec;
      fs::remove(tmp, ec);
      if (!t) return t.status();
      text = std::move(*t);
    }
    auto manifest = parse_manifest(text, r.manifest_source);
    if (!manifest) return manifest.status();
    const ModelSpec* spec = manifest->find(r.name);
    if (!spec)
      return Result<ModelSpec>::Error(
          fmt::format("release manifest {} has no model '{}'", r.manifest_source, r.name));
    if (spec->version != r.version)
      return Result<ModelSpec>::Error(
          fmt::format("release manifest {} has '{}' at version '{}', not '{}'", r.manifest_source,
                      r.name, spec->version, r.version));
    return *spec;
  }
  const ModelSpec* known = base.find(r.name);
  if (!known)
    return Result<ModelSpec>::Error(fmt::format(
        "unknown model '{}': give --manifest with a release manifest that defines it", r.name));
  ModelSpec spec = *known;
  if (!r.file_source.empty()) {
    if (r.sha256.size() != 64 ||
        r.sha256.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
      return Result<ModelSpec>::Error("--sha256 (64 hex digits) is required with --url");
    spec.version = r.version;
    std::string sha = r.sha256;
    for (auto& c : sha) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    spec.files[0].sha256 = sha;
    spec.files[0].size = r.size;
    spec.files[0].sources = {as_source(r.file_source)};
    return spec;
  }
  if (known->version != r.version)
    return Result<ModelSpec>::Error(
        fmt::format("this build ships '{}' version '{}'; for version '{}' give --manifest or --url "
                    "and --sha256",
                    r.name, known->version, r.version));
  return spec;
}

}  // namespace

Status smoke_test(const ModelSpec& spec, const std::vector<fs::path>& paths) {
  if (paths.empty()) return Status::Error("smoke test: no model file");
  if (spec.decoder == "haar" || paths[0].extension() == ".xml") {
    cv::CascadeClassifier cascade;
    try {
      if (!cascade.load(paths[0].string()) || cascade.empty())
        return Status::Error("smoke test: cascade does not load: " + paths[0].string());
    } catch (const cv::Exception& e) {
      return Status::Error(std::string("smoke test: cascade does not load: ") + e.what());
    }
    return Status::Ok();
  }
  BackendOptions options;
  options.threads = 1;
  if (paths.size() > 1) options.config = paths[1];
  auto backend = create_backend(spec.backend.empty() ? "auto" : spec.backend, paths[0], options);
  if (!backend) return Status::Error("smoke test: model does not load: " + backend.error());

  const bool nhwc = spec.preprocess.layout == "nhwc";
  const int64_t h = dim_or(spec.preprocess.height, 320), w = dim_or(spec.preprocess.width, 320);
  const int64_t c = spec.preprocess.color == "gray" ? 1 : 3;
  std::vector<std::vector<float>> buffers;
  std::vector<TensorView> inputs;
  for (const auto& info : (*backend)->inputs()) {
    std::vector<int64_t> shape = info.shape;
    if (shape.empty())
      shape = nhwc ? std::vector<int64_t>{1, h, w, c} : std::vector<int64_t>{1, c, h, w};
    for (size_t i = 0; i < shape.size(); ++i) {
      if (shape[i] > 0) continue;
      if (i == 0)
        shape[i] = 1;
      else if (shape.size() == 4 && i == (nhwc ? 3u : 1u))
        shape[i] = c;
      else if (shape.size() == 4)
        shape[i] = i == (nhwc ? 1u : 2u) ? h : w;
      else
        shape[i] = 1;
    }
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    if (n <= 0 || n > (int64_t{1} << 27))
      return Status::Error(fmt::format("smoke test: input '{}' has an unusable shape", info.name));
    buffers.emplace_back(static_cast<size_t>(n), 0.f);
    inputs.push_back(TensorView{buffers.back().data(), shape});
  }
  std::vector<Tensor> outputs;
  Status s = (*backend)->run(inputs, outputs);
  if (!s.ok()) return Status::Error("smoke test: inference failed: " + s.message());
  if (outputs.empty()) return Status::Error("smoke test: the model produced no output");
  for (const auto& t : outputs)
    for (float v : t.data)
      if (!std::isfinite(v))
        return Status::Error(fmt::format("smoke test: output '{}' is not finite", t.name));
  return Status::Ok();
}

ModelStore::ModelStore(fs::path root) : root_(std::move(root)) {}

std::optional<std::string> ModelStore::current_version(const std::string& name) const {
  if (!plain_name(name)) return std::nullopt;
  return link_version(root_ / name / "current");
}

std::optional<std::string> ModelStore::previous_version(const std::string& name) const {
  if (!plain_name(name)) return std::nullopt;
  return link_version(root_ / name / "previous");
}

Result<InstalledModel> ModelStore::current(const std::string& name) const {
  auto v = current_version(name);
  if (!v)
    return Result<InstalledModel>::Error(fmt::format("no OTA-installed version of '{}'", name));
  return load_version(root_ / name, name, *v);
}

Result<InstalledModel> ModelStore::update(const UpdateRequest& r, const Manifest& base,
                                          const ProgressFn& progress) {
  if (!plain_name(r.name))
    return Result<InstalledModel>::Error("invalid model name '" + r.name + "'");
  if (!plain_name(r.version, 64))
    return Result<InstalledModel>::Error("invalid version '" + r.version +
                                         "' (letters, digits, . _ + - only)");
  auto spec_r = target_spec(r, base);
  if (!spec_r) return spec_r.status();
  ModelSpec spec = std::move(*spec_r);
  spec.name = r.name;
  for (const auto& f : spec.files)
    if (!plain_name(f.file, 255))
      return Result<InstalledModel>::Error("refusing file name '" + f.file + "' from the manifest");

  const fs::path model_dir = root_ / r.name;
  std::error_code ec;
  fs::create_directories(model_dir / "versions", ec);
  if (ec)
    return Result<InstalledModel>::Error(
        fmt::format("cannot create {}: {}", model_dir.string(), ec.message()));
  FileLock lock(model_dir / ".lock");
  if (!lock.ok())
    return Result<InstalledModel>::Error("cannot lock " + (model_dir / ".lock").string());

  const auto old = link_version(model_dir / "current");
  if (old == r.version) {
    auto cur = load_version(model_dir, r.name, r.version);
    if (cur && verify_files(*cur).ok()) {
      spdlog::info("models update: '{}' is already at version {}", r.name, r.version);
      return cur;
    }
  }

  // Leftovers of an interrupted update (we hold the lock, so nobody else is writing them).
  for (const auto& e : fs::directory_iterator(model_dir, ec))
    if (e.path().filename().string().rfind(".staging-", 0) == 0) fs::remove_all(e.path(), ec);

  const fs::path staging = model_dir / fmt::format(".staging-{}-{}", r.version, ::getpid());
  fs::create_directories(staging, ec);
  auto fail = [&](const std::string& why) {
    std::error_code ignored;
    fs::remove_all(staging, ignored);
    spdlog::error("models update: '{}' {} failed, {} still serving: {}", r.name, r.version,
                  old ? "version " + *old : "the previous model", why);
    return Result<InstalledModel>::Error(why);
  };

  std::vector<fs::path> paths;
  for (const auto& f : spec.files) {
    const fs::path dest = staging / f.file;
    std::string errors;
    bool got = false;
    for (const auto& source : f.sources) {
      Status s = fetch_file(source, dest, f.sha256, f.size, progress);
      if (s.ok()) {
        got = true;
        break;
      }
      errors += (errors.empty() ? "" : "; ") + s.message();
    }
    if (!got)
      return fail(f.sources.empty() ? "no source for " + f.file
                                    : "download of " + f.file + " failed: " + errors);
    paths.push_back(dest);
  }
  if (r.smoke_test) {
    if (Status s = smoke_test(spec, paths); !s.ok()) return fail(s.message());
  }
  // What serves now: the OTA current version, else the shipped files.
  std::optional<InstalledModel> serving;
  if (old) {
    if (auto cur = load_version(model_dir, r.name, *old)) serving = std::move(*cur);
  } else if (const ModelSpec* shipped = base.find(r.name); shipped && !r.shipped_paths.empty()) {
    InstalledModel m;
    m.name = r.name;
    m.version = shipped->version;
    m.spec = *shipped;
    m.paths = r.shipped_paths;
    serving = std::move(m);
  }
  std::optional<AgreementReport> agreement;
  if (r.agreement.enabled) {
    if (!serving) {
      spdlog::warn("models update: no serving copy of '{}' to compare the candidate with", r.name);
    } else {
      auto cmp = compare_versions(serving->spec, serving->paths, spec, paths, r.agreement);
      if (!cmp) return fail("comparison with the serving model failed: " + cmp.error());
      if (!cmp->agree)
        return fail("the candidate disagrees with the serving version " + serving->version + ": " +
                    cmp->summary);
      spdlog::info("models update: candidate agrees with serving version {}: {}", serving->version,
                   cmp->summary);
      agreement = *cmp;
    }
  }
  // First update: keep the shipped version installed as `previous`, so rollback can return to
  // it (otherwise the first update could not be undone).
  if (!old && serving && !serving->from_ota && serving->version != r.version &&
      plain_name(serving->version, 64)) {
    const fs::path keep = model_dir / "versions" / serving->version;
    const fs::path kstage = model_dir / fmt::format(".staging-shipped-{}", ::getpid());
    fs::remove_all(kstage, ec);
    fs::create_directories(kstage, ec);
    bool copied = !ec && serving->paths.size() == serving->spec.files.size();
    for (size_t i = 0; copied && i < serving->paths.size(); ++i) {
      fs::copy_file(serving->paths[i], kstage / serving->spec.files[i].file,
                    fs::copy_options::overwrite_existing, ec);
      copied = !ec;
    }
    nlohmann::json kmeta = {{"name", r.name},
                            {"version", serving->version},
                            {"installed_at", static_cast<int64_t>(std::time(nullptr))},
                            {"source", "shipped"},
                            {"smoke_tested", false}};
    copied = copied && write_text(kstage / "manifest.yaml", emit_spec(serving->spec)).ok() &&
             write_text(kstage / "meta.json", kmeta.dump(2) + "\n").ok();
    if (copied) {
      fs::remove_all(keep, ec);
      fs::rename(kstage, keep, ec);
      copied = !ec;
    }
    auto kept = copied ? load_version(model_dir, r.name, serving->version)
                       : Result<InstalledModel>::Error("copy failed");
    if (!kept || !verify_files(*kept).ok()) {
      fs::remove_all(kstage, ec);
      fs::remove_all(keep, ec);
      return fail("cannot keep the shipped version " + serving->version +
                  " for rollback: " + (kept ? verify_files(*kept).message() : kept.error()));
    }
  }
  nlohmann::json meta = {{"name", r.name},
                         {"version", r.version},
                         {"installed_at", static_cast<int64_t>(std::time(nullptr))},
                         {"source", !r.manifest_source.empty() ? r.manifest_source : r.file_source},
                         {"smoke_tested", r.smoke_test}};
  if (Status s = write_text(staging / "manifest.yaml", emit_spec(spec)); !s.ok())
    return fail(s.message());
  if (Status s = write_text(staging / "meta.json", meta.dump(2) + "\n"); !s.ok())
    return fail(s.message());

  const fs::path target = model_dir / "versions" / r.version;
  if (old != r.version)
    fs::remove_all(target, ec);  // a stale copy of this version, if any
  else
    fs::rename(target, model_dir / "versions" / (".old-" + r.version), ec);
  fs::rename(staging, target, ec);
  if (ec) return fail(fmt::format("cannot move {} into place: {}", staging.string(), ec.message()));
  fsync_dir(model_dir / "versions");

  if (old && *old != r.version) {
    if (Status s = point_link(model_dir, "previous", fs::path("versions") / *old); !s.ok())
      return fail(s.message());
  } else if (!old && serving && serving->version != r.version &&
             fs::is_directory(model_dir / "versions" / serving->version, ec)) {
    if (Status s = point_link(model_dir, "previous", fs::path("versions") / serving->version);
        !s.ok())
      return fail(s.message());
  }
  if (Status s = point_link(model_dir, "current", fs::path("versions") / r.version); !s.ok())
    return fail(s.message());

  // Keep current and previous only: disk stays bounded over many updates.
  const auto prev = link_version(model_dir / "previous");
  for (const auto& e : fs::directory_iterator(model_dir / "versions", ec)) {
    const std::string v = e.path().filename().string();
    if (v != r.version && (!prev || v != *prev)) fs::remove_all(e.path(), ec);
  }
  spdlog::info("models update: '{}' now at version {}{}", r.name, r.version,
               old ? " (previous " + *old + ")" : "");
  auto installed = load_version(model_dir, r.name, r.version);
  if (installed) installed->agreement = agreement;
  return installed;
}

Result<InstalledModel> ModelStore::rollback(const std::string& name) {
  if (!plain_name(name)) return Result<InstalledModel>::Error("invalid model name '" + name + "'");
  const fs::path model_dir = root_ / name;
  std::error_code ec;
  if (!fs::is_directory(model_dir, ec))
    return Result<InstalledModel>::Error(
        fmt::format("'{}' was never updated: nothing to roll back", name));
  FileLock lock(model_dir / ".lock");
  if (!lock.ok())
    return Result<InstalledModel>::Error("cannot lock " + (model_dir / ".lock").string());
  const auto prev = link_version(model_dir / "previous");
  if (!prev)
    return Result<InstalledModel>::Error(fmt::format("'{}' has no previous version", name));
  auto target = load_version(model_dir, name, *prev);
  if (!target) return target.status();
  // The copy has sat on disk since it was replaced; check it before it serves again.
  if (Status s = verify_files(*target); !s.ok())
    return Result<InstalledModel>::Error("previous version is damaged: " + s.message());
  const auto cur = link_version(model_dir / "current");
  if (Status s = point_link(model_dir, "current", fs::path("versions") / *prev); !s.ok()) return s;
  if (cur) {
    if (Status s = point_link(model_dir, "previous", fs::path("versions") / *cur); !s.ok())
      return s;
  }
  spdlog::info("models rollback: '{}' now at version {}{}", name, *prev,
               cur ? " (was " + *cur + ")" : "");
  return target;
}

Result<InstalledModel> resolve_serving(ModelManager& models, const std::string& name) {
  ModelStore store(models.cache_dir() / "ota");
  if (store.current_version(name)) {
    auto m = store.current(name);
    if (m) return m;
    spdlog::warn("models: OTA version of '{}' unusable ({}); using the manifest copy", name,
                 m.error());
  }
  auto r = models.resolve(name);
  if (!r) return r.status();
  InstalledModel m;
  m.name = name;
  if (r->spec) {
    m.spec = *r->spec;
    m.version = r->spec->version;
  } else {
    m.spec.name = name;
  }
  m.paths = r->paths;
  return m;
}

struct UpdateWatcher::State {
  explicit State(ModelStore s) : store(std::move(s)) {}
  ModelStore store;
  std::vector<std::string> names;
  Callback on_change;
  std::chrono::milliseconds interval{2000};
  std::map<std::string, std::optional<std::string>> seen;
  std::mutex check_mutex;
  std::mutex stop_mutex;
  std::condition_variable stop_cv;
  bool stop = false;
  std::thread thread;
};

UpdateWatcher::UpdateWatcher(ModelStore store, std::vector<std::string> names, Callback on_change,
                             std::chrono::milliseconds interval)
    : state_(std::make_unique<State>(std::move(store))) {
  state_->names = std::move(names);
  state_->on_change = std::move(on_change);
  state_->interval = interval;
  for (const auto& n : state_->names) state_->seen[n] = state_->store.current_version(n);
  state_->thread = std::thread([this] {
    set_thread_name("model-watch");
    std::unique_lock lock(state_->stop_mutex);
    while (!state_->stop_cv.wait_for(lock, state_->interval, [this] { return state_->stop; })) {
      lock.unlock();
      check_now();
      lock.lock();
    }
  });
}

UpdateWatcher::~UpdateWatcher() {
  {
    std::lock_guard lock(state_->stop_mutex);
    state_->stop = true;
  }
  state_->stop_cv.notify_all();
  if (state_->thread.joinable()) state_->thread.join();
}

int UpdateWatcher::check_now() {
  std::lock_guard lock(state_->check_mutex);
  int changed = 0;
  for (const auto& name : state_->names) {
    const auto v = state_->store.current_version(name);
    if (v == state_->seen[name]) continue;
    if (!v) {  // OTA copy removed by hand: keep serving what is loaded
      state_->seen[name] = v;
      continue;
    }
    auto m = state_->store.current(name);
    if (!m) {
      spdlog::warn("models: '{}' changed to {} but cannot be loaded: {}", name, *v, m.error());
      continue;  // retried on the next poll
    }
    state_->seen[name] = v;
    ++changed;
    spdlog::info("models: '{}' switched to version {}", name, *v);
    if (state_->on_change) state_->on_change(*m);
  }
  return changed;
}

}  // namespace ev::ota
