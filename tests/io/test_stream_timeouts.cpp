// A network stream that accepts the connection and then says nothing (a black hole) fails to
// open within the configured timeout instead of FFmpeg's 30 s or never.
#include <gtest/gtest.h>

#include <chrono>

#include "edgevision/io.hpp"
#include "support/loopback_streams.hpp"

namespace ev {
namespace {

using test::BlackHole;

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
