// Misbehaving network cameras on loopback, for the stream timeout and camera isolation tests.
#pragma once

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "support/test_support.hpp"

namespace ev::test {

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
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/cam.mjpg"; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::vector<int> held_;
  std::thread thread_;
};

// An MJPEG camera that sends `frames` frames of a real clip (one every `interval_ms`) and then
// goes silent with the connection left open, until close_streams().
class SilentAfterMjpeg {
 public:
  explicit SilentAfterMjpeg(int frames, int interval_ms = 50)
      : frames_(frames), interval_ms_(interval_ms) {
    cv::VideoCapture in(data("video/otb_crossing/crossing.avi").string());
    cv::Mat f;
    for (int i = 0; i < frames && in.read(f); ++i) {
      std::vector<uint8_t> b;
      cv::imencode(".jpg", f, b);
      jpegs_.emplace_back(b.begin(), b.end());
    }
    server_.Get("/cam.mjpg", [this](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider(
          "multipart/x-mixed-replace; boundary=frame", [this](size_t, httplib::DataSink& sink) {
            if (sent_ < frames_) {
              const std::string& j = jpegs_[sent_ % jpegs_.size()];
              const std::string part = "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: " +
                                       std::to_string(j.size()) + "\r\n\r\n" + j + "\r\n";
              ++sent_;
              std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms_));
              return sink.write(part.data(), part.size());
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));  // silent, still open
            return !done_.load();
          });
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~SilentAfterMjpeg() {
    close_streams();
    server_.stop();
    thread_.join();
  }
  // Frames of the clip that could be read (the test checks it got all it asked for).
  size_t frames_loaded() const { return jpegs_.size(); }
  int sent() const { return sent_.load(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/cam.mjpg"; }
  // Ends the silent streams so a reader waiting in FFmpeg returns at once.
  void close_streams() { done_ = true; }

 private:
  int frames_;
  int interval_ms_;
  std::vector<std::string> jpegs_;
  std::atomic<bool> done_{false};
  std::atomic<int> sent_{0};
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace ev::test
