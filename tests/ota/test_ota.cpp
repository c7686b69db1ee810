// OTA model updates against a real HTTP server on 127.0.0.1 serving good and bad model files.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "edgevision/ota.hpp"
#include "support/test_support.hpp"

namespace ev {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string sha_of(const std::string& bytes, const fs::path& scratch) {
  std::ofstream(scratch, std::ios::binary) << bytes;
  auto s = sha256_file(scratch);
  fs::remove(scratch);
  return s.ok() ? *s : "";
}

// path -> body; everything else 404.
class FileServer {
 public:
  FileServer() {
    server_.Get(R"(/.*)", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mutex_);
      auto it = files_.find(req.path);
      if (it == files_.end()) {
        res.status = 404;
        return;
      }
      res.set_content(it->second, "application/octet-stream");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 500 && !server_.is_running(); ++i) std::this_thread::sleep_for(2ms);
  }
  ~FileServer() {
    server_.stop();
    thread_.join();
  }
  void put(const std::string& path, std::string body) {
    std::lock_guard lock(mutex_);
    files_[path] = std::move(body);
  }
  std::string url(const std::string& path) const {
    return fmt::format("http://127.0.0.1:{}{}", port_, path);
  }

 private:
  httplib::Server server_;
  std::mutex mutex_;
  std::map<std::string, std::string> files_;
  int port_ = 0;
  std::thread thread_;
};

std::string model_yaml(const std::string& version, const std::string& file, const std::string& sha,
                       size_t size, const std::string& url) {
  return fmt::format(R"(models:
  - name: test-det
    version: "{}"
    task: detect
    backend: onnxruntime
    decoder: yolox
    files:
      - file: {}
        sha256: {}
        size: {}
        sources: [{}]
    preprocess: {{width: 0, height: 0, color: bgr, layout: nchw, resize: letterbox}}
)",
                     version, file, sha, size, url);
}

class OtaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::temp_dir("ota");
    const fs::path data = fs::path(EV_SOURCE_DIR) / "tests" / "detect" / "data";
    good1_ = read_bytes(data / "yolox_synth.onnx");
    good2_ = read_bytes(data / "yolo26_e2e_synth.onnx");
    ASSERT_FALSE(good1_.empty());
    ASSERT_FALSE(good2_.empty());
    bad_ = std::string(4096, 'x');  // right hash, but not a model: only the smoke test can tell
    server_.put("/v1/test-det.onnx", good1_);
    server_.put("/v2/test-det.onnx", good2_);
    server_.put("/bad/test-det.onnx", bad_);
    server_.put("/v5/test-det.onnx", good1_);
    const fs::path scratch = dir_ / "scratch";
    sha1_ = sha_of(good1_, scratch);
    sha2_ = sha_of(good2_, scratch);
    sha_bad_ = sha_of(bad_, scratch);
    server_.put("/release-2.yaml", model_yaml("2", "test-det.onnx", sha2_, good2_.size(),
                                              server_.url("/v2/test-det.onnx")));
    server_.put("/release-5.yaml", model_yaml("5", "test-det.onnx", sha1_, good1_.size(),
                                              server_.url("/v5/test-det.onnx")));
    // Hash of v1 announced, bytes of v2 served: a corrupted or tampered download.
    server_.put("/release-3.yaml",
                model_yaml("3", "test-det.onnx", sha1_, 0, server_.url("/v2/test-det.onnx")));
    server_.put("/release-4.yaml", model_yaml("4", "test-det.onnx", sha_bad_, bad_.size(),
                                              server_.url("/bad/test-det.onnx")));
    server_.put("/release-evil.yaml",
                model_yaml("6", ".bashrc", sha1_, 0, server_.url("/v1/test-det.onnx")));
    auto base = parse_manifest(
        model_yaml("1", "test-det.onnx", sha1_, good1_.size(), server_.url("/v1/test-det.onnx")),
        "base");
    ASSERT_TRUE(base.ok()) << base.error();
    base_ = *base;
  }

  ota::UpdateRequest release(const std::string& version) {
    ota::UpdateRequest r;
    r.name = "test-det";
    r.version = version;
    r.manifest_source = server_.url("/release-" + version + ".yaml");
    r.agreement.enabled = false;  // v1 and v2 are different synthetic models on purpose
    return r;
  }
  ota::UpdateRequest builtin(const std::string& version) {
    ota::UpdateRequest r;
    r.name = "test-det";
    r.version = version;
    r.agreement.enabled = false;
    return r;
  }
  std::vector<std::string> versions_on_disk() {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(store_.root() / "test-det" / "versions"))
      out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }
  bool staging_left() {
    for (const auto& e : fs::directory_iterator(store_.root() / "test-det"))
      if (e.path().filename().string().rfind(".staging", 0) == 0) return true;
    return false;
  }

  FileServer server_;
  fs::path dir_;
  std::string good1_, good2_, bad_, sha1_, sha2_, sha_bad_;
  Manifest base_;
  ota::ModelStore store_{test::temp_dir("ota_store")};
};

TEST_F(OtaTest, SmokeTestRunsRealModels) {
  ModelSpec spec = base_.models[0];
  const fs::path data = fs::path(EV_SOURCE_DIR) / "tests" / "detect" / "data";
  EXPECT_TRUE(ota::smoke_test(spec, {data / "yolox_synth.onnx"}).ok());
  std::ofstream(dir_ / "junk.onnx") << bad_;
  Status s = ota::smoke_test(spec, {dir_ / "junk.onnx"});
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("smoke test"), std::string::npos) << s.message();
}

TEST_F(OtaTest, UpdateSwapsAndKeepsPrevious) {
  auto v1 = store_.update(builtin("1"), base_);
  ASSERT_TRUE(v1.ok()) << v1.error();
  EXPECT_EQ(store_.current_version("test-det"), "1");
  EXPECT_FALSE(store_.previous_version("test-det"));
  EXPECT_EQ(read_bytes(v1->paths[0]), good1_);

  auto v2 = store_.update(release("2"), base_);
  ASSERT_TRUE(v2.ok()) << v2.error();
  EXPECT_EQ(v2->version, "2");
  EXPECT_EQ(v2->spec.decoder, "yolox");
  EXPECT_EQ(store_.current_version("test-det"), "2");
  EXPECT_EQ(store_.previous_version("test-det"), "1");
  auto cur = store_.current("test-det");
  ASSERT_TRUE(cur.ok()) << cur.error();
  EXPECT_EQ(read_bytes(cur->paths[0]), good2_);
  EXPECT_TRUE(fs::is_symlink(store_.root() / "test-det" / "current"));
  // Same version again: a no-op.
  EXPECT_TRUE(store_.update(release("2"), base_).ok());
  EXPECT_EQ(store_.previous_version("test-det"), "1");
}

TEST_F(OtaTest, FailedUpdatesLeaveOldModelServing) {
  ASSERT_TRUE(store_.update(builtin("1"), base_).ok());
  ASSERT_TRUE(store_.update(release("2"), base_).ok());

  auto hash = store_.update(release("3"), base_);
  ASSERT_FALSE(hash.ok());
  EXPECT_NE(hash.error().find("sha256"), std::string::npos) << hash.error();
  auto smoke = store_.update(release("4"), base_);
  ASSERT_FALSE(smoke.ok());
  EXPECT_NE(smoke.error().find("smoke test"), std::string::npos) << smoke.error();
  auto missing = store_.update(release("9"), base_);  // manifest 404
  EXPECT_FALSE(missing.ok());
  auto evil = store_.update(release("evil"), base_);
  EXPECT_FALSE(evil.ok());
  auto unknown = store_.update(builtin("7"), base_);  // base has no version 7
  EXPECT_FALSE(unknown.ok());
  ota::UpdateRequest traversal = builtin("../../x");
  EXPECT_FALSE(store_.update(traversal, base_).ok());

  EXPECT_EQ(store_.current_version("test-det"), "2");
  EXPECT_EQ(store_.previous_version("test-det"), "1");
  EXPECT_EQ(read_bytes(store_.current("test-det")->paths[0]), good2_);
  EXPECT_FALSE(staging_left());
  EXPECT_EQ(versions_on_disk(), (std::vector<std::string>{"1", "2"}));
}

TEST_F(OtaTest, RollbackRestoresPrevious) {
  EXPECT_FALSE(store_.rollback("test-det").ok());  // nothing installed
  ASSERT_TRUE(store_.update(builtin("1"), base_).ok());
  EXPECT_FALSE(store_.rollback("test-det").ok());  // no previous
  ASSERT_TRUE(store_.update(release("2"), base_).ok());
  auto back = store_.rollback("test-det");
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(back->version, "1");
  EXPECT_EQ(store_.current_version("test-det"), "1");
  EXPECT_EQ(store_.previous_version("test-det"), "2");
  EXPECT_EQ(read_bytes(store_.current("test-det")->paths[0]), good1_);
  ASSERT_TRUE(store_.rollback("test-det").ok());
  EXPECT_EQ(store_.current_version("test-det"), "2");
  // A damaged previous copy is not put back into service.
  std::ofstream(store_.root() / "test-det" / "versions" / "1" / "test-det.onnx", std::ios::trunc)
      << "damaged";
  EXPECT_FALSE(store_.rollback("test-det").ok());
  EXPECT_EQ(store_.current_version("test-det"), "2");
}

TEST_F(OtaTest, KeepsOnlyCurrentAndPrevious) {
  ASSERT_TRUE(store_.update(builtin("1"), base_).ok());
  ASSERT_TRUE(store_.update(release("2"), base_).ok());
  ASSERT_TRUE(store_.update(release("5"), base_).ok());
  EXPECT_EQ(versions_on_disk(), (std::vector<std::string>{"2", "5"}));
}

TEST_F(OtaTest, SingleFileUpdateNeedsHash) {
  ota::UpdateRequest r = builtin("8");
  r.file_source = server_.url("/v2/test-det.onnx");
  auto no_hash = store_.update(r, base_);
  EXPECT_FALSE(no_hash.ok());
  r.sha256 = sha2_;
  auto ok = store_.update(r, base_);
  ASSERT_TRUE(ok.ok()) << ok.error();
  EXPECT_EQ(ok->spec.decoder, "yolox");  // pre-processing and decoder from the base manifest
  EXPECT_EQ(ok->spec.files[0].sha256, sha2_);
  // A local path works too.
  std::ofstream(dir_ / "local.onnx", std::ios::binary) << good1_;
  ota::UpdateRequest local = builtin("9");
  local.file_source = (dir_ / "local.onnx").string();
  local.sha256 = sha1_;
  ASSERT_TRUE(store_.update(local, base_).ok());
  EXPECT_EQ(store_.current_version("test-det"), "9");
}

TEST_F(OtaTest, WatcherReportsSwaps) {
  ASSERT_TRUE(store_.update(builtin("1"), base_).ok());
  std::mutex m;
  std::vector<std::string> seen;
  ota::UpdateWatcher watcher(
      store_, {"test-det", "other"},
      [&](const ota::InstalledModel& model) {
        std::lock_guard lock(m);
        seen.push_back(model.version);
      },
      20ms);
  auto wait_for = [&](size_t n) {
    for (int i = 0; i < 300; ++i) {
      {
        std::lock_guard lock(m);
        if (seen.size() >= n) return;
      }
      std::this_thread::sleep_for(10ms);
    }
  };
  ASSERT_TRUE(store_.update(release("2"), base_).ok());
  wait_for(1);
  ASSERT_TRUE(store_.update(release("4"), base_).ok() == false);  // a failed update is not reported
  ASSERT_TRUE(store_.rollback("test-det").ok());
  wait_for(2);
  std::lock_guard lock(m);
  EXPECT_EQ(seen, (std::vector<std::string>{"2", "1"}));
}

TEST_F(OtaTest, ResolveServingPrefersOtaVersion) {
  ModelManagerOptions o;
  o.cache_dir = test::temp_dir("ota_cache");
  o.allow_download = true;
  o.use_env = false;
  ModelManager manager(o, &base_);
  auto from_manager = ota::resolve_serving(manager, "test-det");  // downloads v1 into the cache
  ASSERT_TRUE(from_manager.ok()) << from_manager.error();
  EXPECT_FALSE(from_manager->from_ota);
  EXPECT_EQ(from_manager->version, "1");
  ota::ModelStore store(manager.cache_dir() / "ota");
  ASSERT_TRUE(store.update(release("2"), base_).ok());
  auto from_ota = ota::resolve_serving(manager, "test-det");
  ASSERT_TRUE(from_ota.ok()) << from_ota.error();
  EXPECT_TRUE(from_ota->from_ota);
  EXPECT_EQ(from_ota->version, "2");
}

}  // namespace
}  // namespace ev
