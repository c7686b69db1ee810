// Disk faults under the spool, injected without root: spool files that are links to /dev/full
// fail every write with ENOSPC, exactly as a full disk does.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "edgevision/events.hpp"
#include "events/mqtt_test_util.hpp"
#include "support/test_support.hpp"

namespace ev {
namespace {

namespace fs = std::filesystem;
using test::wait_until;

std::vector<std::string> read_lines(const fs::path& file) {
  std::vector<std::string> out;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

EventsConfig jsonl_only(const fs::path& dir) {
  EventsConfig c;
  c.spool_dir = dir / "spool";
  c.jsonl.enabled = true;
  c.jsonl.path = dir / "events.jsonl";
  c.jsonl.spool.dir = dir / "spool/jsonl";
  c.mqtt.spool.dir = dir / "spool/mqtt";
  c.webhook.spool.dir = dir / "spool/webhook";
  return c;
}

nlohmann::json event(int n) {
  auto e = make_event("object_appeared", "cam1");
  e["n"] = n;
  return e;
}

TEST(DiskFaults, FullSpoolStillDeliversCountsAndReports) {
  const fs::path dir = test::temp_dir("disk_full_spool");
  fs::create_directories(dir / "spool/jsonl");
  fs::create_symlink("/dev/full", dir / "spool/jsonl/00000000000000000000.seg");
  auto router = EventRouter::create(jsonl_only(dir));
  ASSERT_TRUE(router) << router.error();
  for (int i = 0; i < 30; ++i) (*router)->publish(event(i));
  EXPECT_TRUE(wait_until([&] { return read_lines(dir / "events.jsonl").size() >= 30; }, 10));
  const SinkStats st = (*router)->stats().front();
  EXPECT_EQ(st.spool.write_errors, 30u);
  EXPECT_TRUE(st.spool.failing);
  EXPECT_NE(st.spool.last_io_error.find("No space left"), std::string::npos)
      << st.spool.last_io_error;
  EXPECT_EQ(st.direct, 30u);
  EXPECT_EQ(st.direct_dropped, 0u);
  (*router)->stop(1000);
  const auto lines = read_lines(dir / "events.jsonl");
  ASSERT_EQ(lines.size(), 30u);
  for (int i = 0; i < 30; ++i) EXPECT_EQ(nlohmann::json::parse(lines[i])["n"], i);
}

TEST(DiskFaults, FailedCommitFileIsRetriedSoARestartDoesNotResend) {
  const fs::path dir = test::temp_dir("disk_full_commit");
  fs::create_directories(dir / "spool/jsonl");
  // The commit file is written through commit.tmp: make that fail.
  fs::create_symlink("/dev/full", dir / "spool/jsonl/commit.tmp");
  auto router = EventRouter::create(jsonl_only(dir));
  ASSERT_TRUE(router) << router.error();
  for (int i = 0; i < 20; ++i) (*router)->publish(event(i));
  ASSERT_TRUE(wait_until([&] { return read_lines(dir / "events.jsonl").size() >= 20; }, 10));
  ASSERT_TRUE(wait_until([&] { return (*router)->stats().front().spool.commit_errors > 0; }, 10));
  EXPECT_FALSE((*router)->stats().front().spool.last_io_error.empty());
  // The disk recovers; no new event arrives. The commit must still reach the disk while the
  // service runs (a kill -9 now must not resend the 20 delivered events).
  fs::remove(dir / "spool/jsonl/commit.tmp");
  auto committed_on_disk = [&] {
    std::ifstream in(dir / "spool/jsonl/commit");
    unsigned long long seq = 0;
    return (in >> seq) ? seq : 0ull;
  };
  EXPECT_TRUE(wait_until([&] { return committed_on_disk() == 20; }, 10))
      << "commit file says " << committed_on_disk();
  EXPECT_TRUE((*router)->stats().front().spool.last_io_error.empty());
  (*router)->stop(1000);
}

}  // namespace
}  // namespace ev
