// `edgevision diagnose [--json]`: what an integrator needs to know about a box before blaming
// edgevision: model files, inference runtimes, OpenCV build, CPU features, memory and disk.
#include <sched.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <thread>

#include <onnxruntime_cxx_api.h>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/videoio/registry.hpp>

#include "commands.hpp"
#include "edgevision/backend.hpp"
#include "edgevision/ota.hpp"

namespace ev::cli {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

std::string trim(std::string s) {
  const size_t b = s.find_first_not_of(" \t");
  const size_t e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

bool readable(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  char c;
  return in && in.read(&c, 1);
}

json models_report(const ModelManager& manager, bool& problems) {
  json out = json::array();
  ota::ModelStore store(manager.cache_dir() / "ota");
  for (const auto& spec : manager.manifest().models) {
    json m = {{"name", spec.name}, {"version", spec.version}, {"task", spec.task}};
    auto statuses = manager.inspect(spec.name);
    json files = json::array();
    bool all_present = true;
    if (statuses) {
      for (const auto& st : *statuses) {
        json f = {{"file", st.file->file}, {"state", to_string(st.state)}};
        if (!st.path.empty()) {
          std::error_code ec;
          f["path"] = st.path.string();
          f["size"] = static_cast<int64_t>(fs::file_size(st.path, ec));
          f["readable"] = readable(st.path);
          if (!f["readable"].get<bool>()) problems = true;
        }
        f["sha256_expected"] = st.file->sha256;
        if (st.state == ModelFileStatus::State::present) f["sha256_ok"] = true;
        if (st.state == ModelFileStatus::State::bad_hash) {
          f["sha256_ok"] = false;
          f["sha256_actual"] = st.actual_sha256;
          problems = true;  // a damaged copy is worth an exit code; a missing one is normal
        }
        all_present = all_present && st.state == ModelFileStatus::State::present;
        files.push_back(f);
      }
    }
    m["files"] = files;
    m["available"] = all_present;
    if (auto v = store.current_version(spec.name)) {
      m["ota_current"] = *v;
      if (auto p = store.previous_version(spec.name)) m["ota_previous"] = *p;
    }
    out.push_back(m);
  }
  return out;
}

json onnxruntime_report() {
  json providers = json::array();
  try {
    for (const auto& p : Ort::GetAvailableProviders()) providers.push_back(p);
  } catch (const std::exception& e) {
    providers.push_back(std::string("error: ") + e.what());
  }
  return {{"version", onnxruntime_version()}, {"providers", providers}};
}

json opencv_report() {
  json videoio = json::array();
  for (auto api : cv::videoio_registry::getBackends())
    videoio.push_back(cv::videoio_registry::getBackendName(api));
  // A few lines of getBuildInformation() matter for performance and for which streams open.
  json build = json::object();
  std::istringstream info(cv::getBuildInformation());
  std::string line, section;
  static const std::set<std::string> kKeys = {"Baseline",
                                              "Dispatched code generation",
                                              "Parallel framework",
                                              "FFMPEG",
                                              "GStreamer",
                                              "v4l/v4l2",
                                              "Inference Engine",
                                              "ONNX",
                                              "Trace",
                                              "Lapack",
                                              "Eigen",
                                              "OpenCL"};
  while (std::getline(info, line)) {
    if (!line.empty() && line[0] == ' ' && line.size() > 2 && line[2] != ' ' &&
        line.find(':') == line.size() - 1)
      section = trim(line.substr(0, line.size() - 1));
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = trim(line.substr(0, colon));
    const std::string value = trim(line.substr(colon + 1));
    if (kKeys.count(key) && !value.empty() && !build.contains(key)) build[key] = value;
  }
  return {{"version", CV_VERSION},
          {"videoio_backends", videoio},
          {"parallel_framework", build.value("Parallel framework", std::string("unknown"))},
          {"threads", cv::getNumThreads()},
          {"build", build}};
}

json cpu_report() {
  std::ifstream in("/proc/cpuinfo");
  std::string line, model;
  std::set<std::string> flags;
  while (std::getline(in, line)) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = trim(line.substr(0, colon));
    const std::string value = trim(line.substr(colon + 1));
    if ((key == "model name" || key == "Model" || key == "Hardware") && model.empty())
      model = value;
    if (key == "flags" || key == "Features") {
      std::istringstream ss(value);
      for (std::string f; ss >> f;) flags.insert(f);
    }
  }
  // Features that decide which kernels ONNX Runtime / OpenCV can use (INT8 speed above all).
  static const std::vector<std::pair<std::string, std::string>> kFeatures = {
      {"sse4_2", "sse4_2"},     {"avx", "avx"},
      {"avx2", "avx2"},         {"fma", "fma"},
      {"f16c", "f16c"},         {"avx512f", "avx512f"},
      {"avx512bw", "avx512bw"}, {"avx512_vnni", "avx512_vnni"},
      {"avx_vnni", "avx_vnni"}, {"avx512_bf16", "avx512_bf16"},
      {"amx_int8", "amx_int8"}, {"neon", "asimd"},
      {"dotprod", "asimddp"},   {"fp16", "fphp"},
      {"i8mm", "i8mm"},         {"sve", "sve"}};
  json features = json::object();
  for (const auto& [name, flag] : kFeatures)
    if (flags.count(flag) || (name == "neon" && flags.count("neon"))) features[name] = true;
  json present = json::array();
  for (const auto& [name, v] : features.items()) present.push_back(name);
  cpu_set_t set;
  CPU_ZERO(&set);
  const int usable = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 0;
  return {{"model", model},
          {"cores_online", static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN))},
          {"cores_usable", usable},
          {"features", present}};
}

json memory_report() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  int64_t value = 0;
  std::string unit;
  json out = json::object();
  while (in >> key >> value) {
    std::getline(in, unit);
    if (key == "MemTotal:") out["total_bytes"] = value * 1024;
    if (key == "MemAvailable:") out["available_bytes"] = value * 1024;
  }
  return out;
}

json disk_report(const fs::path& cache) {
  // The cache may not exist yet: report the filesystem it would be created on.
  fs::path probe = cache;
  std::error_code ec;
  while (!probe.empty() && !fs::exists(probe, ec)) probe = probe.parent_path();
  json out = {{"cache_dir", cache.string()}, {"exists", fs::exists(cache, ec)}};
  if (probe.empty()) return out;
  const auto space = fs::space(probe, ec);
  if (!ec) {
    out["free_bytes"] = static_cast<int64_t>(space.available);
    out["total_bytes"] = static_cast<int64_t>(space.capacity);
  }
  out["writable"] = ::access(probe.c_str(), W_OK) == 0;
  return out;
}

std::string gib(const json& v) {
  return v.is_number() ? fmt::format("{:.1f} GiB", v.get<double>() / (1 << 30)) : "?";
}

void print_human(const json& r) {
  std::cout << "models (" << r["models_dirs"].size() << " models dirs, cache "
            << r["disk"]["cache_dir"].get<std::string>() << ")\n";
  for (const auto& m : r["models"]) {
    std::string state = m["available"].get<bool>() ? "ok" : "";
    for (const auto& f : m["files"])
      if (f["state"] != "present")
        state += (state.empty() ? "" : ", ") + f["file"].get<std::string>() + " " +
                 f["state"].get<std::string>();
    std::cout << fmt::format(
        "  {:<22} {:<20} {}{}\n", m["name"].get<std::string>(), m["version"].get<std::string>(),
        state,
        m.contains("ota_current") ? " (OTA: " + m["ota_current"].get<std::string>() + ")" : "");
  }
  std::cout << "onnxruntime " << r["onnxruntime"]["version"].get<std::string>() << ", providers "
            << r["onnxruntime"]["providers"].dump() << "\n";
  const auto& cv = r["opencv"];
  std::cout << "opencv " << cv["version"].get<std::string>() << ", parallel "
            << cv["parallel_framework"].get<std::string>() << " (" << cv["threads"]
            << " threads), videoio " << cv["videoio_backends"].dump() << "\n";
  for (const auto& [k, v] : cv["build"].items())
    std::cout << "  " << k << ": " << v.get<std::string>() << "\n";
  std::cout << "cpu " << r["cpu"]["model"].get<std::string>() << ", " << r["cpu"]["cores_usable"]
            << "/" << r["cpu"]["cores_online"] << " cores usable, features "
            << r["cpu"]["features"].dump() << "\n";
  std::cout << "memory " << gib(r["memory"]["available_bytes"]) << " available of "
            << gib(r["memory"]["total_bytes"]) << "\n";
  std::cout << "disk (cache) " << gib(r["disk"]["free_bytes"]) << " free of "
            << gib(r["disk"]["total_bytes"]) << "\n";
  std::cout << (r["ok"].get<bool>() ? "no problems found\n" : "PROBLEMS found (see above)\n");
}

}  // namespace

void add_diagnose_command(CLI::App& app, GlobalOptions& global) {
  auto json_out = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand(
      "diagnose", "report models, ONNX Runtime and OpenCV builds, CPU features, memory and disk");
  cmd->add_flag("--json", *json_out, "machine-readable output");
  cmd->callback([json_out, &global] {
    ModelManagerOptions opts = global.model_manager_options();
    opts.allow_download = false;  // diagnose never downloads
    ModelManager manager(opts);
    bool problems = false;
    json dirs = json::array();
    for (const auto& d : manager.model_dirs()) dirs.push_back(d.string());
    json r = {{"models_dirs", dirs},
              {"models", models_report(manager, problems)},
              {"backends", available_backends()},
              {"onnxruntime", onnxruntime_report()},
              {"opencv", opencv_report()},
              {"cpu", cpu_report()},
              {"memory", memory_report()},
              {"disk", disk_report(manager.cache_dir())}};
    r["ok"] = !problems;
    if (*json_out)
      std::cout << r.dump(2) << "\n";
    else
      print_human(r);
    global.exit_code = problems ? 1 : 0;
  });
}

}  // namespace ev::cli
