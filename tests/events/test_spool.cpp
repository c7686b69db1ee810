#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "edgevision/events.hpp"
#include "support/test_support.hpp"

namespace ev {
namespace {

namespace fs = std::filesystem;

std::unique_ptr<Spool> open_spool(const fs::path& dir, uint64_t max_bytes = 1 << 20,
                                  uint64_t segment = 0) {
  auto s = Spool::open({dir, max_bytes, segment});
  EXPECT_TRUE(s) << s.error();
  return s ? std::move(*s) : nullptr;
}

std::string payload(int i) {
  return "{\"n\":" + std::to_string(i) + "}";
}

// Reads and commits everything, returning payloads in order.
std::vector<std::string> drain(Spool& s) {
  std::vector<std::string> out;
  for (;;) {
    auto recs = s.read(s.committed(), 7);
    EXPECT_TRUE(recs) << recs.error();
    if (!recs || recs->empty()) break;
    for (auto& r : *recs) out.push_back(r.payload);
    EXPECT_TRUE(s.commit(recs->back().next, false));
  }
  return out;
}

TEST(Spool, AppendReadCommitInOrder) {
  auto s = open_spool(test::temp_dir("spool_basic"));
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(s->append(payload(i)));
  ASSERT_TRUE(s->flush());
  EXPECT_EQ(s->stats().pending, 50u);
  auto out = drain(*s);
  ASSERT_EQ(out.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(out[i], payload(i));
  EXPECT_EQ(s->stats().pending, 0u);
}

TEST(Spool, UnacknowledgedRecordsAreReadAgain) {
  auto s = open_spool(test::temp_dir("spool_unacked"));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(s->append(payload(i)));
  auto first = s->read(s->committed(), 3);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->size(), 3u);
  ASSERT_TRUE(s->commit((*first)[0].next, false));  // only record 0 acknowledged
  auto again = s->read(s->committed(), 10);
  ASSERT_TRUE(again);
  ASSERT_EQ(again->size(), 4u);
  EXPECT_EQ((*again)[0].payload, payload(1));
  EXPECT_EQ((*again)[0].seq, 1u);
}

TEST(Spool, SurvivesRestartAndReplaysFromCommit) {
  const fs::path dir = test::temp_dir("spool_restart");
  {
    auto s = open_spool(dir, 1 << 20, 4096);
    for (int i = 0; i < 200; ++i) ASSERT_TRUE(s->append(payload(i)));
    auto recs = s->read(s->committed(), 120);
    ASSERT_TRUE(recs);
    ASSERT_EQ(recs->size(), 120u);
    ASSERT_TRUE(s->commit(recs->back().next, true));
  }
  auto s = open_spool(dir, 1 << 20, 4096);
  EXPECT_EQ(s->stats().pending, 80u);
  auto out = drain(*s);
  ASSERT_EQ(out.size(), 80u);
  EXPECT_EQ(out.front(), payload(120));
  EXPECT_EQ(out.back(), payload(199));
  // Appends continue the sequence after a restart.
  ASSERT_TRUE(s->append(payload(200)));
  auto more = s->read(s->committed(), 10);
  ASSERT_TRUE(more);
  ASSERT_EQ(more->size(), 1u);
  EXPECT_EQ((*more)[0].seq, 200u);
}

TEST(Spool, NonDurableCommitRedeliversAfterRestart) {
  const fs::path dir = test::temp_dir("spool_nondurable");
  {
    auto s = open_spool(dir);
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(s->append(payload(i)));
    auto recs = s->read(s->committed(), 4);
    ASSERT_TRUE(s->commit(recs->back().next, true));
    recs = s->read(s->committed(), 4);
    ASSERT_TRUE(s->commit(recs->back().next, false));
    // Destructor persists the last commit: clean shutdown loses nothing and repeats nothing.
  }
  auto s = open_spool(dir);
  EXPECT_EQ(s->stats().pending, 2u);
}

TEST(Spool, TornTailIsCutOnOpen) {
  const fs::path dir = test::temp_dir("spool_torn");
  {
    auto s = open_spool(dir);
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(s->append(payload(i)));
  }
  // Simulate a crash in the middle of an append.
  fs::path seg;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".seg") seg = e.path();
  }
  ASSERT_FALSE(seg.empty());
  {
    std::ofstream out(seg, std::ios::app | std::ios::binary);
    out.write("\x20\x00\x00\x00garbage", 11);
  }
  auto s = open_spool(dir);
  EXPECT_EQ(s->stats().pending, 10u);
  ASSERT_TRUE(s->append(payload(10)));
  auto out = drain(*s);
  ASSERT_EQ(out.size(), 11u);
  EXPECT_EQ(out.back(), payload(10));
}

TEST(Spool, BoundedDropsOldestAndCounts) {
  const fs::path dir = test::temp_dir("spool_bound");
  const uint64_t max_bytes = 64 * 1024;
  auto s = open_spool(dir, max_bytes, 8 * 1024);
  const std::string big(200, 'x');
  for (int i = 0; i < 5000; ++i) {
    ASSERT_TRUE(s->append("{\"n\":" + std::to_string(i) + ",\"pad\":\"" + big + "\"}"));
    ASSERT_LE(s->stats().bytes, max_bytes);
  }
  uint64_t on_disk = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".seg") on_disk += fs::file_size(e.path());
  }
  EXPECT_LE(on_disk, max_bytes);
  const SpoolStats st = s->stats();
  EXPECT_GT(st.dropped, 4000u);
  EXPECT_EQ(st.dropped + st.pending, 5000u);
  // What is left is the newest events, still in order.
  auto out = drain(*s);
  ASSERT_FALSE(out.empty());
  EXPECT_NE(out.back().find("\"n\":4999,"), std::string::npos);
  int last = -1;
  for (const auto& p : out) {
    const int n = std::stoi(p.substr(5));
    EXPECT_EQ(n, last < 0 ? n : last + 1);
    last = n;
  }
}

TEST(Spool, DropUnderAReaderRestartsAtOldest) {
  auto s = open_spool(test::temp_dir("spool_drop_reader"), 16 * 1024, 4096);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(s->append(payload(i)));
  auto in_flight = s->read(s->committed(), 5);
  ASSERT_TRUE(in_flight);
  const std::string pad(300, 'y');
  for (int i = 10; i < 200; ++i)
    ASSERT_TRUE(s->append("{\"n\":" + std::to_string(i) + ",\"p\":\"" + pad + "\"}"));
  // The in-flight records were dropped: committing them is ignored, reading restarts at the
  // oldest surviving record.
  EXPECT_TRUE(s->commit(in_flight->back().next, false));
  auto recs = s->read(in_flight->back().next, 1);
  ASSERT_TRUE(recs);
  ASSERT_EQ(recs->size(), 1u);
  EXPECT_GT(recs->front().seq, 9u);
  EXPECT_EQ(s->stats().dropped + s->stats().pending, 200u);
}

TEST(Spool, RejectsOversizedRecord) {
  auto s = open_spool(test::temp_dir("spool_oversized"), 16 * 1024);
  EXPECT_FALSE(s->append(std::string(20 * 1024, 'z')));
  EXPECT_TRUE(s->append(payload(1)));
  EXPECT_EQ(s->stats().pending, 1u);
}

}  // namespace
}  // namespace ev
