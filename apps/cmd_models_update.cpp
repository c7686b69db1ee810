// `edgevision models update NAME --version V` and `edgevision models rollback NAME`: OTA model
// updates into the cache (src/ota). They are added under the `models` command of cmd_models.cpp.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <iostream>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "edgevision/ota.hpp"

namespace ev::cli {
namespace {

struct UpdateArgs {
  ota::UpdateRequest request;
  bool no_smoke = false;
  bool json = false;
};

nlohmann::json describe(const ota::InstalledModel& m, const ota::ModelStore& store) {
  nlohmann::json files = nlohmann::json::array();
  for (const auto& p : m.paths) files.push_back(p.string());
  const auto prev = store.previous_version(m.name);
  return {{"name", m.name},
          {"version", m.version},
          {"previous", prev ? nlohmann::json(*prev) : nlohmann::json(nullptr)},
          {"files", files}};
}

int finish(const Result<ota::InstalledModel>& r, const ota::ModelStore& store, bool json,
           const char* verb) {
  if (!r) {
    if (json) std::cout << nlohmann::json{{"ok", false}, {"error", r.error()}}.dump(2) << "\n";
    spdlog::error("models {}: {}", verb, r.error());
    return 1;
  }
  nlohmann::json out = describe(*r, store);
  out["ok"] = true;
  if (json) {
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << fmt::format(
        "{} is now at version {}{}\n", r->name, r->version,
        out["previous"].is_null()
            ? ""
            : fmt::format(" (previous: {})", out["previous"].get<std::string>()));
  }
  return 0;
}

}  // namespace

void add_models_update_command(CLI::App& app, GlobalOptions& global) {
  CLI::App* models = nullptr;
  try {
    models = app.get_subcommand("models");
  } catch (const CLI::OptionNotFound&) {
    models = app.add_subcommand("models", "model management");
    models->require_subcommand(1);
  }

  auto update_args = std::make_shared<UpdateArgs>();
  auto* update = models->add_subcommand(
      "update",
      "install another version of a model: download to a staging folder, verify sha256, run a "
      "smoke inference, then switch atomically (the running service picks it up)");
  update->add_option("name", update_args->request.name, "model name")->required();
  update->add_option("--version", update_args->request.version, "version to install")->required();
  update->add_option("--manifest", update_args->request.manifest_source,
                     "release manifest (https://, http://, file:// or a path) that lists NAME at "
                     "VERSION; default $EDGEVISION_UPDATE_MANIFEST");
  update->add_option("--url", update_args->request.file_source,
                     "or: the new model file itself (URL or path); needs --sha256");
  update->add_option("--sha256", update_args->request.sha256, "expected sha256 of --url");
  update->add_option("--size", update_args->request.size, "expected size in bytes of --url");
  update->add_flag("--no-smoke-test", update_args->no_smoke,
                   "skip the test inference (not recommended)");
  update->add_flag("--json", update_args->json, "print the result as JSON");
  update->callback([update_args, &global] {
    ota::UpdateRequest req = update_args->request;
    req.smoke_test = !update_args->no_smoke;
    if (req.manifest_source.empty() && req.file_source.empty())
      if (const char* env = std::getenv("EDGEVISION_UPDATE_MANIFEST"); env && *env)
        req.manifest_source = env;
    if (global.offline && (req.manifest_source.find("://") != std::string::npos ||
                           req.file_source.find("://") != std::string::npos ||
                           (req.manifest_source.empty() && req.file_source.empty()))) {
      spdlog::error("models update: --offline forbids downloads");
      global.exit_code = 1;
      return;
    }
    ModelManager manager(global.model_manager_options());
    ota::ModelStore store(manager.cache_dir() / "ota");
    auto r = store.update(req, manager.manifest());
    global.exit_code = finish(r, store, update_args->json, "update");
  });

  auto rollback_name = std::make_shared<std::string>();
  auto rollback_json = std::make_shared<bool>(false);
  auto* rollback = models->add_subcommand(
      "rollback", "switch a model back to the version it had before the last update");
  rollback->add_option("name", *rollback_name, "model name")->required();
  rollback->add_flag("--json", *rollback_json, "print the result as JSON");
  rollback->callback([rollback_name, rollback_json, &global] {
    ModelManager manager(global.model_manager_options());
    ota::ModelStore store(manager.cache_dir() / "ota");
    global.exit_code = finish(store.rollback(*rollback_name), store, *rollback_json, "rollback");
  });
}

}  // namespace ev::cli
