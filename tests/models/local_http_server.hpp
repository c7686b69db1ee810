// A real HTTP server on 127.0.0.1 (random port) for download tests; nothing leaves the host.
#pragma once

#include <httplib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace ev::test {

inline std::string read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_bytes(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary);
  out << bytes;
}

class LocalHttpServer {
 public:
  // Routes: /model (the bytes), /redirect (302 to /model), /corrupt (one byte changed),
  // /truncated (announces the full length, sends half, closes), /chunked (no Content-Length);
  // anything else is 404.
  explicit LocalHttpServer(std::string body) : body_(std::move(body)) {
    server_.Get("/model", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(body_, "application/octet-stream");
    });
    server_.Get("/redirect", [](const httplib::Request&, httplib::Response& res) {
      res.set_redirect("/model");
    });
    server_.Get("/corrupt", [this](const httplib::Request&, httplib::Response& res) {
      std::string bad = body_;
      bad[bad.size() / 2] ^= 0x01;
      res.set_content(bad, "application/octet-stream");
    });
    server_.Get("/truncated", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content_provider(body_.size(), "application/octet-stream",
                               [this](size_t offset, size_t, httplib::DataSink& sink) {
                                 if (offset >= body_.size() / 2)
                                   return false;  // drop the connection mid-body
                                 sink.write(body_.data() + offset, body_.size() / 2 - offset);
                                 return true;
                               });
    });
    server_.Get("/chunked", [this](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider(
          "application/octet-stream", [this](size_t offset, httplib::DataSink& sink) {
            if (offset >= body_.size()) {
              sink.done();
              return true;
            }
            const size_t n = std::min<size_t>(65536, body_.size() - offset);
            sink.write(body_.data() + offset, n);
            return true;
          });
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 500 && !server_.is_running(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ~LocalHttpServer() {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }
  int port() const { return port_; }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  std::string body_;
  httplib::Server server_;
  int port_ = -1;
  std::thread thread_;
};

}  // namespace ev::test
