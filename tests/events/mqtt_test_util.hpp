// A real mosquitto broker on 127.0.0.1 (free port, persistence in a temp dir so a restart
// keeps the test subscriber's session and its queued QoS 1 messages) and a libmosquitto
// subscriber that records everything it receives.
#pragma once

#include <arpa/inet.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/test_support.hpp"

namespace ev::test {

inline int free_tcp_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

inline bool port_open(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

class MosquittoBroker {
 public:
  // `listener_conf` goes right after the listener line (e.g. password_file, TLS files; then
  // anonymous clients are refused); `extra_conf` at the end (e.g. a bridge).
  explicit MosquittoBroker(const std::filesystem::path& dir, const std::string& listener_conf = "",
                           const std::string& extra_conf = "")
      : dir_(dir), port_(free_tcp_port()) {
    std::filesystem::create_directories(dir_);
    std::ofstream conf(dir_ / "mosquitto.conf");
    conf << "listener " << port_ << " 127.0.0.1\n"
         << listener_conf
         << (listener_conf.empty() ? "allow_anonymous true\n" : "allow_anonymous false\n")
         << "persistence true\n"
         << "persistence_location " << dir_.string() << "/\n"
         << "user root\n"
         << "log_dest file " << (dir_ / "mosquitto.log").string() << "\n"
         << extra_conf;
  }
  ~MosquittoBroker() { stop(); }

  bool start() {
    if (pid_ > 0) return true;
    pid_ = ::fork();
    if (pid_ == 0) {
      // If the test process dies (CTest timeout, crash), the broker must not outlive it.
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      ::execl("/usr/sbin/mosquitto", "mosquitto", "-c", (dir_ / "mosquitto.conf").c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    return wait_until([&] { return port_open(port_); }, 5.0);
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);  // SIGTERM: the broker saves its persistence file on the way out
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  int port() const { return port_; }

 private:
  std::filesystem::path dir_;
  int port_;
  pid_t pid_ = -1;
};

struct Message {
  std::string topic;
  std::string payload;
};

// Persistent-session (clean_session=false) QoS 1 subscriber with automatic reconnect.
class Subscriber {
 public:
  Subscriber(int port, const std::string& topic, const std::string& client_id = "ev-test-sub")
      : topic_(topic) {
    mosquitto_lib_init();
    mosq_ = mosquitto_new(client_id.c_str(), false, this);
    mosquitto_reconnect_delay_set(mosq_, 1, 1, false);
    mosquitto_connect_callback_set(mosq_, [](mosquitto* m, void* self, int rc) {
      auto* s = static_cast<Subscriber*>(self);
      if (rc == 0) {
        mosquitto_subscribe(m, nullptr, s->topic_.c_str(), 1);
      }
    });
    mosquitto_subscribe_callback_set(mosq_, [](mosquitto*, void* self, int, int, const int*) {
      auto* s = static_cast<Subscriber*>(self);
      std::lock_guard lock(s->mutex_);
      s->subscribed_ = true;
    });
    mosquitto_message_callback_set(mosq_, [](mosquitto*, void* self, const mosquitto_message* msg) {
      auto* s = static_cast<Subscriber*>(self);
      std::lock_guard lock(s->mutex_);
      s->messages_.push_back({msg->topic, std::string(static_cast<const char*>(msg->payload),
                                                      static_cast<size_t>(msg->payloadlen))});
    });
    mosquitto_connect(mosq_, "127.0.0.1", port, 10);
    mosquitto_loop_start(mosq_);
  }
  ~Subscriber() {
    mosquitto_disconnect(mosq_);
    mosquitto_loop_stop(mosq_, true);
    mosquitto_destroy(mosq_);
  }
  bool wait_subscribed(double seconds) {
    return wait_until(
        [&] {
          std::lock_guard lock(mutex_);
          return subscribed_;
        },
        seconds);
  }
  std::vector<Message> messages() const {
    std::lock_guard lock(mutex_);
    return messages_;
  }
  size_t count() const {
    std::lock_guard lock(mutex_);
    return messages_.size();
  }
  // Events only: without the MQTT state beside them (<prefix>/available, <prefix>/stats,
  // <prefix>/<camera>/counts|last_event|last_plate, discovery configs).
  static bool is_state_topic(const std::string& topic) {
    for (const char* suffix :
         {"/available", "/stats", "/counts", "/last_event", "/last_plate", "/config"}) {
      const std::string s(suffix);
      if (topic.size() >= s.size() && topic.compare(topic.size() - s.size(), s.size(), s) == 0)
        return true;
    }
    return false;
  }
  std::vector<Message> event_messages() const {
    std::vector<Message> out;
    for (auto& m : messages())
      if (!is_state_topic(m.topic)) out.push_back(m);
    return out;
  }
  size_t event_count() const { return event_messages().size(); }
  // The last payload received on `topic` (empty if none).
  std::string last(const std::string& topic) const {
    std::lock_guard lock(mutex_);
    for (auto it = messages_.rbegin(); it != messages_.rend(); ++it)
      if (it->topic == topic) return it->payload;
    return {};
  }

 private:
  std::string topic_;
  mosquitto* mosq_ = nullptr;
  mutable std::mutex mutex_;
  bool subscribed_ = false;
  std::vector<Message> messages_;
};

inline std::vector<std::string> read_lines(const std::filesystem::path& path) {
  std::vector<std::string> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

}  // namespace ev::test
