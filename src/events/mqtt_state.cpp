// MQTT state beside the events (stats, retained per-camera counts, last event / plate) and
// Home Assistant MQTT discovery, so each camera shows up as entities without a custom
// integration.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cmath>

#include "edgevision/events.hpp"

namespace ev {
namespace {

// Home Assistant node / object ids allow only [a-zA-Z0-9_-].
std::string sanitize(const std::string& s) {
  std::string out;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    out += ok ? c : '_';
  }
  return out.empty() ? "_" : out;
}

std::string now_iso() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

std::string default_device_id() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') return "edgevision";
  std::string id = sanitize(host);
  if (id.size() > 64) id.resize(64);
  return id;
}

std::vector<MqttState::Message> ha_discovery_messages(const MqttConfig& config,
                                                      const std::string& device_id,
                                                      const std::string& camera,
                                                      const std::string& kind,
                                                      const std::string& name) {
  const std::string base = config.topic_prefix + "/" + camera;
  nlohmann::ordered_json c;
  std::string object_id;
  if (kind == "count") {
    object_id = camera + "_" + name + "_count";
    c["name"] = camera + " " + name + " count";
    c["state_topic"] = base + "/counts";
    c["value_template"] = "{{ value_json.objects['" + name + "'] | default(0) }}";
    c["unit_of_measurement"] = "objects";
    c["state_class"] = "measurement";
    c["icon"] = name == "person" ? "mdi:account-group" : "mdi:counter";
  } else if (kind == "zone") {
    object_id = camera + "_zone_" + name + "_occupancy";
    c["name"] = camera + " " + name + " occupancy";
    c["state_topic"] = base + "/counts";
    c["value_template"] = "{{ value_json.zones['" + name + "'] | default(0) }}";
    c["unit_of_measurement"] = "objects";
    c["state_class"] = "measurement";
    c["icon"] = "mdi:vector-polygon";
  } else if (kind == "last_event") {
    object_id = camera + "_last_event";
    c["name"] = camera + " last event";
    c["state_topic"] = base + "/last_event";
    c["value_template"] = "{{ value_json.type }}";
    c["json_attributes_topic"] = base + "/last_event";
    c["icon"] = "mdi:motion-sensor";
  } else if (kind == "last_plate") {
    object_id = camera + "_last_plate";
    c["name"] = camera + " last plate";
    c["state_topic"] = base + "/last_plate";
    c["value_template"] = "{{ value_json.plate }}";
    c["json_attributes_topic"] = base + "/last_plate";
    c["icon"] = "mdi:card-text-outline";
  } else {
    return {};
  }
  const std::string node = sanitize("edgevision_" + device_id);
  object_id = sanitize(object_id);
  c["unique_id"] = node + "_" + object_id;
  c["object_id"] = node + "_" + object_id;
  c["availability_topic"] = config.topic_prefix + "/available";
  c["payload_available"] = "online";
  c["payload_not_available"] = "offline";
  c["device"] = {{"identifiers", nlohmann::json::array({node})},
                 {"name", "edgevision " + device_id},
                 {"manufacturer", "edgevision"},
                 {"model", "edgevision"}};
  return {{config.ha_discovery_prefix + "/sensor/" + node + "/" + object_id + "/config", c.dump(),
           true}};
}

MqttState::MqttState(MqttConfig config, std::string device_id)
    : config_(std::move(config)), device_id_(std::move(device_id)) {}

void MqttState::set(const std::string& topic, std::string payload, bool retain) {
  std::lock_guard lock(mutex_);
  set_locked(topic, std::move(payload), retain);
}

void MqttState::set_locked(const std::string& topic, std::string payload, bool retain) {
  auto it = latest_.find(topic);
  if (it == latest_.end()) {
    if (latest_.size() >= kMaxTopics) {
      if (!full_warned_)
        spdlog::warn("mqtt: more than {} state topics; new ones dropped", kMaxTopics);
      full_warned_ = true;
      return;
    }
    it = latest_.emplace(topic, Message{topic, {}, retain}).first;
  } else if (it->second.payload == payload && it->second.retain == retain) {
    return;  // unchanged: nothing to send
  }
  it->second.payload = std::move(payload);
  it->second.retain = retain;
  dirty_.insert(topic);
}

std::vector<MqttState::Message> MqttState::take(bool all) {
  std::lock_guard lock(mutex_);
  std::vector<Message> out;
  if (all) {
    // Discovery configs first, so Home Assistant knows the entities before their states.
    for (const auto& [topic, m] : latest_)
      if (topic.rfind(config_.ha_discovery_prefix + "/", 0) == 0) out.push_back(m);
    for (const auto& [topic, m] : latest_)
      if (topic.rfind(config_.ha_discovery_prefix + "/", 0) != 0) out.push_back(m);
  } else {
    for (const auto& topic : dirty_) {
      const auto it = latest_.find(topic);
      if (it != latest_.end() && topic.rfind(config_.ha_discovery_prefix + "/", 0) == 0)
        out.push_back(it->second);
    }
    for (const auto& topic : dirty_) {
      const auto it = latest_.find(topic);
      if (it != latest_.end() && topic.rfind(config_.ha_discovery_prefix + "/", 0) != 0)
        out.push_back(it->second);
    }
  }
  dirty_.clear();
  return out;
}

void MqttState::announce(const std::string& camera, const std::string& kind,
                         const std::string& name) {
  if (!config_.ha_discovery) return;
  if (!announced_.insert(camera + "\n" + kind + "\n" + name).second) return;
  for (auto& m : ha_discovery_messages(config_, device_id_, camera, kind, name))
    set_locked(m.topic, std::move(m.payload), m.retain);
}

void MqttState::publish_counts(const std::string& camera) {
  const Counts& c = counts_[camera];
  nlohmann::ordered_json j;
  j["device"] = device_id_;
  j["camera"] = camera;
  j["objects"] = c.objects;
  j["zones"] = c.zones;
  // No timestamp: an unchanged count must give the same payload (sent only when it changes).
  set_locked(config_.topic_prefix + "/" + camera + "/counts", j.dump(), true);
}

void MqttState::set_counts(const std::string& camera, const std::map<std::string, int>& objects) {
  std::lock_guard lock(mutex_);
  Counts& c = counts_[camera];
  // A class once seen stays at 0 rather than vanishing, so its entity shows 0, not stale.
  for (auto& [cls, n] : c.objects) n = 0;
  for (const auto& [cls, n] : objects) c.objects[cls] = n;
  for (const auto& [cls, n] : c.objects) announce(camera, "count", cls);
  announce(camera, "last_event", "");
  publish_counts(camera);
}

void MqttState::on_event(const nlohmann::json& event) {
  const std::string camera = event.value("camera", "");
  if (camera.empty()) return;
  std::lock_guard lock(mutex_);
  const std::string base = config_.topic_prefix + "/" + camera;
  announce(camera, "last_event", "");
  set_locked(base + "/last_event", event.dump(), true);
  if (const auto it = event.find("plate"); it != event.end() && it->is_string()) {
    announce(camera, "last_plate", "");
    nlohmann::json p = {{"plate", *it}, {"time", event.value("time", now_iso())}};
    if (event.contains("score")) p["score"] = event["score"];
    if (event.contains("track_id")) p["track_id"] = event["track_id"];
    set_locked(base + "/last_plate", p.dump(), true);
  }
  const auto zone = event.find("zone");
  const auto occ = event.find("occupancy");
  if (zone != event.end() && zone->is_string() && occ != event.end() && occ->is_number()) {
    const double n = occ->get<double>();
    if (std::isfinite(n)) {
      announce(camera, "zone", zone->get<std::string>());
      counts_[camera].zones[zone->get<std::string>()] = n;
      publish_counts(camera);
    }
  }
}

void MqttState::set_stats(const nlohmann::ordered_json& stats) {
  set(config_.topic_prefix + "/stats", stats.dump(), false);
}

}  // namespace ev
