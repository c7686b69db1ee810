// CLI conventions: global options before or after the subcommand (and in every --help),
// --version, exit codes 0 ok / 1 runtime failure / 2 usage error, and `detect IMG` as a table.
#include <gtest/gtest.h>

#include <regex>

#include "support/test_support.hpp"

namespace ev {
namespace {

std::string bin() {
  return test::edgevision_binary().string();
}

TEST(CliConventions, VersionPrintsProjectVersionAndExitsZero) {
  auto r = test::run_command(bin() + " --version");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(^edgevision \d+\.\d+\.\d+)"))) << r.out;
}

TEST(CliConventions, UsageErrorsExitTwo) {
  // Unknown option, unknown subcommand, missing required positional, no subcommand, bad value.
  for (const char* args : {" detect --no-such-option x.jpg", " no-such-command", " detect", "",
                           " --log-level loud detect x.jpg"}) {
    auto r = test::run_command(bin() + args);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.err;
    EXPECT_FALSE(r.err.empty()) << args;  // the reason is said on stderr
  }
}

TEST(CliConventions, HelpExitsZeroAndListsGlobalOptionsInEverySubcommand) {
  for (const char* sub :
       {"detect", "anonymize", "run", "track", "models", "models update", "config", "bench"}) {
    auto r = test::run_command(bin() + " " + sub + " --help");
    EXPECT_EQ(r.exit_code, 0) << sub << "\n" << r.err;
    for (const char* opt : {"--models-dir", "--cache-dir", "--offline", "--log-level"})
      EXPECT_NE(r.out.find(opt), std::string::npos) << sub << " --help lacks " << opt;
  }
}

TEST(CliConventions, RuntimeFailureExitsOne) {
  auto r = test::run_command(bin() + " detect /nonexistent/nothing.jpg --offline");
  EXPECT_EQ(r.exit_code, 1) << r.err;
}

// The same detect call with the global options before and after the subcommand gives the same
// table; without --json the detections are a readable table on stdout.
TEST(CliConventions, GlobalOptionsAfterSubcommandAndDetectTable) {
  const std::string img = test::data("images/person.jpg").string();
  const std::string models = test::shared_models_dir().string();
  auto before = test::run_command(bin() + " --offline --models-dir " + models +
                                  " --log-level warn detect " + img + " --model yolox-nano");
  ASSERT_EQ(before.exit_code, 0) << before.err;
  auto after = test::run_command(bin() + " detect " + img + " --model yolox-nano --offline" +
                                 " --models-dir " + models + " --log-level warn");
  ASSERT_EQ(after.exit_code, 0) << after.err;
  EXPECT_EQ(before.out, after.out);
  // --log-level warn after the subcommand took effect: no info lines on stderr.
  EXPECT_EQ(after.err.find("[info]"), std::string::npos) << after.err;

  EXPECT_NE(before.out.find("CLASS"), std::string::npos) << before.out;
  EXPECT_NE(before.out.find("SCORE"), std::string::npos) << before.out;
  for (const char* cls : {"person", "dog", "horse"}) {
    const std::regex row(std::string(R"(person\.jpg\s+0\s+)") + cls + R"(\s+0\.\d{3}\s)");
    EXPECT_TRUE(std::regex_search(before.out, row)) << cls << " row missing:\n" << before.out;
  }
  EXPECT_EQ(before.out.find('{'), std::string::npos) << "table, not JSON:\n" << before.out;
}

}  // namespace
}  // namespace ev
