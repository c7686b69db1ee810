// Hostile clients against the REST server: floods of request line and headers, a body sent on
// after a 413, idle and slowloris connections. Loopback only, bounded counts and time.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>

#include "edgevision/server.hpp"
#include "server/fake_service.hpp"
#include "server/http_front.hpp"
#include "server/server_internal.hpp"

namespace ev {
namespace {
using namespace std::chrono_literals;
using server_internal::check_head;
using server_internal::FrontLimits;
using server_internal::HeadVerdict;
using server_internal::process_rss_bytes;

constexpr const char* kToken = "limits-test-token";

int connect_to(int port, bool nonblocking = false) {
  const int fd = socket(AF_INET, SOCK_STREAM | (nonblocking ? SOCK_NONBLOCK : 0), 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  if (rc != 0 && !(nonblocking && errno == EINPROGRESS)) {
    close(fd);
    return -1;
  }
  return fd;
}

// Reads until the peer closes or `timeout` passes; returns what arrived.
std::string read_all(int fd, std::chrono::milliseconds timeout) {
  std::string out;
  const auto end = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    const ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// Sends `prefix`, then `filler` repeated up to `total` bytes or until the server stops taking
// them (it closed the connection); returns the server's answer.
std::string flood(int port, const std::string& prefix, const std::string& filler, size_t total) {
  const int fd = connect_to(port);
  if (fd < 0) return "connect failed";
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  size_t sent = 0;
  if (send(fd, prefix.data(), prefix.size(), MSG_NOSIGNAL) < 0) sent = total;
  std::string block;
  while (!filler.empty() && block.size() < 65536) block += filler;
  while (sent < total) {
    const ssize_t n = send(fd, block.data(), std::min(block.size(), total - sent), MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  std::string answer = read_all(fd, 3s);
  close(fd);
  return answer;
}

int status_of(const std::string& raw) {
  if (raw.size() < 12 || raw.rfind("HTTP/1.", 0) != 0) return -1;
  return std::atoi(raw.substr(9, 3).c_str());
}

class HttpLimitsTest : public ::testing::Test {
 protected:
  void start(ServerParams p = {}) {
    p.port = 0;
    auto s = Server::start(p, service_);
    ASSERT_TRUE(s.ok()) << s.error();
    server_ = std::move(*s);
  }
  // One GET /health on a fresh connection: milliseconds until the full answer, -1 on failure.
  double health_ms() {
    const auto t0 = std::chrono::steady_clock::now();
    httplib::Client c("127.0.0.1", server_->port());
    c.set_connection_timeout(3);
    c.set_read_timeout(3);
    auto r = c.Get("/health");
    if (!r || r->status != 200) return -1;
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
  test::FakeService service_;
  std::unique_ptr<Server> server_;
};

TEST_F(HttpLimitsTest, RequestLineWithoutLineEndIsRefusedAndMemoryStaysFlat) {
  start();
  const int64_t before = process_rss_bytes();
  std::vector<std::thread> threads;
  std::vector<std::string> answers(4);
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      answers[i] = flood(server_->port(), "GET /", "aaaaaaaaaaaaaaaa", size_t{64} << 20);
    });
  for (auto& t : threads) t.join();
  const int64_t after = process_rss_bytes();
  RecordProperty("rss_before", std::to_string(before));
  RecordProperty("rss_after", std::to_string(after));
  for (const auto& a : answers) EXPECT_EQ(status_of(a), 414) << a.substr(0, 200);
  // 4 x 64 MiB offered; the gate keeps at most max_request_line bytes per connection.
  EXPECT_LT(after - before, int64_t{24} << 20) << "RSS " << before << " -> " << after;
  EXPECT_GT(health_ms(), 0);
}

TEST_F(HttpLimitsTest, HeaderFloodIsRefusedBeforeAuthAndMemoryStaysFlat) {
  ServerParams p;
  p.token = kToken;
  start(p);
  const int64_t before = process_rss_bytes();
  std::vector<std::thread> threads;
  std::vector<std::string> answers(16);
  for (int i = 0; i < 16; ++i)
    threads.emplace_back([&, i] {
      // 256 Ki tiny headers each (1.5 MiB), to the one endpoint that needs no token.
      answers[i] = flood(server_->port(), "GET /health HTTP/1.1\r\nHost: x\r\n", "X: y\r\n",
                         size_t{256} * 1024 * 6);
    });
  for (auto& t : threads) t.join();
  const int64_t after = process_rss_bytes();
  RecordProperty("rss_before", std::to_string(before));
  RecordProperty("rss_after", std::to_string(after));
  for (const auto& a : answers) EXPECT_EQ(status_of(a), 431) << a.substr(0, 200);
  EXPECT_LT(after - before, int64_t{24} << 20) << "RSS " << before << " -> " << after;

  // Many small headers under the byte limit but over the count limit.
  std::string many = "GET /health HTTP/1.1\r\n";
  for (int i = 0; i < 100; ++i) {
    many += 'A';
    many += std::to_string(i);
    many += ": 1\r\n";
  }
  EXPECT_EQ(status_of(flood(server_->port(), many + "\r\n", "", 0)), 431);
  // A normal request still works.
  EXPECT_GT(health_ms(), 0);
}

TEST_F(HttpLimitsTest, BodyAfter413IsNeverParsedAsARequest) {
  ServerParams p;
  p.token = kToken;
  p.max_body_bytes = 1000;
  start(p);
  // The "body" is a second request; a server that parses on after the 413 answers it too.
  const std::string smuggled = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
  std::string body;
  while (body.size() < 4000) body += smuggled;
  const std::string head =
      "POST /detect HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + std::string(kToken) +
      "\r\nContent-Type: image/jpeg\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  const int fd = connect_to(server_->port());
  ASSERT_GE(fd, 0);
  ASSERT_GT(send(fd, head.data(), head.size(), MSG_NOSIGNAL), 0);
  std::this_thread::sleep_for(100ms);
  (void)!send(fd, body.data(), body.size(), MSG_NOSIGNAL);
  const std::string answer = read_all(fd, 3s);
  close(fd);
  EXPECT_EQ(status_of(answer), 413) << answer;
  size_t responses = 0;
  for (size_t pos = 0; (pos = answer.find("HTTP/1.1 ", pos)) != std::string::npos; ++pos)
    ++responses;
  EXPECT_EQ(responses, 1u) << answer;
}

TEST_F(HttpLimitsTest, HealthAnswersWhileIdleAndSlowlorisConnectionsAreOpen) {
  start();
  std::vector<int> idle;
  for (int i = 0; i < 100; ++i) {
    const int fd = connect_to(server_->port(), /*nonblocking=*/true);
    ASSERT_GE(fd, 0);
    idle.push_back(fd);
  }
  std::atomic<bool> done{false};
  std::vector<int> slow;
  for (int i = 0; i < 20; ++i) {
    const int fd = connect_to(server_->port());
    ASSERT_GE(fd, 0);
    slow.push_back(fd);
  }
  // Slowloris: a valid start, then one header byte every 100 ms, never the blank line.
  std::thread loris([&] {
    for (int fd : slow) (void)!send(fd, "GET /health HTTP/1.1\r\n", 22, MSG_NOSIGNAL);
    while (!done) {
      for (int fd : slow) (void)!send(fd, "X", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      std::this_thread::sleep_for(100ms);
    }
  });
  std::this_thread::sleep_for(300ms);
  double worst = 0;
  for (int i = 0; i < 10; ++i) {
    const double ms = health_ms();
    ASSERT_GT(ms, 0) << "request " << i << " failed";
    worst = std::max(worst, ms);
    std::this_thread::sleep_for(200ms);
  }
  done = true;
  loris.join();
  EXPECT_LT(worst, 1000.0);
  RecordProperty("health_worst_ms", std::to_string(worst));
  for (int fd : idle) close(fd);
  for (int fd : slow) close(fd);
}

TEST_F(HttpLimitsTest, IncompleteHeadIsClosedAtTheDeadline) {
  ServerParams p;
  p.head_timeout_ms = 800;
  start(p);
  const int fd = connect_to(server_->port());
  ASSERT_GE(fd, 0);
  const auto t0 = std::chrono::steady_clock::now();
  std::atomic<bool> done{false};
  std::thread loris([&] {
    (void)!send(fd, "GET /health HTTP/1.1\r\n", 22, MSG_NOSIGNAL);
    while (!done) {
      (void)!send(fd, "X", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      std::this_thread::sleep_for(50ms);
    }
  });
  const std::string answer = read_all(fd, 4s);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  done = true;
  loris.join();
  close(fd);
  EXPECT_EQ(status_of(answer), 408) << answer;
  EXPECT_LT(s, 2.0);
}

TEST_F(HttpLimitsTest, ConnectionCapsEvictPendingHeads) {
  ServerParams p;
  p.max_connections_per_client = 4;
  start(p);
  std::vector<int> idle;
  for (int i = 0; i < 10; ++i) idle.push_back(connect_to(server_->port()));
  std::this_thread::sleep_for(200ms);
  // Still served: the oldest idle connections made room.
  EXPECT_GT(health_ms(), 0);
  int closed_by_server = 0;
  for (int fd : idle) {
    char c;
    pollfd pfd{fd, POLLIN, 0};
    if (poll(&pfd, 1, 500) > 0 && recv(fd, &c, 1, MSG_DONTWAIT) == 0) ++closed_by_server;
    close(fd);
  }
  EXPECT_GE(closed_by_server, 6);
}

// Bounded random requests against the live server (token set): every answer is a well-formed
// HTTP status or a closed connection, the server keeps serving and its memory stays flat.
TEST_F(HttpLimitsTest, RandomRequestsAgainstTheLiveServer) {
  ServerParams p;
  p.token = kToken;
  p.head_timeout_ms = 300;
  start(p);
  std::mt19937 rng(99);
  const std::vector<std::string> starts = {"GET /health HTTP/1.1\r\n",
                                           "POST /detect HTTP/1.1\r\n",
                                           "GET /cameras HTTP/1.0\r\n",
                                           "GET /../../etc/passwd HTTP/1.1\r\n",
                                           "",
                                           "\r\n",
                                           "OPTIONS * HTTP/1.1\r\n"};
  const std::string alphabet = "GET/ :\r\n\tHTTP1.0aZ%\x00\xff-=;,Content-Length: 99\r\n";
  const int64_t before = process_rss_bytes();
  constexpr int kRequests = 400;
  int answered = 0, closed = 0;
  for (int i = 0; i < kRequests; ++i) {
    std::string req = starts[rng() % starts.size()];
    const int headers = static_cast<int>(rng() % 80);
    for (int h = 0; h < headers; ++h) {
      std::string line(rng() % 40, ' ');
      for (auto& c : line) c = alphabet[rng() % alphabet.size()];
      req += line + (rng() % 4 ? "\r\n" : "\n");
    }
    if (rng() % 3) req += "\r\n";
    if (rng() % 5 == 0) req += std::string(rng() % 30000, 'x');
    const int fd = connect_to(server_->port());
    ASSERT_GE(fd, 0);
    (void)!send(fd, req.data(), req.size(), MSG_NOSIGNAL);
    shutdown(fd, SHUT_WR);
    const std::string answer = read_all(fd, 2s);
    close(fd);
    if (answer.empty()) {
      ++closed;
      continue;
    }
    const int status = status_of(answer);
    ASSERT_GE(status, 200) << i << ": " << answer.substr(0, 120);
    ASSERT_LT(status, 600) << i;
    ++answered;
  }
  EXPECT_GT(answered, 0);
  EXPECT_GT(health_ms(), 0);
  EXPECT_LT(process_rss_bytes() - before, int64_t{24} << 20);
  RecordProperty("fuzz_requests", kRequests);
  RecordProperty("fuzz_answered", answered);
  RecordProperty("fuzz_closed", closed);
}

TEST(HttpHead, Verdicts) {
  FrontLimits l;
  l.max_request_line = 32;
  l.max_head_bytes = 128;
  l.max_headers = 3;
  EXPECT_EQ(check_head("GET / HTTP/1.1\r\n", l), HeadVerdict::kIncomplete);
  EXPECT_EQ(check_head("GET / HTTP/1.1\r\nA: 1\r\n\r\n", l), HeadVerdict::kComplete);
  EXPECT_EQ(check_head("GET / HTTP/1.1\nA: 1\n\n", l), HeadVerdict::kComplete);
  EXPECT_EQ(check_head("GET /" + std::string(40, 'a'), l), HeadVerdict::kLineTooLong);
  EXPECT_EQ(check_head("GET /" + std::string(40, 'a') + "\r\n\r\n", l), HeadVerdict::kLineTooLong);
  EXPECT_EQ(check_head("GET / HTTP/1.1\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\n", l),
            HeadVerdict::kTooManyHeaders);
  EXPECT_EQ(check_head("GET / HTTP/1.1\r\nA: " + std::string(120, 'x'), l),
            HeadVerdict::kHeadTooLarge);
  // Bytes after the head (a body) do not count against it.
  EXPECT_EQ(check_head("GET / HTTP/1.1\r\n\r\n" + std::string(500, 'b'), l),
            HeadVerdict::kComplete);
}

TEST(HttpHead, LoopbackIsDecidedByAddress) {
  EXPECT_TRUE(is_loopback_address("127.0.0.1"));
  EXPECT_TRUE(is_loopback_address("127.1.2.3"));
  EXPECT_TRUE(is_loopback_address("::1"));
  EXPECT_TRUE(is_loopback_address("[::1]"));
  EXPECT_FALSE(is_loopback_address("127.evil.example"));
  EXPECT_FALSE(is_loopback_address("127.0.0.1.evil.example"));
  EXPECT_FALSE(is_loopback_address("1270.0.0.1"));
  EXPECT_FALSE(is_loopback_address("::"));
  test::FakeService service;
  ServerParams p;
  p.listen_address = "127.evil.example";
  p.port = 0;
  auto s = Server::start(p, service);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().find("without a token"), std::string::npos) << s.error();
}

// Bounded random input against the head gate: no crash, a verdict for every input, and a
// complete verdict only for heads within the limits.
TEST(HttpHead, RandomHeadsFuzz) {
  std::mt19937 rng(1234);
  FrontLimits l;
  l.max_request_line = 64;
  l.max_head_bytes = 256;
  l.max_headers = 5;
  const std::string alphabet = "GET /:\r\n \tabcXYZ01\x00\xff";
  int complete = 0;
  constexpr int kIterations = 200000;
  for (int i = 0; i < kIterations; ++i) {
    std::string s(rng() % 400, ' ');
    for (auto& ch : s) ch = alphabet[rng() % alphabet.size()];
    const HeadVerdict v = check_head(s, l);
    if (v == HeadVerdict::kComplete) {
      ++complete;
      // Reference: the head ends after the first empty line.
      size_t end = std::string::npos;
      for (size_t pos = 0, nl; (nl = s.find('\n', pos)) != std::string::npos; pos = nl + 1)
        if (nl == pos || (nl == pos + 1 && s[pos] == '\r')) {
          end = nl + 1;
          break;
        }
      ASSERT_LE(end, l.max_head_bytes) << i;
    }
  }
  EXPECT_GT(complete, 0);
}

}  // namespace
}  // namespace ev
