// MQTT (libmosquitto), HTTP webhook (cpp-httplib) and JSONL file transports. Each is driven
// by exactly one SpooledSink thread, so none of them needs locking.
#include <httplib.h>
#include <mosquitto.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <regex>
#include <unordered_map>

#include "edgevision/events.hpp"

namespace ev {
namespace fs = std::filesystem;

namespace {

// ---------------------------------------------------------------------------------------
class MqttTransport final : public Transport {
 public:
  MqttTransport(MqttConfig config, std::shared_ptr<MqttState> state)
      : config_(std::move(config)), state_(std::move(state)) {
    static std::once_flag once;
    std::call_once(once, [] { mosquitto_lib_init(); });
  }
  ~MqttTransport() override { disconnect(); }

  std::string name() const override { return "mqtt"; }
  bool connected() const override { return mosq_ != nullptr && connected_; }
  size_t max_in_flight() const override { return 20; }  // libmosquitto's default window

  Status connect() override {
    disconnect();
    // A fresh client per connection: libmosquitto would otherwise resend its own queue of
    // unacknowledged messages on reconnect, duplicating what the spool replays.
    mosq_ = mosquitto_new(config_.client_id.c_str(), true, this);
    if (!mosq_) return Status::Error("mosquitto_new failed");
    mosquitto_int_option(mosq_, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_connect_callback_set(mosq_, [](mosquitto*, void* self, int rc) {
      auto* t = static_cast<MqttTransport*>(self);
      t->connack_ = true;
      t->connack_rc_ = rc;
      t->connected_ = rc == 0;
    });
    mosquitto_disconnect_callback_set(mosq_, [](mosquitto*, void* self, int) {
      static_cast<MqttTransport*>(self)->connected_ = false;
    });
    mosquitto_publish_callback_set(mosq_, [](mosquitto*, void* self, int mid) {
      auto* t = static_cast<MqttTransport*>(self);
      const auto it = t->mids_.find(mid);
      if (it != t->mids_.end()) {
        t->acks_.push_back(it->second);
        t->mids_.erase(it);
      }
    });
    if (!config_.username.empty()) {
      mosquitto_username_pw_set(mosq_, config_.username.c_str(),
                                config_.password.empty() ? nullptr : config_.password.c_str());
    }
    // The broker publishes "offline" (retained) for us when the connection dies without a
    // DISCONNECT: crash, kill -9, power or network loss.
    const std::string available = availability_topic();
    int rc = mosquitto_will_set(mosq_, available.c_str(), 7, "offline", 1, true);
    if (rc != MOSQ_ERR_SUCCESS)
      return Status::Error(std::string("last will: ") + mosquitto_strerror(rc));
    if (config_.tls) {
      rc =
          mosquitto_tls_set(mosq_, config_.ca_file.empty() ? nullptr : config_.ca_file.c_str(),
                            config_.ca_file.empty() ? "/etc/ssl/certs" : nullptr,
                            config_.cert_file.empty() ? nullptr : config_.cert_file.c_str(),
                            config_.key_file.empty() ? nullptr : config_.key_file.c_str(), nullptr);
      if (rc != MOSQ_ERR_SUCCESS)
        return Status::Error(std::string("tls: ") + mosquitto_strerror(rc));
      if (config_.tls_insecure) mosquitto_tls_insecure_set(mosq_, true);
    }
    connack_ = false;
    connected_ = false;
    rc = mosquitto_connect(mosq_, config_.host.c_str(), config_.port, config_.keepalive_s);
    if (rc != MOSQ_ERR_SUCCESS) {
      return Status::Error(config_.host + ":" + std::to_string(config_.port) + ": " +
                           (rc == MOSQ_ERR_ERRNO ? std::strerror(errno) : mosquitto_strerror(rc)));
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!connack_ && std::chrono::steady_clock::now() < deadline) {
      rc = mosquitto_loop(mosq_, 100, 1);
      if (rc != MOSQ_ERR_SUCCESS)
        return Status::Error(std::string("connect: ") + mosquitto_strerror(rc));
    }
    if (!connack_) return Status::Error("no CONNACK from the broker within 5 s");
    if (connack_rc_ != 0) {
      return Status::Error(std::string("broker refused: ") + mosquitto_connack_string(connack_rc_));
    }
    publish_raw(available, "online", true);
    flush_state(true);
    return Status::Ok();
  }

  void disconnect() override {
    if (!mosq_) return;
    if (connected_) {
      // A clean DISCONNECT discards the last will: say "offline" ourselves first.
      publish_raw(availability_topic(), "offline", true);
      for (int i = 0; i < 5 && mosquitto_want_write(mosq_); ++i) mosquitto_loop(mosq_, 10, 1);
      mosquitto_disconnect(mosq_);
      mosquitto_loop(mosq_, 10, 1);
    }
    mosquitto_destroy(mosq_);
    mosq_ = nullptr;
    connected_ = false;
    mids_.clear();
    acks_.clear();
  }

  Status send(uint64_t seq, const nlohmann::json& event, const std::string& payload) override {
    if (!connected()) return Status::Error("not connected");
    int mid = 0;
    const std::string topic = mqtt_topic(config_.topic_prefix, event);
    const int rc = mosquitto_publish(mosq_, &mid, topic.c_str(), static_cast<int>(payload.size()),
                                     payload.data(), config_.qos, false);
    if (rc != MOSQ_ERR_SUCCESS)
      return Status::Error(std::string("publish: ") + mosquitto_strerror(rc));
    mids_[mid] = seq;
    return Status::Ok();
  }

  Status poll(int timeout_ms, std::vector<uint64_t>& acks) override {
    if (!mosq_) return Status::Error("not connected");
    const int rc = mosquitto_loop(mosq_, timeout_ms, 1);
    acks.insert(acks.end(), acks_.begin(), acks_.end());
    acks_.clear();
    if (rc != MOSQ_ERR_SUCCESS) {
      connected_ = false;
      return Status::Error(std::string("connection lost: ") + mosquitto_strerror(rc));
    }
    if (!connected_) return Status::Error("connection lost");
    flush_state(false);
    return Status::Ok();
  }

 private:
  std::string availability_topic() const { return config_.topic_prefix + "/available"; }

  // State messages are not acknowledged to the spool: their mids are not in mids_.
  void publish_raw(const std::string& topic, const std::string& payload, bool retain) {
    const int rc = mosquitto_publish(mosq_, nullptr, topic.c_str(),
                                     static_cast<int>(payload.size()), payload.data(), 1, retain);
    if (rc != MOSQ_ERR_SUCCESS)
      spdlog::debug("mqtt: publish {}: {}", topic, mosquitto_strerror(rc));
  }

  void flush_state(bool all) {
    if (!state_ || !connected()) return;
    for (const auto& m : state_->take(all)) publish_raw(m.topic, m.payload, m.retain);
  }

  MqttConfig config_;
  std::shared_ptr<MqttState> state_;
  mosquitto* mosq_ = nullptr;
  bool connected_ = false;
  bool connack_ = false;
  int connack_rc_ = 0;
  std::unordered_map<int, uint64_t> mids_;  // bounded by max_in_flight()
  std::vector<uint64_t> acks_;
};

// ---------------------------------------------------------------------------------------
class WebhookTransport final : public Transport {
 public:
  explicit WebhookTransport(WebhookConfig config) : config_(std::move(config)) {
    static const std::regex re(R"(^(https?://[^/]+)(/.*)?$)");
    std::smatch m;
    if (std::regex_match(config_.url, m, re)) {
      base_ = m[1].str();
      path_ = m[2].matched ? m[2].str() : "/";
    }
  }
  std::string name() const override { return "webhook"; }
  bool connected() const override { return client_ != nullptr; }

  Status connect() override {
    if (base_.empty()) return Status::Error("bad webhook url '" + config_.url + "'");
    client_ = std::make_unique<httplib::Client>(base_);
    const time_t sec = config_.timeout_ms / 1000;
    const time_t usec = (config_.timeout_ms % 1000) * 1000;
    client_->set_connection_timeout(sec, usec);
    client_->set_read_timeout(sec, usec);
    client_->set_write_timeout(sec, usec);
    client_->set_keep_alive(true);
    if (!config_.bearer_token.empty()) client_->set_bearer_token_auth(config_.bearer_token.c_str());
    return Status::Ok();
  }
  void disconnect() override { client_.reset(); }

  Status send(uint64_t seq, const nlohmann::json&, const std::string& payload) override {
    if (!client_) return Status::Error("not connected");
    auto res = client_->Post(path_.c_str(), payload, "application/json");
    if (!res) return Status::Error(config_.url + ": " + httplib::to_string(res.error()));
    const int code = res->status;
    if (code >= 200 && code < 300) {
      acks_.push_back(seq);
      return Status::Ok();
    }
    // A permanent rejection would block the queue forever: log it and move on.
    if (code >= 400 && code < 500 && code != 408 && code != 429) {
      spdlog::warn("webhook {} rejected event {} with HTTP {}; dropping it", config_.url, seq,
                   code);
      acks_.push_back(seq);
      return Status::Ok();
    }
    return Status::Error(config_.url + ": HTTP " + std::to_string(code));
  }

  Status poll(int, std::vector<uint64_t>& acks) override {
    acks.insert(acks.end(), acks_.begin(), acks_.end());
    acks_.clear();
    return Status::Ok();
  }

 private:
  WebhookConfig config_;
  std::string base_, path_;
  std::unique_ptr<httplib::Client> client_;
  std::vector<uint64_t> acks_;
};

// ---------------------------------------------------------------------------------------
class JsonlTransport final : public Transport {
 public:
  explicit JsonlTransport(JsonlConfig config) : config_(std::move(config)) {}
  ~JsonlTransport() override { disconnect(); }
  std::string name() const override { return "jsonl"; }
  bool connected() const override { return file_ != nullptr; }

  Status connect() override {
    std::error_code ec;
    if (config_.path.has_parent_path()) fs::create_directories(config_.path.parent_path(), ec);
    file_ = std::fopen(config_.path.c_str(), "ab");
    if (!file_) return Status::Error(config_.path.string() + ": " + std::strerror(errno));
    size_ = static_cast<uint64_t>(fs::file_size(config_.path, ec));
    if (ec) size_ = 0;
    return Status::Ok();
  }
  void disconnect() override {
    if (file_) std::fclose(file_);
    file_ = nullptr;
  }

  Status send(uint64_t seq, const nlohmann::json&, const std::string& payload) override {
    if (!file_) return Status::Error("not open");
    if (size_ > 0 && size_ + payload.size() + 1 > config_.rotate_bytes) {
      if (Status st = rotate(); !st) return st;
    }
    if (std::fwrite(payload.data(), 1, payload.size(), file_) != payload.size() ||
        std::fputc('\n', file_) == EOF || std::fflush(file_) != 0) {
      return Status::Error(config_.path.string() + ": write failed: " + std::strerror(errno));
    }
    size_ += payload.size() + 1;
    acks_.push_back(seq);
    return Status::Ok();
  }

  Status poll(int, std::vector<uint64_t>& acks) override {
    acks.insert(acks.end(), acks_.begin(), acks_.end());
    acks_.clear();
    return Status::Ok();
  }

 private:
  Status rotate() {
    disconnect();
    std::error_code ec;
    const std::string base = config_.path.string();
    if (config_.keep == 0) {
      fs::remove(config_.path, ec);
    } else {
      fs::remove(base + "." + std::to_string(config_.keep), ec);
      for (int i = config_.keep - 1; i >= 1; --i) {
        fs::rename(base + "." + std::to_string(i), base + "." + std::to_string(i + 1), ec);
      }
      fs::rename(config_.path, base + ".1", ec);
    }
    return connect();
  }

  JsonlConfig config_;
  FILE* file_ = nullptr;
  uint64_t size_ = 0;
  std::vector<uint64_t> acks_;
};

}  // namespace

std::unique_ptr<Transport> make_mqtt_transport(const MqttConfig& config,
                                               std::shared_ptr<MqttState> state) {
  return std::make_unique<MqttTransport>(config, std::move(state));
}
std::unique_ptr<Transport> make_webhook_transport(const WebhookConfig& config) {
  return std::make_unique<WebhookTransport>(config);
}
std::unique_ptr<Transport> make_jsonl_transport(const JsonlConfig& config) {
  return std::make_unique<JsonlTransport>(config);
}

}  // namespace ev
