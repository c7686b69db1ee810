// Events and their delivery. An event is a JSON object with "schema": "edgevision.event/1".
// Every sink (MQTT, webhook, JSONL) owns a bounded on-disk spool: events are appended there
// first and removed only when the sink acknowledged them (MQTT: PUBACK), so they survive a
// broker outage and an edgevision restart and are delivered in order. See docs/configuration.md.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "edgevision/config.hpp"
#include "edgevision/status.hpp"

namespace ev {

inline constexpr const char* kEventSchema = "edgevision.event/1";

// ---------------------------------------------------------------------------------------
// Event types. Built-in: object_appeared, object_left. Future analyzers (activity, zones,
// ALPR) register their type here once at start-up and then emit events through the same path
// (Pipeline hooks, see pipeline.hpp); names become MQTT topic levels, so [a-z0-9_] only.
// ---------------------------------------------------------------------------------------
struct EventTypeInfo {
  std::string name;
  std::string description;
};
class EventTypeRegistry {
 public:
  static EventTypeRegistry& instance();
  Status add(const EventTypeInfo& info);  // error on a bad or duplicate name
  bool contains(const std::string& name) const;
  std::vector<EventTypeInfo> list() const;

 private:
  EventTypeRegistry();
  mutable std::mutex mutex_;
  std::vector<EventTypeInfo> types_;
};

// A new event with the common fields: schema, type, camera, time (UTC ISO 8601 wall clock).
nlohmann::json make_event(const std::string& type, const std::string& camera);

// ---------------------------------------------------------------------------------------
// Spool: bounded, append-only on-disk queue of records.
// Layout: <dir>/<first seq, 20 digits>.seg files of records [u32 len][u32 crc32][u64 seq]
// [payload], and <dir>/commit ("seq segment offset": the first record not yet acknowledged),
// replaced atomically. A torn tail record (crash mid-write) is cut off on open.
// ---------------------------------------------------------------------------------------
struct SpoolOptions {
  std::filesystem::path dir;
  uint64_t max_bytes = 64ull << 20;  // all segment files together; oldest dropped beyond this
  uint64_t segment_bytes = 0;        // 0: max_bytes / 8 (at least 4 KiB)
};

struct SpoolPosition {
  uint64_t seq = 0;      // sequence number of the record at this position
  uint64_t segment = 0;  // first seq of the segment file
  uint64_t offset = 0;   // byte offset inside it
  bool operator==(const SpoolPosition&) const = default;
};

struct SpoolRecord {
  uint64_t seq = 0;
  std::string payload;
  SpoolPosition next;  // position after this record (commit it once acknowledged)
};

struct SpoolStats {
  uint64_t pending = 0;    // records appended and not yet committed
  uint64_t bytes = 0;      // bytes on disk
  uint64_t dropped = 0;    // records dropped because the spool was full (this process)
  uint64_t appended = 0;   // this process
  uint64_t committed = 0;  // this process
  // Disk faults (ENOSPC, EIO, ...): appends and commit-file writes that failed (this process).
  uint64_t write_errors = 0;
  uint64_t commit_errors = 0;
  bool failing = false;       // the last append failed: the spool cannot take events now
  std::string last_io_error;  // empty until a write failed
};

class Spool {
 public:
  static Result<std::unique_ptr<Spool>> open(const SpoolOptions& options);
  ~Spool();

  // Appends one record (written, not yet fsync'd: call flush()). When the spool would exceed
  // max_bytes the oldest segment is dropped and its unsent records are counted as dropped.
  Status append(const std::string& payload);
  Status flush();  // fdatasync of the active segment if anything was appended since

  // Up to `max_records` records starting at `from` (use committed() to start over). If `from`
  // was dropped meanwhile, reading restarts at the oldest record still on disk.
  Result<std::vector<SpoolRecord>> read(const SpoolPosition& from, size_t max_records);
  // Everything before `next` was delivered. Persisted (fsync) when `durable`, else kept in
  // memory until the next durable commit / close (a crash then re-delivers: at least once).
  Status commit(const SpoolPosition& next, bool durable);
  SpoolPosition committed() const;
  SpoolStats stats() const;
  const std::filesystem::path& dir() const { return options_.dir; }

 private:
  struct Segment {
    uint64_t first_seq = 0;
    uint64_t records = 0;
    uint64_t bytes = 0;
  };
  explicit Spool(SpoolOptions options);
  Status load();
  Status roll();
  Status write_commit();
  void drop_oldest();
  void delete_consumed();
  void note_write_error(const std::string& what);
  std::filesystem::path segment_path(uint64_t first_seq) const;
  size_t find_segment(uint64_t first_seq) const;  // index or npos

  SpoolOptions options_;
  mutable std::mutex mutex_;
  std::vector<Segment> segments_;  // oldest first; back() is the active one
  int active_fd_ = -1;
  uint64_t next_seq_ = 0;
  SpoolPosition commit_;
  bool commit_dirty_ = false;
  bool data_dirty_ = false;
  uint64_t total_bytes_ = 0;
  SpoolStats stats_;
  uint64_t unlogged_drops_ = 0;
  std::chrono::steady_clock::time_point last_drop_log_{};
  uint64_t unlogged_write_errors_ = 0;
  std::chrono::steady_clock::time_point last_write_error_log_{};
};

// ---------------------------------------------------------------------------------------
// Transports deliver one record at a time; the sink drives them from one thread.
// ---------------------------------------------------------------------------------------
class Transport {
 public:
  virtual ~Transport() = default;
  virtual std::string name() const = 0;
  virtual bool connected() const = 0;
  virtual Status connect() = 0;
  virtual void disconnect() = 0;
  // Starts delivering `payload` (the event JSON). Synchronous transports deliver before
  // returning and acknowledge at once; MQTT acknowledges later from poll().
  virtual Status send(uint64_t seq, const nlohmann::json& event, const std::string& payload) = 0;
  // Does I/O for up to timeout_ms; appends the seqs acknowledged since the last call to `acks`.
  // An error means the connection was lost (unacknowledged records are sent again).
  virtual Status poll(int timeout_ms, std::vector<uint64_t>& acks) = 0;
  virtual size_t max_in_flight() const { return 1; }
};

// ---------------------------------------------------------------------------------------
// MQTT state beside the events: latest-value messages (availability is the transport's own;
// stats, retained per-camera counts, last event / plate, Home Assistant discovery). Written
// from any thread, published by the MQTT sink's thread, all republished after a reconnect.
// Bounded: one payload per topic, at most kMaxTopics topics.
// ---------------------------------------------------------------------------------------
class MqttState {
 public:
  static constexpr size_t kMaxTopics = 4096;
  struct Message {
    std::string topic;
    std::string payload;
    bool retain = true;
  };
  MqttState(MqttConfig config, std::string device_id);
  const std::string& device_id() const { return device_id_; }
  // <prefix>/available: "online" while connected, "offline" (last will) otherwise; retained.
  std::string availability_topic() const { return config_.topic_prefix + "/available"; }

  // Per-event state: <prefix>/<camera>/last_event, .../last_plate (events with a "plate"),
  // zone occupancy (events with "zone" and a numeric "occupancy") into the camera's counts.
  void on_event(const nlohmann::json& event);
  // Confirmed tracks per class now; retained <prefix>/<camera>/counts when it changed.
  void set_counts(const std::string& camera, const std::map<std::string, int>& objects);
  // <prefix>/stats (not retained).
  void set_stats(const nlohmann::ordered_json& stats);

  // Raw latest-value store.
  void set(const std::string& topic, std::string payload, bool retain = true);
  // Messages set since the last call; every message when `all` (after a (re)connect).
  std::vector<Message> take(bool all);

 private:
  void publish_counts(const std::string& camera);  // mutex_ held
  void announce(const std::string& camera, const std::string& kind,
                const std::string& name);  // mutex_ held
  void set_locked(const std::string& topic, std::string payload, bool retain);

  MqttConfig config_;
  std::string device_id_;
  std::mutex mutex_;
  std::map<std::string, Message> latest_;
  std::set<std::string> dirty_;
  struct Counts {
    std::map<std::string, int> objects;
    std::map<std::string, double> zones;
  };
  std::map<std::string, Counts> counts_;
  std::set<std::string> announced_;
  bool full_warned_ = false;
};

// Home Assistant MQTT discovery config messages (retained) for one entity of a camera:
// kind "count" (name: a class), "zone" (name: a zone), "last_event" or "last_plate".
std::vector<MqttState::Message> ha_discovery_messages(const MqttConfig& config,
                                                      const std::string& device_id,
                                                      const std::string& camera,
                                                      const std::string& kind,
                                                      const std::string& name);
// The device id used when none is configured: the host name, reduced to [A-Za-z0-9_-].
std::string default_device_id();

std::unique_ptr<Transport> make_mqtt_transport(const MqttConfig& config,
                                               std::shared_ptr<MqttState> state = nullptr);
std::unique_ptr<Transport> make_webhook_transport(const WebhookConfig& config);
std::unique_ptr<Transport> make_jsonl_transport(const JsonlConfig& config);

// MQTT topic of an event: <prefix>/<camera>/<type>.
std::string mqtt_topic(const std::string& prefix, const nlohmann::json& event);

struct SinkStats {
  std::string name;
  bool connected = false;
  SpoolStats spool;
  uint64_t delivered = 0;  // acknowledged records (this process)
  uint64_t failures = 0;   // connect/send errors
  std::string last_error;
  // Events the spool could not take (disk fault), sent straight from memory while connected.
  uint64_t direct = 0;          // delivered that way
  uint64_t direct_dropped = 0;  // lost: the bounded memory queue was full or the sink stopped
};

// A transport behind a spool, with its own thread: replays what is spooled (also from before
// a restart), keeps up to max_in_flight() records in flight, commits acknowledged ones in
// order, reconnects with exponential back-off (0.5 s .. 30 s).
class SpooledSink {
 public:
  static Result<std::unique_ptr<SpooledSink>> create(std::unique_ptr<Transport> transport,
                                                     const SpoolOptions& spool);
  ~SpooledSink();  // stop()
  void start();
  // Spools an event (never blocks on the network). When the spool cannot take it (disk full,
  // I/O error) the event is kept in a bounded memory queue and sent directly; errors only when
  // the event had to be dropped.
  Status enqueue(const std::string& payload);
  // Stops the thread after trying, for up to `drain_ms`, to deliver what is spooled. Whatever
  // is left stays on disk and is replayed on the next start.
  void stop(int drain_ms = 2000);
  SinkStats stats() const;
  const std::string& name() const { return name_; }

 private:
  SpooledSink(std::unique_ptr<Transport> transport, std::unique_ptr<Spool> spool);
  void run();

  std::string name_;
  std::unique_ptr<Transport> transport_;
  std::unique_ptr<Spool> spool_;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  int64_t drain_deadline_ms_ = 0;
  bool pending_data_ = false;
  std::atomic<bool> connected_{false};
  std::atomic<uint64_t> delivered_{0}, failures_{0};
  std::string last_error_;  // guarded by mutex_
  static constexpr size_t kMaxDirect = 1000;
  std::deque<std::string> direct_;  // guarded by mutex_
  std::atomic<uint64_t> direct_sent_{0}, direct_dropped_{0};
};

// All configured sinks. publish() spools the event to each.
class EventRouter {
 public:
  static Result<std::unique_ptr<EventRouter>> create(const EventsConfig& config);
  ~EventRouter();
  // Adds "device" (events.device_id) and spools the event for every sink.
  void publish(const nlohmann::json& event);
  void stop(int drain_ms = 2000);
  std::vector<SinkStats> stats() const;
  const EventsConfig& config() const { return config_; }
  // MQTT state (null when MQTT is off): per-camera counts, stats.
  MqttState* mqtt_state() { return mqtt_state_.get(); }

 private:
  EventRouter() = default;
  EventsConfig config_;
  std::string device_id_;
  std::shared_ptr<MqttState> mqtt_state_;
  std::vector<std::unique_ptr<SpooledSink>> sinks_;
};

}  // namespace ev
