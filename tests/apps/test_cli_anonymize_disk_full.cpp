// `anonymize` writing a video to a full disk: exit 1 and the number of frames that really
// reached the file, never "all written". The full disk is /dev/full (ENOSPC on every write).
// The MJPG writer flushes every frame, so the command stops at the first one the disk refuses.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/test_support.hpp"

namespace ev {
namespace {
namespace fs = std::filesystem;

TEST(CliAnonymizeDiskFull, VideoToAFullDiskFailsWithTheFramesReallyWritten) {
  const fs::path dir = test::temp_dir("cli_disk_full");
  const fs::path in = test::data("video/otb_crossing/crossing.avi");
  ASSERT_TRUE(fs::exists(in)) << in;
  fs::create_symlink("/dev/full", dir / "out.avi");
  auto r =
      test::run_command(test::edgevision_binary().string() + " --models-dir " +
                        test::shared_models_dir().string() + " --offline anonymize " + in.string() +
                        " -o " + (dir / "out.avi").string() + " --max-frames 30 --json");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(r.out);
  } catch (const std::exception&) {
    FAIL() << "not JSON: " << r.out << "\nstderr: " << r.err;
  }
  EXPECT_GE(j["frames"].get<int>(), 1) << j.dump();
  EXPECT_LE(j["frames"].get<int>(), 30) << j.dump();
  EXPECT_EQ(j["frames_written"], 0) << j.dump();
  EXPECT_GE(j["write_errors"].get<int>(), 1);
  EXPECT_NE(r.err.find("frames could be written"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ev
