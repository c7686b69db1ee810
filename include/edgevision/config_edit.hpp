// Rewrites one camera's zones and lines in a YAML config file for the dashboard's zone editor.
// The edited text must pass parse_config() before the file is replaced (atomically: a temp file
// in the same folder, fsync, rename), so a save never leaves a config the service refuses.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "edgevision/status.hpp"

namespace ev {

// The file and its folder can be written by this process (the temp file + rename needs both).
bool config_file_writable(const std::filesystem::path& file);

// Returns yaml_text with camera `camera_id`'s `zones` and `lines` replaced by those of `scene`
// ({"zones":[{"name","polygon":[[x,y],..]}],"lines":[{"name","points":[[x,y],[x,y]]}]}). A
// zone or line that keeps its name keeps its other keys (classes, loitering_s, speed, ...);
// ones not in `scene` are removed. Comments in the file are not kept (yaml-cpp drops them).
Result<std::string> set_camera_scene_yaml(const std::string& yaml_text,
                                          const std::string& camera_id,
                                          const nlohmann::json& scene);

// Reads `file`, applies set_camera_scene_yaml(), validates the result with parse_config() and
// replaces the file atomically. Nothing is written when any step fails.
Status save_camera_scene(const std::filesystem::path& file, const std::string& camera_id,
                         const nlohmann::json& scene);

}  // namespace ev
