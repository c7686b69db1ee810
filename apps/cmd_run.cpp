// `edgevision run --config FILE`: every camera, the event sinks and the REST server until
// SIGINT/SIGTERM; SIGHUP reloads the configuration. Signals are taken synchronously with
// sigtimedwait() on the main thread (blocked everywhere else), so no handler runs inside
// library code.
#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "commands.hpp"
#include "edgevision/anonymize.hpp"
#include "edgevision/config.hpp"
#include "edgevision/config_edit.hpp"
#include "edgevision/pipeline.hpp"
#include "edgevision/server.hpp"

namespace ev::cli {
namespace {

namespace fs = std::filesystem;

struct RunArgs {
  std::string config;
  bool exit_when_done = false;
  double duration_s = 0;
  int drain_ms = 3000;
};

fs::path default_web_dir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  // Installed layout, then the build tree (<repo>/<build>/bin/edgevision -> <repo>/web).
  for (const fs::path& p :
       {exe.parent_path() / "../share/edgevision/web", exe.parent_path() / "../../web"}) {
    if (fs::exists(p / "index.html", ec)) return p.lexically_normal();
  }
  return {};
}

// The /detect endpoint gets its own anonymizer + detector (the cameras' are busy on their
// threads); built from the same privacy/detection sections.
DetectHandlers detect_handlers(const Config& cfg) {
  ModelManager models(model_manager_options(cfg.models));
  auto ao = anonymizer_options(cfg.privacy, cfg.detection);
  if (ao) use_still_photo_passes(*ao);  // requests are still photos
  auto anonymizer =
      ao ? Anonymizer::create(*ao, models) : Result<std::unique_ptr<Anonymizer>>::Error(ao.error());
  if (!anonymizer) {
    spdlog::warn("POST /detect disabled: {}", anonymizer.error());
    return {};
  }
  auto detector = ObjectDetector::create(detector_params(cfg.detection), models);
  std::shared_ptr<ObjectDetector> det;
  if (detector) {
    det = std::move(*detector);
  } else {
    spdlog::warn("POST /detect will only anonymize: {}", detector.error());
  }
  return make_detect_handlers(std::shared_ptr<Anonymizer>(std::move(*anonymizer)), det);
}

// The /detect models load on the first request, not at start: a service whose API is never
// asked to detect pays no memory for them (the photo person pass at 832x832 alone held 47 MB
// of a REST-only service's RSS: 166.6 vs 119.4 MB, bench/README.md).
DetectHandlers lazy_detect_handlers(const Config& cfg) {
  struct Lazy {
    Config cfg;
    std::once_flag once;
    DetectHandlers real;
    const DetectHandlers& get() {
      std::call_once(once, [this] { real = detect_handlers(cfg); });
      return real;
    }
  };
  auto lazy = std::make_shared<Lazy>();
  lazy->cfg = cfg;
  DetectHandlers h;
  h.anonymize = [lazy](cv::Mat& bgr) -> Result<int> {
    const DetectHandlers& real = lazy->get();
    // Fails closed: no face detector, no image (the load failure was logged once).
    if (!real.valid()) return Result<int>::Error("no face detector could be loaded");
    return real.anonymize(bgr);
  };
  h.detect = [lazy](const cv::Mat& bgr) -> Result<std::vector<Detection>> {
    const DetectHandlers& real = lazy->get();
    if (!real.detect) return std::vector<Detection>{};  // anonymize only (logged at load)
    return real.detect(bgr);
  };
  return h;
}

int run_service(const RunArgs& args, const GlobalOptions& global) {
  auto cfg = global.load_config(args.config);
  if (!cfg) {
    spdlog::error("{}", cfg.error());
    return 1;
  }
  // Block the signals before any thread exists so that every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // glibc gives every thread that allocates its own malloc arena (up to 8 per core), and each
  // arena keeps freed frame buffers for reuse: with 4 threads per camera that held 7-9% of the
  // service's RSS. Two arenas are enough on an edge box (bench/README.md); MALLOC_ARENA_MAX in
  // the environment still decides.
  if (!std::getenv("MALLOC_ARENA_MAX")) mallopt(M_ARENA_MAX, 2);

  auto service = Service::create(*cfg);
  if (!service) {
    spdlog::error("{}", service.error());
    return 1;
  }
  if (Status st = (*service)->start(); !st) {
    spdlog::error("{}", st.message());
    return 1;
  }
  // Every camera failed to start (a model that cannot load, say): running would only look
  // healthy. Partial failures keep running and show in /health as degraded.
  if (const auto h = (*service)->health(); h.value("status", std::string()) == "failed") {
    spdlog::error("nothing could start: {}", h.value("reason", std::string("no camera runs")));
    (*service)->stop(args.drain_ms);
    return 1;
  }

  std::unique_ptr<Server> server;
  if (cfg->api.enabled) {
    ServerParams sp;
    sp.listen_address = cfg->api.listen;
    sp.port = cfg->api.port;
    sp.token = cfg->api.token;
    sp.max_body_bytes = cfg->api.max_body_bytes;
    sp.web_dir = cfg->api.web_dir.empty() ? default_web_dir() : cfg->api.web_dir;
    auto started = Server::start(sp, **service, lazy_detect_handlers(*cfg));
    if (!started) {
      spdlog::error("api: {}", started.error());
      (*service)->stop(args.drain_ms);
      return 1;
    }
    server = std::move(*started);
    // The zone editor saves into the file this service was started from, then reloads it
    // through the SIGHUP path below (the same validation and camera swap as an operator's HUP).
    SceneEditor editor;
    editor.writable = [file = args.config] { return config_file_writable(file); };
    editor.save = [file = args.config](const std::string& camera, const nlohmann::json& scene) {
      if (Status st = save_camera_scene(file, camera, scene); !st) return st;
      ::kill(::getpid(), SIGHUP);
      return Status::Ok();
    };
    server->set_scene_editor(std::move(editor));
    spdlog::info("api listening on http://{}:{}/", server->address(), server->port());
  }

  const auto t0 = std::chrono::steady_clock::now();
  int exit_code = 0;
  for (;;) {
    timespec tick{0, 200 * 1000 * 1000};
    const int sig = sigtimedwait(&signals, nullptr, &tick);
    if (sig == SIGINT || sig == SIGTERM) {
      spdlog::info("{} received, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
      break;
    }
    if (sig == SIGHUP) {
      spdlog::info("SIGHUP received, reloading {}", args.config);
      auto next = global.load_config(args.config);
      if (!next) {
        spdlog::error("reload refused, keeping the running configuration: {}", next.error());
      } else {
        (*service)->reload(*next);
      }
      continue;
    }
    if (args.exit_when_done && (*service)->all_finished()) {
      spdlog::info("all sources ended");
      break;
    }
    if (args.duration_s > 0 &&
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() >=
            args.duration_s) {
      break;
    }
  }
  if (server) server->stop();
  (*service)->stop(args.drain_ms);
  return exit_code;
}

}  // namespace

void add_run_command(CLI::App& app, GlobalOptions& global) {
  auto args = std::make_shared<RunArgs>();
  auto* cmd = app.add_subcommand("run", "run the service: cameras, events, REST API, dashboard");
  cmd->add_option("-c,--config", args->config, "YAML configuration (docs/configuration.md)")
      ->required();
  cmd->add_flag("--exit-when-done", args->exit_when_done,
                "exit once every camera's source has ended (files without loop)");
  cmd->add_option("--duration", args->duration_s,
                  "exit after this many seconds (0: run until signalled)");
  cmd->add_option("--drain-ms", args->drain_ms,
                  "on exit, how long to keep delivering spooled events (the rest stays spooled)");
  cmd->callback([args, &global] { global.exit_code = run_service(*args, global); });
}

}  // namespace ev::cli
