// Finding model files: --models-dir folders first (what the operator put there wins), then
// the models shipped beside the binary, then the download cache. A copy whose hash is wrong is
// never used, wherever it is.
#include <pwd.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>

#include "edgevision/models.hpp"
#include "models/detail.hpp"

namespace ev {
namespace fs = std::filesystem;

namespace {

// Sub-folder levels searched below a models dir: dir/a/b/c/d/file at most.
constexpr int kMaxSearchDepth = 4;

fs::path default_cache_dir() {
  if (const char* e = std::getenv("EDGEVISION_CACHE"); e && *e) return fs::path(e);
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x)
    return fs::path(x) / "edgevision" / "models";
  const char* home = std::getenv("HOME");
  if (!home || !*home) {
    if (const passwd* pw = getpwuid(getuid()); pw && pw->pw_dir) home = pw->pw_dir;
  }
  if (!home || !*home) return fs::path(".edgevision-cache") / "models";
  return fs::path(home) / ".cache" / "edgevision" / "models";
}

std::string join_paths(const std::vector<fs::path>& paths) {
  std::string out;
  for (const auto& p : paths) out += (out.empty() ? "" : ", ") + p.string();
  return out;
}

std::string known_names(const Manifest& manifest) {
  std::string out;
  for (const auto& m : manifest.models) out += (out.empty() ? "" : ", ") + m.name;
  return out;
}

// Files named `file_name` under `dir`, shallowest first, then by path, so the result does
// not depend on directory iteration order.
std::vector<fs::path> find_in_dir(const fs::path& dir, const std::string& file_name) {
  std::vector<std::pair<int, fs::path>> found;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return {};
  // Following directory symlinks is safe here because the depth limit also bounds loops.
  fs::recursive_directory_iterator it(dir,
                                      fs::directory_options::skip_permission_denied |
                                          fs::directory_options::follow_directory_symlink,
                                      ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const fs::directory_entry& entry = *it;
    std::error_code type_ec;
    if (entry.is_directory(type_ec)) {
      if (it.depth() >= kMaxSearchDepth) it.disable_recursion_pending();
      continue;
    }
    if (entry.path().filename() == file_name && entry.is_regular_file(type_ec))
      found.emplace_back(it.depth(), entry.path());
  }
  if (ec) spdlog::debug("models dir {}: {}", dir.string(), ec.message());
  std::sort(found.begin(), found.end());
  std::vector<fs::path> out;
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

// Empty string when `path` is a valid copy of `file`, else why not.
std::string check_copy(const fs::path& path, const ModelFile& file, std::string* actual_sha) {
  std::error_code ec;
  const auto size = static_cast<int64_t>(fs::file_size(path, ec));
  if (ec) return "cannot stat: " + ec.message();
  if (file.size > 0 && size != file.size) {
    if (actual_sha) *actual_sha = fmt::format("size {}", size);
    return fmt::format("size {} bytes, expected {}", size, file.size);
  }
  if (file.sha256.empty()) return {};
  auto sha = models_detail::sha256_file_cached(path);
  if (!sha) return sha.error();
  if (actual_sha) *actual_sha = *sha;
  if (*sha != file.sha256) return fmt::format("sha256 {}, expected {}", *sha, file.sha256);
  return {};
}

ModelFileStatus file_status(const ModelFile& file, const std::vector<fs::path>& dirs,
                            const fs::path& cache) {
  ModelFileStatus st;
  st.file = &file;
  std::vector<fs::path> candidates;
  for (const auto& d : dirs)
    for (auto& p : find_in_dir(d, file.file)) candidates.push_back(std::move(p));
  std::error_code ec;
  if (fs::is_regular_file(cache / file.file, ec)) candidates.push_back(cache / file.file);
  for (const auto& path : candidates) {
    std::string actual;
    const std::string why = check_copy(path, file, &actual);
    if (why.empty()) {
      st.state = ModelFileStatus::State::present;
      st.path = path;
      return st;
    }
    spdlog::warn("ignoring {}: {}", path.string(), why);
    if (st.rejected.empty()) {
      st.state = ModelFileStatus::State::bad_hash;
      st.path = path;
      st.actual_sha256 = actual;
    }
    st.rejected.emplace_back(path, why);
  }
  return st;
}

std::string describe_problem(const ModelFileStatus& st) {
  if (st.state == ModelFileStatus::State::missing) return st.file->file + ": missing";
  std::string out = st.file->file + ": bad copies";
  for (const auto& [path, why] : st.rejected) out += fmt::format(" [{}: {}]", path.string(), why);
  return out;
}

}  // namespace

const char* to_string(ModelFileStatus::State state) {
  switch (state) {
    case ModelFileStatus::State::present:
      return "present";
    case ModelFileStatus::State::missing:
      return "missing";
    case ModelFileStatus::State::bad_hash:
      return "bad-hash";
  }
  return "unknown";
}

ModelManager::ModelManager(ModelManagerOptions options, const Manifest* manifest)
    : options_(std::move(options)), manifest_(manifest ? manifest : &builtin_manifest()) {
  if (options_.use_env) {
    if (const char* env = std::getenv("EDGEVISION_MODELS"); env && *env) {
      const std::string list = env;
      size_t start = 0;
      while (start <= list.size()) {
        const size_t end = std::min(list.find(':', start), list.size());
        if (end > start) options_.model_dirs.emplace_back(list.substr(start, end - start));
        start = end + 1;
      }
    }
  }
  cache_dir_ = options_.cache_dir.empty() ? default_cache_dir() : options_.cache_dir;
  if (options_.use_shipped) {
    const char* env = options_.use_env ? std::getenv("EDGEVISION_SHIPPED_MODELS") : nullptr;
    const fs::path dir = env ? fs::path(env) : shipped_models_dir();
    if (!dir.empty()) shipped_dirs_.push_back(dir);
  }
}

fs::path shipped_models_dir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec || exe.empty()) return {};
  // Installed: <prefix>/bin/edgevision -> <prefix>/share/edgevision/models. The build tree
  // copies the shipped models to the same place relative to bin/ (and tests/).
  return exe.parent_path().parent_path() / "share" / "edgevision" / "models";
}

std::vector<fs::path> ModelManager::search_dirs() const {
  std::vector<fs::path> dirs = options_.model_dirs;
  dirs.insert(dirs.end(), shipped_dirs_.begin(), shipped_dirs_.end());
  return dirs;
}

Result<std::vector<ModelFileStatus>> ModelManager::inspect(const std::string& name) const {
  const ModelSpec* spec = manifest_->find(name);
  if (!spec)
    return Result<std::vector<ModelFileStatus>>::Error(
        fmt::format("unknown model '{}' (known: {})", name, known_names(*manifest_)));
  std::vector<ModelFileStatus> out;
  const std::vector<fs::path> dirs = search_dirs();
  for (const auto& f : spec->files) out.push_back(file_status(f, dirs, cache_dir_));
  return out;
}

Result<ResolvedModel> ModelManager::locate(const std::string& name) const {
  auto statuses = inspect(name);
  if (!statuses) return statuses.status();
  ResolvedModel r;
  r.spec = manifest_->find(name);
  std::vector<std::string> missing;
  for (const auto& st : *statuses) {
    if (st.state == ModelFileStatus::State::present) {
      r.paths.push_back(st.path);
    } else {
      missing.push_back(st.state == ModelFileStatus::State::missing
                            ? st.file->file
                            : st.file->file + " (only copies with a wrong hash)");
    }
  }
  if (!missing.empty())
    return Result<ResolvedModel>::Error(fmt::format(
        "model '{}' not available: {} not found in models dirs [{}] or cache [{}]", name,
        fmt::join(missing, ", "), join_paths(search_dirs()), cache_dir_.string()));
  return r;
}

namespace {

Result<fs::path> fetch_into_cache(const ModelFile& file, const fs::path& cache,
                                  const ProgressFn& progress) {
  if (file.sources.empty())
    return Result<fs::path>::Error(fmt::format("no download source for {}", file.file));
  const fs::path dest = cache / file.file;
  std::vector<std::string> errors;
  for (const auto& source : file.sources) {
    Status s = fetch_file(source, dest, file.sha256, file.size, progress);
    if (s.ok()) return dest;
    // Returned below with every source's reason; offline this would be one line per source.
    spdlog::debug("{}", s.message());
    errors.push_back(s.message());
  }
  return Result<fs::path>::Error(fmt::format("{}", fmt::join(errors, "; ")));
}

}  // namespace

Result<ResolvedModel> ModelManager::pull(const std::string& name, const ProgressFn& progress) {
  const ModelSpec* spec = manifest_->find(name);
  if (!spec)
    return Result<ResolvedModel>::Error(
        fmt::format("unknown model '{}' (known: {})", name, known_names(*manifest_)));
  ResolvedModel r;
  r.spec = spec;
  std::vector<std::string> errors;
  for (const auto& f : spec->files) {
    const fs::path cached = cache_dir_ / f.file;
    std::error_code ec;
    if (fs::is_regular_file(cached, ec) && check_copy(cached, f, nullptr).empty()) {
      spdlog::debug("{} already in cache {}", f.file, cache_dir_.string());
      r.paths.push_back(cached);
      continue;
    }
    if (!options_.allow_download) {
      errors.push_back(f.file + ": not in cache and downloads are disabled");
      continue;
    }
    auto fetched = fetch_into_cache(f, cache_dir_, progress);
    if (!fetched) {
      errors.push_back(fetched.error());
      continue;
    }
    r.paths.push_back(*fetched);
  }
  if (!errors.empty())
    return Result<ResolvedModel>::Error(
        fmt::format("cannot pull model '{}': {}", name, fmt::join(errors, "; ")));
  return r;
}

Result<ResolvedModel> ModelManager::resolve(const std::string& name_or_path,
                                            const ProgressFn& progress) {
  std::error_code ec;
  const fs::path given(name_or_path);
  const ModelSpec* spec = nullptr;
  ResolvedModel r;
  size_t first_needed = 0;
  if (!name_or_path.empty() && fs::is_regular_file(given, ec)) {
    // A bare path: use it as is (the caller chose it); the manifest only adds pre-processing
    // and companions when the file name is one it knows.
    r.paths.push_back(given);
    for (const auto& m : manifest_->models)
      if (!m.files.empty() && m.files[0].file == given.filename().string()) {
        spec = &m;
        break;
      }
    if (!spec) return r;
    r.spec = spec;
    first_needed = 1;
  } else {
    spec = manifest_->find(name_or_path);
    if (!spec) {
      const bool looks_like_path =
          name_or_path.find('/') != std::string::npos || given.has_extension();
      return Result<ResolvedModel>::Error(
          fmt::format("unknown model '{}'{} (known: {})", name_or_path,
                      looks_like_path ? " (no such file, and no manifest entry of that name)" : "",
                      known_names(*manifest_)));
    }
    r.spec = spec;
  }

  std::vector<fs::path> dirs = search_dirs();
  if (first_needed == 1)
    dirs.insert(dirs.begin(), given.has_parent_path() ? given.parent_path() : ".");
  std::vector<const ModelFile*> missing;
  r.paths.resize(spec->files.size());
  for (size_t i = first_needed; i < spec->files.size(); ++i) {
    ModelFileStatus st = file_status(spec->files[i], dirs, cache_dir_);
    if (st.state == ModelFileStatus::State::present)
      r.paths[i] = st.path;
    else
      missing.push_back(&spec->files[i]);
  }
  if (missing.empty()) return r;

  std::vector<std::string> names;
  for (const auto* f : missing) names.push_back(f->file);
  const std::string not_found =
      fmt::format("model '{}' not available: {} not found in models dirs [{}] or cache [{}]",
                  spec->name, fmt::join(names, ", "), join_paths(dirs), cache_dir_.string());
  if (!options_.allow_download)
    return Result<ResolvedModel>::Error(not_found + ", and downloads are disabled");
  for (const auto* f : missing) {
    auto fetched = fetch_into_cache(*f, cache_dir_, progress);
    if (!fetched)
      return Result<ResolvedModel>::Error(not_found + ", and download failed: " + fetched.error());
    r.paths[static_cast<size_t>(f - spec->files.data())] = *fetched;
  }
  return r;
}

Status ModelManager::verify(const std::string& name) const {
  auto statuses = inspect(name);
  if (!statuses) return statuses.status();
  std::vector<std::string> problems;
  for (const auto& st : *statuses)
    if (st.state != ModelFileStatus::State::present) problems.push_back(describe_problem(st));
  if (problems.empty()) return Status::Ok();
  return Status::Error(fmt::format("model '{}': {}", name, fmt::join(problems, "; ")));
}

}  // namespace ev
