// A stream that cannot be opened is named without its credentials.
#include <gtest/gtest.h>

#include "edgevision/io.hpp"

namespace ev {
namespace {

TEST(SourceRedaction, OpenErrorHidesCredentials) {
  // Port 1 on loopback: refused at once.
  auto src = open_source("rtsp://admin:SuperSecret99@127.0.0.1:1/stream1", SourceOptions{});
  ASSERT_FALSE(src.ok());
  EXPECT_EQ(src.error().find("SuperSecret99"), std::string::npos) << src.error();
  EXPECT_EQ(src.error().find("admin"), std::string::npos) << src.error();
  EXPECT_NE(src.error().find("rtsp://***@127.0.0.1:1/stream1"), std::string::npos) << src.error();
}

}  // namespace
}  // namespace ev
