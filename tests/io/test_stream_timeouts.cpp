// A network stream that accepts the connection and then says nothing (a black hole) fails to
// open within the configured timeout instead of FFmpeg's 30 s or never.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "edgevision/io.hpp"

namespace ev {
namespace {

// Accepts connections on loopback and never answers.
class BlackHole {
 public:
  BlackHole() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(fd_, 16);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 100) > 0) {
          const int c = accept(fd_, nullptr, nullptr);
          if (c >= 0) held_.push_back(c);
        }
      }
    });
  }
  ~BlackHole() {
    stop_ = true;
    thread_.join();
    for (int c : held_) close(c);
    close(fd_);
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::vector<int> held_;
  std::thread thread_;
};

TEST(StreamTimeouts, BlackHoleStreamFailsWithinTheOpenTimeout) {
  BlackHole hole;
  SourceOptions opts;
  opts.open_timeout_ms = 1500;
  opts.read_timeout_ms = 1500;
  const auto t0 = std::chrono::steady_clock::now();
  auto src = open_source("http://127.0.0.1:" + std::to_string(hole.port()) + "/cam.mjpg", opts);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_FALSE(src.ok());
  EXPECT_LT(s, 5.0) << "open took " << s << " s";
}

}  // namespace
}  // namespace ev
