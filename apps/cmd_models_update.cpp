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
  bool no_check = false;
  bool json = false;
};

// The shipped copy the service uses while nothing came through OTA: only files already on
// disk with the right hash (never a download just to compare).
std::vector<std::filesystem::path> shipped_files(const ModelManager& manager,
                                                 const std::string& name) {
  auto statuses = manager.inspect(name);
  if (!statuses) return {};
  std::vector<std::filesystem::path> paths;
  for (const auto& st : *statuses) {
    if (st.state != ModelFileStatus::State::present) return {};
    paths.push_back(st.path);
  }
  return paths;
}

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
  if (r->agreement)
    out["check"] = {{"method", r->agreement->method},
                    {"images", r->agreement->images},
                    {"image_set", r->agreement->image_set},
                    {"serving_detections", r->agreement->serving_detections},
                    {"candidate_detections", r->agreement->candidate_detections},
                    {"matched", r->agreement->matched},
                    {"f1", r->agreement->f1},
                    {"sqnr_db", r->agreement->sqnr_db},
                    {"serving_faces", r->agreement->serving_faces},
                    {"serving_coverage", r->agreement->serving_coverage},
                    {"candidate_coverage", r->agreement->candidate_coverage},
                    {"summary", r->agreement->summary}};
  if (json) {
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << fmt::format(
        "{} is now at version {}{}\n", r->name, r->version,
        out["previous"].is_null()
            ? ""
            : fmt::format(" (previous: {})", out["previous"].get<std::string>()));
    if (r->agreement)
      std::cout << "checked against the serving version: " << r->agreement->summary << "\n";
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
  update->add_option("--check-images", update_args->request.agreement.images,
                     "folder of real images the candidate is compared on with the serving "
                     "model (default: a built-in synthetic set)");
  update->add_option("--min-f1", update_args->request.agreement.min_f1,
                     "detectors: least F1 of the candidate's detections against the serving "
                     "model's (class + IoU >= 0.5; default 0.7)");
  update->add_option("--min-sqnr", update_args->request.agreement.min_sqnr_db,
                     "other models: least raw-output SQNR against the serving model, dB "
                     "(default 12)");
  update->add_option("--max-face-drop", update_args->request.agreement.max_face_drop,
                     "face models: largest drop of face coverage (of the faces the serving model "
                     "finds on --check-images) below the serving model's own, points (default 2)");
  update->add_flag("--no-check", update_args->no_check,
                   "skip the comparison with the serving model (not recommended)");
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
    req.agreement.enabled = !update_args->no_check;
    if (!store.current_version(req.name)) req.shipped_paths = shipped_files(manager, req.name);
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
