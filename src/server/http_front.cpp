// Accept loop, request-head gate and worker pool in front of cpp-httplib (see http_front.hpp).
#include "server/http_front.hpp"
#include "core/thread_name.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace ev::server_internal {

using Clock = std::chrono::steady_clock;

HeadVerdict check_head(std::string_view head, const FrontLimits& limits) {
  const size_t first_nl = head.find('\n');
  if (first_nl == std::string_view::npos) {
    if (head.size() > limits.max_request_line) return HeadVerdict::kLineTooLong;
  } else if (first_nl > limits.max_request_line) {
    return HeadVerdict::kLineTooLong;
  }
  // The head ends at the first empty line ("\r\n\r\n", or "\n\n" from lenient clients).
  size_t end = std::string_view::npos;
  int lines = 0;
  for (size_t pos = 0; pos < head.size();) {
    const size_t nl = head.find('\n', pos);
    if (nl == std::string_view::npos) break;
    const size_t len = nl - pos;
    if (len == 0 || (len == 1 && head[pos] == '\r')) {
      end = nl + 1;
      break;
    }
    if (++lines > limits.max_headers + 1) return HeadVerdict::kTooManyHeaders;
    pos = nl + 1;
  }
  if (end == std::string_view::npos)
    return head.size() >= limits.max_head_bytes ? HeadVerdict::kHeadTooLarge
                                                : HeadVerdict::kIncomplete;
  if (end > limits.max_head_bytes) return HeadVerdict::kHeadTooLarge;
  return HeadVerdict::kComplete;
}

namespace {

std::string peer_ip(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, buf, sizeof buf);
  else if (ss.ss_family == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, buf, sizeof buf);
  return buf;
}

void addr_of(int fd, bool peer, std::string& ip, int& port) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  const int rc = peer ? getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len)
                      : getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  if (rc != 0) return;
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
    port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
    port = ntohs(a->sin6_port);
  }
  ip = buf;
}

bool sockaddr_is_loopback(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET)
    return (ntohl(reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr.s_addr) >> 24) == 127;
  if (ss.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(&a)) return true;
    return IN6_IS_ADDR_V4MAPPED(&a) && a.s6_addr[12] == 127;
  }
  return false;
}

// Best effort, never blocks: the client may be gone or not reading.
void send_error_and_close(int fd, int status, const char* reason, const std::string& message) {
  const std::string body = "{\"error\":\"" + message + "\"}";
  const std::string resp =
      "HTTP/1.1 " + std::to_string(status) + " " + reason +
      "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\nConnection: close\r\n\r\n" + body;
  (void)!send(fd, resp.data(), resp.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  shutdown(fd, SHUT_WR);
  // Unread input makes close() send a reset that can overtake the answer; drain a little.
  char sink[4096];
  for (int i = 0; i < 16 && recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0; ++i) {
  }
  close(fd);
}

// The stream httplib parses: the head we buffered first, then the socket, under timeouts.
class GateStream final : public httplib::Stream {
 public:
  GateStream(int fd, std::string buffered, int timeout_ms)
      : fd_(fd), buf_(std::move(buffered)), timeout_ms_(timeout_ms) {}

  bool is_readable() const override { return pos_ < buf_.size() || wait(POLLIN); }
  bool is_writable() const override { return wait(POLLOUT); }
  ssize_t read(char* ptr, size_t size) override {
    if (pos_ < buf_.size()) {
      const size_t n = std::min(size, buf_.size() - pos_);
      std::memcpy(ptr, buf_.data() + pos_, n);
      pos_ += n;
      if (pos_ == buf_.size()) std::string().swap(buf_), pos_ = 0;
      return static_cast<ssize_t>(n);
    }
    if (!wait(POLLIN)) return -1;
    return recv(fd_, ptr, size, 0);
  }
  ssize_t write(const char* ptr, size_t size) override {
    if (!wait(POLLOUT)) return -1;
    return send(fd_, ptr, size, MSG_NOSIGNAL);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    addr_of(fd_, true, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    addr_of(fd_, false, ip, port);
  }
  int socket() const override { return fd_; }

 private:
  bool wait(short events) const {
    pollfd p{fd_, events, 0};
    int rc;
    do {
      rc = poll(&p, 1, timeout_ms_);
    } while (rc < 0 && errno == EINTR);
    return rc > 0 && (p.revents & (events | POLLHUP | POLLERR));
  }
  int fd_;
  std::string buf_;
  size_t pos_ = 0;
  int timeout_ms_;
};

struct Pending {
  int fd = -1;
  std::string client;
  std::string head;
  Clock::time_point deadline;
};

struct Ready {
  int fd = -1;
  std::string client;
  std::string head;
};

}  // namespace

class HttpFront::Impl {
 public:
  FrontLimits limits;
  int listen_fd = -1;
  int port = 0;
  bool loopback = false;
  int wake[2] = {-1, -1};
  std::atomic<bool> stopping{false};
  bool stopped = false;
  ServeFn serve;
  std::thread gate;
  std::vector<std::thread> workers;

  std::mutex mutex;  // guards everything below
  std::condition_variable cv;
  std::deque<Ready> ready;
  std::map<std::string, int> per_client;  // open connections per client address
  int open = 0;
  FrontStats stats;

  void release(const std::string& client) {
    std::lock_guard lock(mutex);
    --open;
    if (--per_client[client] <= 0) per_client.erase(client);
  }

  void gate_loop();
  void worker_loop();
};

void HttpFront::Impl::gate_loop() {
  std::list<Pending> pending;  // oldest first
  std::vector<pollfd> fds;
  std::vector<std::list<Pending>::iterator> index;
  char chunk[4096];

  auto drop = [&](std::list<Pending>::iterator it, int status, const char* reason,
                  const std::string& message) {
    if (status)
      send_error_and_close(it->fd, status, reason, message);
    else
      close(it->fd);
    release(it->client);
    return pending.erase(it);
  };

  while (!stopping.load()) {
    const auto now = Clock::now();
    for (auto it = pending.begin(); it != pending.end();) {
      if (it->deadline <= now) {
        {
          std::lock_guard lock(mutex);
          ++stats.timed_out;
        }
        it = drop(it, 408, "Request Timeout", "request head not received in time");
      } else {
        ++it;
      }
    }
    fds.clear();
    index.clear();
    fds.push_back({wake[0], POLLIN, 0});
    fds.push_back({listen_fd, POLLIN, 0});
    int timeout_ms = 1000;
    for (auto it = pending.begin(); it != pending.end(); ++it) {
      fds.push_back({it->fd, POLLIN, 0});
      index.push_back(it);
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(it->deadline - now).count() + 1;
      timeout_ms = std::min<int>(timeout_ms, static_cast<int>(std::max<int64_t>(left, 0)));
    }
    const int rc = poll(fds.data(), fds.size(), timeout_ms);
    if (rc < 0 && errno != EINTR) {
      spdlog::error("api: poll failed: {}", std::strerror(errno));
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    if (rc <= 0 || stopping.load()) continue;

    for (size_t i = 0; i < index.size(); ++i) {
      if (!fds[i + 2].revents) continue;
      auto it = index[i];
      const size_t room =
          limits.max_head_bytes + 1 - std::min(it->head.size(), limits.max_head_bytes);
      const ssize_t n = recv(it->fd, chunk, std::min(room, sizeof chunk), MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        drop(it, 0, "", "");
        continue;
      }
      if (n < 0) continue;
      it->head.append(chunk, static_cast<size_t>(n));
      const HeadVerdict v = check_head(it->head, limits);
      if (v == HeadVerdict::kIncomplete) continue;
      if (v != HeadVerdict::kComplete) {
        {
          std::lock_guard lock(mutex);
          ++stats.too_large;
        }
        if (v == HeadVerdict::kLineTooLong)
          drop(it, 414, "URI Too Long", "request line too long");
        else if (v == HeadVerdict::kTooManyHeaders)
          drop(it, 431, "Request Header Fields Too Large", "too many header fields");
        else
          drop(it, 431, "Request Header Fields Too Large", "request head too large");
        continue;
      }
      bool queued = false;
      {
        std::lock_guard lock(mutex);
        if (ready.size() < limits.max_ready) {
          ready.push_back({it->fd, it->client, std::move(it->head)});
          queued = true;
        } else {
          ++stats.rejected;
        }
      }
      if (queued) {
        cv.notify_one();
        pending.erase(it);
      } else {
        drop(it, 503, "Service Unavailable", "server busy");
      }
    }

    if (fds[1].revents & POLLIN) {
      for (int accepted = 0; accepted < 64; ++accepted) {
        const int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) break;
        Pending p{
            fd, peer_ip(fd), {}, Clock::now() + std::chrono::milliseconds(limits.head_timeout_ms)};
        // At a cap, the oldest connection of the same client (else anyone's) that has not sent a
        // whole head yet makes room: idle and slow connections cannot lock out a real request.
        bool admit = true;
        {
          std::unique_lock lock(mutex);
          auto evict_from = [&](bool same_client) {
            for (auto it = pending.begin(); it != pending.end(); ++it)
              if (!same_client || it->client == p.client) {
                ++stats.evicted;
                lock.unlock();
                drop(it, 0, "", "");
                lock.lock();
                return true;
              }
            return false;
          };
          if (per_client[p.client] >= limits.max_connections_per_client && !evict_from(true))
            admit = false;
          if (admit && open >= limits.max_connections && !evict_from(false)) admit = false;
          if (admit) {
            ++open;
            ++per_client[p.client];
            ++stats.accepted;
          } else {
            ++stats.rejected;
            if (per_client[p.client] <= 0) per_client.erase(p.client);
          }
        }
        if (!admit) {
          send_error_and_close(fd, 503, "Service Unavailable", "too many connections");
          continue;
        }
        pending.push_back(std::move(p));
      }
    }
  }
  for (auto& p : pending) {
    close(p.fd);
    release(p.client);
  }
}

void HttpFront::Impl::worker_loop() {
  for (;;) {
    Ready r;
    {
      std::unique_lock lock(mutex);
      cv.wait(lock, [&] { return !ready.empty() || stopping.load(); });
      if (ready.empty()) return;
      r = std::move(ready.front());
      ready.pop_front();
    }
    if (!stopping.load()) {
      GateStream stream(r.fd, std::move(r.head), limits.io_timeout_ms);
      try {
        serve(stream);
      } catch (const std::exception& e) {
        spdlog::error("api: request failed: {}", e.what());
      }
    }
    shutdown(r.fd, SHUT_RDWR);
    close(r.fd);
    release(r.client);
  }
}

Result<std::unique_ptr<HttpFront>> HttpFront::bind(const std::string& address, int port,
                                                   const FrontLimits& limits) {
  using R = Result<std::unique_ptr<HttpFront>>;
  if (limits.workers < 1 || limits.max_connections < 1 || limits.max_connections_per_client < 1 ||
      limits.max_headers < 1 || limits.max_head_bytes < 64 || limits.max_request_line < 16 ||
      limits.head_timeout_ms < 1 || limits.max_ready < 1)
    return R::Error("api: invalid connection limits");
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = getaddrinfo(address.c_str(), service.c_str(), &hints, &res); rc != 0)
    return R::Error("api: cannot resolve listen address '" + address + "': " + gai_strerror(rc));
  int fd = -1;
  std::string last_error = "no address";
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) continue;
    // SO_REUSEADDR only: SO_REUSEPORT would let a second process share the port silently.
    int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd, 128) == 0) break;
    last_error = std::strerror(errno);
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0)
    return R::Error("api: cannot listen on " + address + ":" + service + " (" + last_error + ")");
  auto impl = std::make_unique<Impl>();
  impl->limits = limits;
  impl->listen_fd = fd;
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  impl->loopback = sockaddr_is_loopback(ss);
  impl->port = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                        : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  if (pipe2(impl->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
    close(fd);
    return R::Error(std::string("api: pipe: ") + std::strerror(errno));
  }
  return std::unique_ptr<HttpFront>(new HttpFront(std::move(impl)));
}

HttpFront::HttpFront(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpFront::~HttpFront() {
  stop();
  if (impl_->listen_fd >= 0) close(impl_->listen_fd);
  for (int fd : impl_->wake)
    if (fd >= 0) close(fd);
}
int HttpFront::port() const {
  return impl_->port;
}
int HttpFront::listen_fd() const {
  return impl_->listen_fd;
}
bool HttpFront::bound_to_loopback() const {
  return impl_->loopback;
}

void HttpFront::run(ServeFn serve) {
  impl_->serve = std::move(serve);
  impl_->gate = std::thread([this] {
    set_thread_name("http-gate");
    impl_->gate_loop();
  });
  for (int i = 0; i < impl_->limits.workers; ++i)
    impl_->workers.emplace_back([this, i] {
      set_thread_name("http-", std::to_string(i));
      impl_->worker_loop();
    });
}

void HttpFront::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->stopping = true;
  (void)!write(impl_->wake[1], "x", 1);
  { std::lock_guard lock(impl_->mutex); }
  impl_->cv.notify_all();
  if (impl_->gate.joinable()) impl_->gate.join();
  for (auto& t : impl_->workers) t.join();
  impl_->workers.clear();
  // Heads that were waiting for a worker are answered by nobody.
  std::lock_guard lock(impl_->mutex);
  for (auto& r : impl_->ready) close(r.fd);
  impl_->ready.clear();
}

FrontStats HttpFront::stats() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->stats;
}

}  // namespace ev::server_internal
