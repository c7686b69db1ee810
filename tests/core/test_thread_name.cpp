// Threads carry their stage and camera in their name (top -H, perf --sort comm).
#include <gtest/gtest.h>

#include <sys/syscall.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <thread>

#include "core/thread_name.hpp"

namespace ev {
namespace {

std::string own_name() {
  std::ifstream in("/proc/self/task/" + std::to_string(syscall(SYS_gettid)) + "/comm");
  std::string name;
  std::getline(in, name);
  return name;
}

std::string name_of_thread(std::string_view prefix, std::string_view id) {
  std::string name;
  std::thread([&] {
    set_thread_name(prefix, id);
    name = own_name();
  }).join();
  return name;
}

TEST(ThreadName, StagePrefixAndCameraId) {
  EXPECT_EQ(name_of_thread("anon-", "cam1"), "anon-cam1");
  EXPECT_EQ(name_of_thread("stats", ""), "stats");
}

TEST(ThreadName, LongIdsKeepTheirEndWithinFifteenBytes) {
  // Camera ids often share a prefix ("parking-lot-north", "parking-lot-south"): the end is
  // what tells them apart.
  EXPECT_EQ(name_of_thread("det-", "parking-lot-north"), "det-g-lot-north");
  EXPECT_EQ(name_of_thread("det-", "parking-lot-south"), "det-g-lot-south");
  EXPECT_EQ(name_of_thread("a-prefix-longer-than-fifteen", "x"), "a-prefix-longer");
}

}  // namespace
}  // namespace ev
