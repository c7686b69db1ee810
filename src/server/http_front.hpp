// A bounded front for cpp-httplib. Debian's cpp-httplib 0.11 is a compiled library whose
// request-head reader grows a line buffer without limit, counts no headers, has no deadline for
// the whole head, queues accepted sockets without bound (listen backlog 5) and gives every
// connection, idle or slow, a worker thread. None of that can be changed at run time, so the
// front owns the listening socket: one thread accepts and collects request heads under size,
// header-count and deadline limits (idle and slow clients cost a small buffer, never a worker),
// and only a complete, bounded head is handed to a worker that lets httplib parse and route it
// through its protected process_request() on our own Stream. One request per connection.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "edgevision/status.hpp"

namespace httplib {
class Stream;
}

namespace ev::server_internal {

struct FrontLimits {
  size_t max_request_line = 8192;  // 414 beyond
  size_t max_head_bytes = 16384;   // request line + headers; 431 beyond
  int max_headers = 64;            // 431 beyond
  int head_timeout_ms = 5000;      // the whole head must arrive within; 408 after
  int max_connections = 256;       // open connections in all
  int max_connections_per_client = 64;
  int workers = 8;           // connections served at once (SSE streams hold one)
  size_t max_ready = 64;     // complete heads waiting for a worker; 503 beyond
  int io_timeout_ms = 5000;  // per read/write once a worker serves the request
};

// What the head gate decides about the bytes received so far.
enum class HeadVerdict { kIncomplete, kComplete, kLineTooLong, kHeadTooLarge, kTooManyHeaders };
// Pure, so it can be tested and fuzzed: `head` is everything received so far.
HeadVerdict check_head(std::string_view head, const FrontLimits& limits);

struct FrontStats {
  uint64_t accepted = 0;
  uint64_t rejected = 0;   // refused at accept (caps) or queue full
  uint64_t timed_out = 0;  // head not complete in time
  uint64_t too_large = 0;  // 414/431
  uint64_t evicted = 0;    // pending heads closed to make room for a new connection
};

class HttpFront {
 public:
  // Serves one request on a stream whose first bytes are the buffered head.
  using ServeFn = std::function<void(httplib::Stream&)>;

  // Binds address:port (0: any) and listens. Nothing is served before run().
  static Result<std::unique_ptr<HttpFront>> bind(const std::string& address, int port,
                                                 const FrontLimits& limits);
  ~HttpFront();  // stop()
  int port() const;
  int listen_fd() const;
  // True when the bound address is in 127.0.0.0/8 or ::1.
  bool bound_to_loopback() const;
  // Starts the gate and worker threads.
  void run(ServeFn serve);
  // Closes the listener and every pending connection, joins the threads. Workers finish the
  // request they serve (the caller makes long responses end). Idempotent.
  void stop();
  FrontStats stats() const;

  class Impl;

 private:
  explicit HttpFront(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ev::server_internal
