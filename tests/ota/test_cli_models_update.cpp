// `edgevision models update/rollback` and `edgevision diagnose` through the real binary.
// Skipped when the binary has not been built (it is not a dependency of this test target).
#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "edgevision/models.hpp"
#include "support/shared_models.hpp"
#include "support/test_support.hpp"

namespace ev {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json parse(const test::CommandResult& r) {
  try {
    return json::parse(r.out);
  } catch (const std::exception&) {
    ADD_FAILURE() << "not JSON: " << r.out << "\nstderr: " << r.err;
    return {};
  }
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(test::edgevision_binary())) << "edgevision binary not built";
  }
  std::string bin() const { return test::edgevision_binary().string(); }
};

TEST_F(CliTest, ModelsUpdateAndRollback) {
  const fs::path dir = test::temp_dir("cli_models_update");
  const fs::path model = fs::path(EV_SOURCE_DIR) / "tests" / "detect" / "data" / "yolox_synth.onnx";
  const std::string bytes = slurp(model);
  auto sha = sha256_file(model);
  ASSERT_TRUE(sha.ok());
  httplib::Server server;
  server.Get("/m.onnx", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(bytes, "application/octet-stream");
  });
  server.Get("/bad.onnx", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(1000, 'z'), "application/octet-stream");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread t([&] { server.listen_after_bind(); });
  for (int i = 0; i < 500 && !server.is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));

  const std::string common = bin() + " --cache-dir " + (dir / "cache").string() + " models ";
  const std::string url = fmt::format("http://127.0.0.1:{}/m.onnx", port);
  auto v1 = test::run_command(common + "update yolox-nano --version t1 --url " + url +
                              " --sha256 " + *sha + " --json");
  EXPECT_EQ(v1.exit_code, 0) << v1.err;
  EXPECT_EQ(parse(v1)["version"], "t1");
  auto v2 = test::run_command(common + "update yolox-nano --version t2 --url " + url +
                              " --sha256 " + *sha + " --json");
  EXPECT_EQ(v2.exit_code, 0) << v2.err;
  EXPECT_EQ(parse(v2)["previous"], "t1");
  // Wrong hash: refused, t2 still current.
  auto bad = test::run_command(common + "update yolox-nano --version t3 --url " +
                               fmt::format("http://127.0.0.1:{}/bad.onnx", port) + " --sha256 " +
                               *sha + " --json");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(parse(bad)["ok"], false);
  EXPECT_EQ(fs::read_symlink(dir / "cache" / "ota" / "yolox-nano" / "current").filename(), "t2");
  auto back = test::run_command(common + "rollback yolox-nano --json");
  EXPECT_EQ(back.exit_code, 0) << back.err;
  EXPECT_EQ(parse(back)["version"], "t1");
  auto none = test::run_command(common + "rollback no-such-model");
  EXPECT_EQ(none.exit_code, 1);
  server.stop();
  t.join();
}

// A face model update is judged by face coverage on --check-images; --max-face-drop sets the bar.
TEST_F(CliTest, FaceModelUpdateJudgedByFaceCoverage) {
  const fs::path dir = test::temp_dir("cli_models_update_face");
  ModelManager models(test::shared_model_options("cli_models_update_face_lookup"));
  auto shipped = models.locate("yunet");
  ASSERT_TRUE(shipped.ok()) << shipped.error();
  const fs::path copy = dir / "yunet_v2.onnx";
  fs::copy_file(shipped->paths.at(0), copy, fs::copy_options::overwrite_existing);
  auto sha = sha256_file(copy);
  ASSERT_TRUE(sha.ok());
  const std::string update =
      bin() + " --offline --models-dir " + test::shared_models_dir().string() + " --cache-dir " +
      (dir / "cache").string() + " models update yunet --url " + copy.string() + " --sha256 " +
      *sha + " --check-images " + test::data("faces_wider/images").string() + " --json --version ";
  // The same weights cannot be 5 points better than themselves: refused with the numbers.
  auto strict = test::run_command(update + "v2 --max-face-drop=-5");
  EXPECT_EQ(strict.exit_code, 1) << strict.err;
  EXPECT_NE(strict.err.find("face coverage"), std::string::npos) << strict.err;
  EXPECT_FALSE(fs::exists(dir / "cache" / "ota" / "yunet" / "current"));
  auto ok = test::run_command(update + "v2");
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  const json j = parse(ok);
  EXPECT_EQ(j["check"]["method"], "faces") << ok.out;
  EXPECT_GE(j["check"]["serving_faces"].get<int>(), 10);
  EXPECT_DOUBLE_EQ(j["check"]["candidate_coverage"].get<double>(),
                   j["check"]["serving_coverage"].get<double>());
}

TEST_F(CliTest, DiagnoseJson) {
  const fs::path dir = test::temp_dir("cli_diagnose");
  auto r = test::run_command(bin() + " --cache-dir " + (dir / "cache").string() + " --models-dir " +
                             test::shared_models_dir().string() + " diagnose --json");
  EXPECT_TRUE(r.exit_code == 0 || r.exit_code == 1) << r.err;
  json j = parse(r);
  ASSERT_TRUE(j.is_object());
  EXPECT_FALSE(j["onnxruntime"]["version"].get<std::string>().empty());
  EXPECT_NE(j["onnxruntime"]["providers"].dump().find("CPUExecutionProvider"), std::string::npos);
  EXPECT_EQ(j["opencv"]["version"].get<std::string>().substr(0, 2), "4.");
  EXPECT_FALSE(j["opencv"]["parallel_framework"].get<std::string>().empty());
  EXPECT_GE(j["cpu"]["cores_usable"].get<int>(), 1);
  EXPECT_GT(j["memory"]["available_bytes"].get<int64_t>(), 0);
  EXPECT_GT(j["disk"]["free_bytes"].get<int64_t>(), 0);
  ASSERT_FALSE(j["models"].empty());
  EXPECT_TRUE(j["models"][0].contains("files"));
  auto human = test::run_command(bin() + " --cache-dir " + (dir / "cache").string() + " diagnose");
  EXPECT_NE(human.out.find("onnxruntime"), std::string::npos) << human.err;
}

}  // namespace
}  // namespace ev
