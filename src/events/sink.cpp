// SpooledSink (spool + transport + thread), EventRouter, event helpers.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <deque>
#include <regex>

#include "core/thread_name.hpp"
#include "edgevision/events.hpp"

namespace ev {

using Clock = std::chrono::steady_clock;

namespace {
int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
      .count();
}
}  // namespace

// ---------------------------------------------------------------------------------------
EventTypeRegistry::EventTypeRegistry() {
  types_.push_back({"object_appeared", "a tracked object was confirmed for the first time"});
  types_.push_back({"object_left", "a tracked object was lost for longer than tracking.max_lost"});
}

EventTypeRegistry& EventTypeRegistry::instance() {
  static EventTypeRegistry registry;
  return registry;
}

Status EventTypeRegistry::add(const EventTypeInfo& info) {
  static const std::regex re("^[a-z0-9_]{1,64}$");
  if (!std::regex_match(info.name, re)) {
    return Status::Error("event type '" + info.name + "': expected [a-z0-9_]{1,64}");
  }
  std::lock_guard lock(mutex_);
  for (const auto& t : types_) {
    if (t.name == info.name) return Status::Error("event type '" + info.name + "' already exists");
  }
  types_.push_back(info);
  return Status::Ok();
}

bool EventTypeRegistry::contains(const std::string& name) const {
  std::lock_guard lock(mutex_);
  return std::any_of(types_.begin(), types_.end(), [&](const auto& t) { return t.name == name; });
}

std::vector<EventTypeInfo> EventTypeRegistry::list() const {
  std::lock_guard lock(mutex_);
  return types_;
}

nlohmann::json make_event(const std::string& type, const std::string& camera) {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return nlohmann::json{
      {"schema", kEventSchema}, {"type", type}, {"camera", camera}, {"time", buf}};
}

std::string mqtt_topic(const std::string& prefix, const nlohmann::json& event) {
  auto field = [&](const char* key) {
    const auto it = event.find(key);
    return it != event.end() && it->is_string() && !it->get<std::string>().empty()
               ? it->get<std::string>()
               : std::string("_");
  };
  return prefix + "/" + field("camera") + "/" + field("type");
}

// ---------------------------------------------------------------------------------------
SpooledSink::SpooledSink(std::unique_ptr<Transport> transport, std::unique_ptr<Spool> spool)
    : name_(transport->name()), transport_(std::move(transport)), spool_(std::move(spool)) {}

Result<std::unique_ptr<SpooledSink>> SpooledSink::create(std::unique_ptr<Transport> transport,
                                                         const SpoolOptions& options) {
  auto spool = Spool::open(options);
  if (!spool) return spool.status();
  return std::unique_ptr<SpooledSink>(new SpooledSink(std::move(transport), std::move(*spool)));
}

SpooledSink::~SpooledSink() {
  stop(0);
}

void SpooledSink::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] {
    set_thread_name("sink-", name_);
    run();
  });
}

Status SpooledSink::enqueue(const std::string& payload) {
  Status st = spool_->append(payload);
  bool lost = false;
  {
    std::lock_guard lock(mutex_);
    // The spool logged and counted the disk fault; delivery is still attempted from memory.
    if (!st.ok() && spool_->stats().failing) {
      if (direct_.size() >= kMaxDirect) {
        direct_.pop_front();
        ++direct_dropped_;
        lost = true;
      }
      direct_.push_back(payload);
    }
    pending_data_ = true;
  }
  wake_.notify_one();
  if (lost) return Status::Error("spool failing and memory queue full: oldest event dropped");
  return st.ok() || spool_->stats().failing ? Status::Ok() : st;
}

void SpooledSink::stop(int drain_ms) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      stopping_ = true;
      drain_deadline_ms_ = now_ms() + drain_ms;
    }
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  spool_->flush();
  spool_->commit(spool_->committed(), true);
}

SinkStats SpooledSink::stats() const {
  SinkStats s;
  s.name = name_;
  s.connected = connected_.load();
  s.spool = spool_->stats();
  s.delivered = delivered_.load();
  s.failures = failures_.load();
  s.direct = direct_sent_.load();
  s.direct_dropped = direct_dropped_.load();
  std::lock_guard lock(mutex_);
  s.last_error = last_error_;
  return s;
}

void SpooledSink::run() {
  struct InFlight {
    uint64_t seq;
    SpoolPosition next;
    bool acked = false;
    bool direct = false;  // not in the spool: nothing to commit, payload kept for a resend
    std::string payload;
  };
  // Direct events get seqs the spool never uses, so acknowledgements cannot be confused.
  uint64_t direct_seq = uint64_t{1} << 63;
  std::deque<InFlight> in_flight;
  SpoolPosition cursor = spool_->committed();
  int backoff_ms = 500;
  int64_t last_durable = now_ms();
  std::vector<uint64_t> acks;

  auto set_error = [&](const std::string& what) {
    ++failures_;
    std::lock_guard lock(mutex_);
    if (last_error_ != what) spdlog::warn("event sink {}: {}", name_, what);
    last_error_ = what;
  };
  // Waits up to `ms` or until stop(); returns true if stopping.
  auto wait = [&](int ms, bool for_data) {
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, std::chrono::milliseconds(ms),
                   [&] { return stopping_ || (for_data && pending_data_); });
    pending_data_ = false;
    return stopping_;
  };
  auto lose_connection = [&](const std::string& why) {
    set_error(why);
    transport_->disconnect();
    connected_ = false;
    {
      // Unacknowledged direct events go back to the front of the memory queue, in order.
      std::lock_guard lock(mutex_);
      for (auto it = in_flight.rbegin(); it != in_flight.rend(); ++it)
        if (it->direct && !it->acked) direct_.push_front(std::move(it->payload));
    }
    in_flight.clear();
    cursor = spool_->committed();  // resend everything not acknowledged, in order
  };

  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_ &&
          (now_ms() >= drain_deadline_ms_ || (spool_->stats().pending == 0 && direct_.empty())))
        break;
    }
    if (Status st = spool_->flush(); !st) set_error(st.message());

    if (!transport_->connected()) {
      connected_ = false;
      if (Status st = transport_->connect(); !st) {
        set_error("connect: " + st.message());
        transport_->disconnect();
        if (wait(backoff_ms, false)) break;
        backoff_ms = std::min(backoff_ms * 2, 30000);
        continue;
      }
      backoff_ms = 500;
      connected_ = true;
      in_flight.clear();
      cursor = spool_->committed();
      const auto pending = spool_->stats().pending;
      spdlog::info("event sink {}: connected{}", name_,
                   pending ? ", " + std::to_string(pending) + " spooled events to deliver" : "");
      std::lock_guard lock(mutex_);
      last_error_.clear();
    }

    bool sent_any = false;
    bool send_failed = false;
    if (in_flight.size() < transport_->max_in_flight()) {
      auto records = spool_->read(cursor, transport_->max_in_flight() - in_flight.size());
      if (!records) {
        // A corrupt record cannot be delivered; skip past it so the queue does not stall.
        set_error(records.error());
        spool_->commit({cursor.seq + 1, cursor.segment, cursor.offset}, true);
        cursor = spool_->committed();
        continue;
      }
      for (auto& r : *records) {
        nlohmann::json event = nlohmann::json::parse(r.payload, nullptr, false);
        if (event.is_discarded()) event = nlohmann::json::object();
        if (Status st = transport_->send(r.seq, event, r.payload); !st) {
          lose_connection("send: " + st.message());
          send_failed = true;
          break;
        }
        in_flight.push_back({r.seq, r.next, false, false, {}});
        cursor = r.next;
        sent_any = true;
      }
      // Then what the spool could not take, once the spool has nothing more to give.
      while (!send_failed && records->empty() && in_flight.size() < transport_->max_in_flight()) {
        std::string payload;
        {
          std::lock_guard lock(mutex_);
          if (direct_.empty()) break;
          payload = std::move(direct_.front());
          direct_.pop_front();
        }
        nlohmann::json event = nlohmann::json::parse(payload, nullptr, false);
        if (event.is_discarded()) event = nlohmann::json::object();
        const uint64_t seq = direct_seq++;
        in_flight.push_back({seq, cursor, false, true, payload});
        if (Status st = transport_->send(seq, event, payload); !st) {
          lose_connection("send: " + st.message());
          send_failed = true;
          break;
        }
        sent_any = true;
      }
    }
    if (send_failed) {
      if (wait(backoff_ms, false)) break;
      backoff_ms = std::min(backoff_ms * 2, 30000);
      continue;
    }

    acks.clear();
    const Status polled = transport_->poll(in_flight.empty() ? 0 : 50, acks);
    for (uint64_t seq : acks) {
      for (auto& f : in_flight) {
        if (f.seq == seq) f.acked = true;
      }
    }
    // Commit only the acknowledged prefix: order is what the spool guarantees on replay.
    std::optional<SpoolPosition> commit_to;
    while (!in_flight.empty() && in_flight.front().acked) {
      if (in_flight.front().direct)
        ++direct_sent_;
      else
        commit_to = in_flight.front().next;
      in_flight.pop_front();
      ++delivered_;
    }
    // Durable once a second, also when no new acknowledgement comes: the last delivered events
    // must reach the commit file without waiting for another event, and a commit-file write
    // that failed (logged by the spool) is retried.
    const bool durable = now_ms() - last_durable >= 1000;
    if (durable) last_durable = now_ms();
    if (commit_to || durable)
      (void)spool_->commit(commit_to ? *commit_to : spool_->committed(), durable);
    if (!polled) {
      lose_connection(polled.message());
      continue;
    }
    if (in_flight.empty() && !sent_any) {
      // Idle: sleep until new events arrive; also lets MQTT keep-alives run every 200 ms.
      if (wait(200, true)) continue;
    }
  }
  spool_->commit(spool_->committed(), true);
  transport_->disconnect();
  connected_ = false;
  // Direct events not delivered: one more try to store them for the next start.
  std::deque<std::string> left;
  {
    std::lock_guard lock(mutex_);
    left.swap(direct_);
  }
  for (auto& f : in_flight)
    if (f.direct && !f.acked) left.push_front(std::move(f.payload));
  size_t lost = 0;
  for (const auto& p : left)
    if (!spool_->append(p).ok()) ++lost;
  if (lost > 0) {
    direct_dropped_ += lost;
    spdlog::error("event sink {}: {} events neither delivered nor stored (disk fault)", name_,
                  lost);
  }
}

// ---------------------------------------------------------------------------------------
Result<std::unique_ptr<EventRouter>> EventRouter::create(const EventsConfig& config) {
  std::unique_ptr<EventRouter> router(new EventRouter());
  router->config_ = config;
  router->device_id_ = config.device_id.empty() ? default_device_id() : config.device_id;
  auto add = [&](std::unique_ptr<Transport> t, const SpoolConfig& spool) -> Status {
    auto sink = SpooledSink::create(std::move(t), SpoolOptions{spool.dir, spool.max_bytes, 0});
    if (!sink) return sink.status();
    router->sinks_.push_back(std::move(*sink));
    return Status::Ok();
  };
  if (config.mqtt.enabled) {
    router->mqtt_state_ = std::make_shared<MqttState>(config.mqtt, router->device_id_);
    if (Status st = add(make_mqtt_transport(config.mqtt, router->mqtt_state_), config.mqtt.spool);
        !st)
      return st;
  }
  if (config.webhook.enabled) {
    if (Status st = add(make_webhook_transport(config.webhook), config.webhook.spool); !st)
      return st;
  }
  if (config.jsonl.enabled) {
    if (Status st = add(make_jsonl_transport(config.jsonl), config.jsonl.spool); !st) return st;
  }
  for (auto& s : router->sinks_) s->start();
  return router;
}

EventRouter::~EventRouter() {
  stop(0);
}

void EventRouter::publish(const nlohmann::json& event) {
  std::string payload;
  if (event.is_object() && !event.contains("device")) {
    // Many boxes can feed one broker or collector: every event says where it came from.
    nlohmann::json with_device = event;
    with_device["device"] = device_id_;
    payload = with_device.dump();
    if (mqtt_state_) mqtt_state_->on_event(with_device);
  } else {
    payload = event.dump();
    if (mqtt_state_) mqtt_state_->on_event(event);
  }
  for (auto& s : sinks_) {
    if (Status st = s->enqueue(payload); !st) {
      spdlog::error("event sink {}: could not spool an event: {}", s->name(), st.message());
    }
  }
}

void EventRouter::stop(int drain_ms) {
  // Drain in parallel so shutdown waits at most drain_ms, not drain_ms per sink.
  std::vector<std::thread> stoppers;
  for (auto& s : sinks_) stoppers.emplace_back([&s, drain_ms] { s->stop(drain_ms); });
  for (auto& t : stoppers) t.join();
}

std::vector<SinkStats> EventRouter::stats() const {
  std::vector<SinkStats> out;
  for (const auto& s : sinks_) out.push_back(s->stats());
  return out;
}

}  // namespace ev
