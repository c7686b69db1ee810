// `edgevision models list|pull|verify`: what the manifest knows, what is on this machine and
// where, downloads into the cache, and integrity checks. Results go to stdout (tables or
// JSON) so they can be piped; logs and errors go to stderr.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "edgevision/ota.hpp"
#include "edgevision/progress.hpp"

namespace ev::cli {
namespace {

struct ModelsArgs {
  bool json = false;
  bool all = false;
  std::vector<std::string> names;
};

using State = ModelFileStatus::State;

// One word for a whole model: the worst state of its files.
State overall(const std::vector<ModelFileStatus>& files) {
  State s = State::present;
  for (const auto& f : files) {
    if (f.state == State::bad_hash) return State::bad_hash;
    if (f.state == State::missing) s = State::missing;
  }
  return s;
}

std::string where(const std::vector<ModelFileStatus>& files) {
  const State s = overall(files);
  if (s == State::present) return files.front().path.parent_path().string();
  std::vector<std::string> parts;
  for (const auto& f : files) {
    if (f.state == State::missing) parts.push_back(f.file->file + " missing");
    if (f.state == State::bad_hash) parts.push_back(f.path.string() + " bad hash");
  }
  return fmt::format("{}", fmt::join(parts, ", "));
}

int run_list(const ModelsArgs& args, const GlobalOptions& global) {
  ModelManager mm(global.model_manager_options());
  nlohmann::json out = nlohmann::json::array();
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "TASK", "VERSION", "SERVING", "FILES", "SIZE", "STATUS", "WHERE"}};
  // The version the service loads: an OTA-installed one wins over the shipped manifest entry
  // (ota::resolve_serving), so list says what serves, not only what shipped.
  const ota::ModelStore store(mm.cache_dir() / "ota");
  for (const auto& spec : mm.manifest().models) {
    const auto ota_current = store.current_version(spec.name);
    const auto ota_previous = store.previous_version(spec.name);
    const std::string serving = ota_current ? *ota_current + " (ota)" : spec.version;
    auto statuses = mm.inspect(spec.name);
    if (!statuses) {
      spdlog::error("{}", statuses.error());
      return 1;
    }
    int64_t size = 0;
    for (const auto& f : spec.files) size += f.size;
    const State state = overall(*statuses);
    rows.push_back({spec.name, spec.task, spec.version, serving, std::to_string(spec.files.size()),
                    format_bytes(static_cast<double>(size)), to_string(state), where(*statuses)});
    nlohmann::json files = nlohmann::json::array();
    for (const auto& st : *statuses) {
      nlohmann::json rejected = nlohmann::json::array();
      for (const auto& [path, why] : st.rejected)
        rejected.push_back({{"path", path.string()}, {"reason", why}});
      files.push_back({{"file", st.file->file},
                       {"sha256", st.file->sha256},
                       {"size", st.file->size},
                       {"sources", st.file->sources},
                       {"status", to_string(st.state)},
                       {"path", st.state == State::present ? st.path.string() : ""},
                       {"rejected", rejected}});
    }
    out.push_back({{"name", spec.name},
                   {"version", spec.version},
                   {"serving_version", ota_current ? *ota_current : spec.version},
                   {"serving_from_ota", ota_current.has_value()},
                   {"previous_version",
                    ota_previous ? nlohmann::json(*ota_previous) : nlohmann::json(nullptr)},
                   {"task", spec.task},
                   {"backend", spec.backend},
                   {"decoder", spec.decoder},
                   {"license", spec.license},
                   {"description", spec.description},
                   {"size", size},
                   {"status", to_string(state)},
                   {"files", files}});
  }
  if (args.json) {
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::vector<size_t> width(rows.front().size(), 0);
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i)
      line += i + 1 == r.size() ? r[i] : fmt::format("{:<{}}  ", r[i], width[i]);
    std::cout << line << "\n";
  }
  std::vector<std::string> dirs;
  for (const auto& d : mm.model_dirs()) dirs.push_back(d.string());
  std::cout << fmt::format("models dirs: [{}]  cache: {}\n", fmt::join(dirs, ", "),
                           mm.cache_dir().string());
  return 0;
}

int run_pull(const ModelsArgs& args, const GlobalOptions& global) {
  ModelManager mm(global.model_manager_options());
  std::vector<std::string> names = args.names;
  if (args.all)
    for (const auto& spec : mm.manifest().models)
      if (std::find(names.begin(), names.end(), spec.name) == names.end())
        names.push_back(spec.name);
  if (names.empty()) {
    spdlog::error("models pull: give model names or --all");
    return 2;
  }
  if (global.offline) {
    spdlog::error("models pull: downloads are disabled by --offline");
    return 1;
  }
  int failures = 0;
  for (const auto& name : names) {
    std::unique_ptr<ProgressBar> bar;
    int64_t last = 0;
    // One bar per file: a model's files arrive one after the other, so `done` going back
    // to a smaller value means the next file started.
    auto progress = [&](int64_t done, int64_t total) {
      if (!bar || done < last) {
        if (bar) bar->finish();
        bar = std::make_unique<ProgressBar>(name, total, "B");
      }
      last = done;
      bar->set_total(total);
      bar->update(done);
    };
    auto r = mm.pull(name, progress);
    if (bar) bar->finish();
    if (!r) {
      spdlog::error("{}", r.error());
      ++failures;
      continue;
    }
    for (const auto& p : r->paths) std::cout << fmt::format("{}  {}\n", name, p.string());
  }
  return failures ? 1 : 0;
}

int run_verify(const ModelsArgs& args, const GlobalOptions& global) {
  ModelManager mm(global.model_manager_options());
  const bool explicit_names = !args.names.empty();
  std::vector<std::string> names = args.names;
  if (!explicit_names)
    for (const auto& spec : mm.manifest().models) names.push_back(spec.name);
  size_t w = 0;
  for (const auto& name : names) w = std::max(w, name.size());
  int bad = 0;
  for (const auto& name : names) {
    auto statuses = mm.inspect(name);
    if (!statuses) {
      spdlog::error("{}", statuses.error());
      ++bad;
      continue;
    }
    const bool none_here = std::all_of(statuses->begin(), statuses->end(),
                                       [](const auto& s) { return s.state == State::missing; });
    // Without names, "verify" checks what is installed; a model with no file here is not
    // a failure, only a model named on the command line must be complete.
    if (none_here && !explicit_names) {
      std::cout << fmt::format("{:<9} {:<{}}  (not installed)\n", "skip", name, w);
      continue;
    }
    for (const auto& st : *statuses) {
      switch (st.state) {
        case State::present:
          std::cout << fmt::format("{:<9} {:<{}}  {}  {}\n", "ok", name, w, st.file->file,
                                   st.path.string());
          break;
        case State::missing:
          std::cout << fmt::format("{:<9} {:<{}}  {}\n", "MISSING", name, w, st.file->file);
          ++bad;
          break;
        case State::bad_hash:
          for (const auto& [path, why] : st.rejected)
            std::cout << fmt::format("{:<9} {:<{}}  {}  {}: {}\n", "BAD-HASH", name, w,
                                     st.file->file, path.string(), why);
          ++bad;
          break;
      }
    }
  }
  if (bad) {
    spdlog::error("models verify: {} problem(s): missing files, wrong hashes or unknown names",
                  bad);
    return 1;
  }
  return 0;
}

}  // namespace

void add_models_command(CLI::App& app, GlobalOptions& global) {
  auto* models = app.add_subcommand("models", "list, download and verify models from the manifest");
  models->require_subcommand(1);

  auto list_args = std::make_shared<ModelsArgs>();
  auto* list = models->add_subcommand("list", "models in the manifest and where their files are");
  list->add_flag("--json", list_args->json, "machine-readable output");
  list->callback([list_args, &global] { global.exit_code = run_list(*list_args, global); });

  auto pull_args = std::make_shared<ModelsArgs>();
  auto* pull = models->add_subcommand("pull", "download models into the cache (hash-checked)");
  pull->add_option("names", pull_args->names, "model names");
  pull->add_flag("--all", pull_args->all, "every model in the manifest");
  pull->callback([pull_args, &global] { global.exit_code = run_pull(*pull_args, global); });

  auto verify_args = std::make_shared<ModelsArgs>();
  auto* verify = models->add_subcommand(
      "verify",
      "check the hashes of model files; fails if a file is bad or a named model is incomplete");
  verify->add_option("names", verify_args->names, "model names (default: every installed model)");
  verify->callback([verify_args, &global] { global.exit_code = run_verify(*verify_args, global); });
}

}  // namespace ev::cli
