#include <gtest/gtest.h>

#include <cstdlib>

#include "edgevision/models.hpp"
#include "models/local_http_server.hpp"
#include "support/test_support.hpp"

namespace ev {
namespace {
namespace fs = std::filesystem;

constexpr const char* kYunet = "yunet_s_640_640.onnx";
constexpr const char* kYunetSha =
    "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4";

ModelManagerOptions offline_options(std::vector<fs::path> dirs, const fs::path& cache) {
  ModelManagerOptions o;
  o.model_dirs = std::move(dirs);
  o.cache_dir = cache;
  o.allow_download = false;
  o.use_env = false;
  o.use_shipped = false;  // these tests place (or withhold) the files themselves
  return o;
}

// A manifest with one model, `tiny`, whose only source is `source`.
Manifest tiny_manifest(const std::string& source) {
  const std::string yaml = std::string("models:\n  - name: tiny\n    task: face\n    files:\n") +
                           "      - file: " + kYunet + "\n        sha256: " + kYunetSha +
                           "\n        size: 232589\n        sources: [\"" + source + "\"]\n";
  auto m = parse_manifest(yaml, "tiny.yaml");
  EXPECT_TRUE(m.ok()) << m.error();
  return m.ok() ? *m : Manifest{};
}

TEST(ModelManager, LocatesNestedFilesInModelsDirWithHashCheck) {
  const fs::path cache = test::temp_dir("models_mm_cache_locate");
  ModelManager mm(offline_options({test::shared_models_dir()}, cache));
  EXPECT_EQ(mm.cache_dir(), cache);

  auto yunet = mm.locate("yunet");
  ASSERT_TRUE(yunet.ok()) << yunet.error();
  ASSERT_NE(yunet->spec, nullptr);
  EXPECT_EQ(yunet->spec->name, "yunet");
  EXPECT_EQ(yunet->primary(), test::shared_models_dir() / "face" / kYunet);

  auto ssd = mm.locate("ssd-face");
  ASSERT_TRUE(ssd.ok()) << ssd.error();
  ASSERT_EQ(ssd->paths.size(), 2u);
  EXPECT_EQ(ssd->paths[0].filename(), "opencv_face_detector_uint8.pb");
  EXPECT_EQ(ssd->paths[1].filename(), "opencv_face_detector.pbtxt");

  if (builtin_manifest().find("yolo-fastest-xl")) {
    auto yf = mm.locate("yolo-fastest-xl");
    ASSERT_TRUE(yf.ok()) << yf.error();
    EXPECT_EQ(yf->paths.size(), 3u);
  }
  EXPECT_TRUE(mm.verify("yunet").ok());

  // resolve() of a located model needs no download.
  auto r = mm.resolve("yunet");
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->primary(), yunet->primary());
}

TEST(ModelManager, CopyWithOneByteChangedIsRejected) {
  const fs::path bad_dir = test::temp_dir("models_mm_bad");
  const fs::path cache = test::temp_dir("models_mm_cache_bad");
  fs::create_directories(bad_dir / "nested" / "deeper");
  std::string bytes = test::read_bytes(test::shared_models_dir() / "face" / kYunet);
  bytes[1000] ^= 0x40;  // same size, different content: only the hash can tell
  const fs::path bad = bad_dir / "nested" / "deeper" / kYunet;
  test::write_bytes(bad, bytes);

  ModelManager only_bad(offline_options({bad_dir}, cache));
  auto r = only_bad.locate("yunet");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("model 'yunet' not available"), std::string::npos) << r.error();
  EXPECT_NE(r.error().find(kYunet), std::string::npos) << r.error();
  EXPECT_NE(r.error().find(bad_dir.string()), std::string::npos) << r.error();
  EXPECT_NE(r.error().find(cache.string()), std::string::npos) << r.error();

  auto st = only_bad.inspect("yunet");
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(st->size(), 1u);
  EXPECT_EQ((*st)[0].state, ModelFileStatus::State::bad_hash);
  EXPECT_EQ((*st)[0].path, bad);
  EXPECT_NE((*st)[0].actual_sha256, kYunetSha);
  EXPECT_EQ((*st)[0].actual_sha256.size(), 64u);

  Status v = only_bad.verify("yunet");
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.message().find(bad.string()), std::string::npos) << v.message();

  // The bad copy comes first in the search order, yet the good one is used.
  ModelManager both(offline_options({bad_dir, test::shared_models_dir()}, cache));
  auto good = both.locate("yunet");
  ASSERT_TRUE(good.ok()) << good.error();
  EXPECT_EQ(good->primary(), test::shared_models_dir() / "face" / kYunet);

  // A bad copy in the cache is not used either.
  fs::copy_file(bad, cache / kYunet);
  ModelManager cache_only(offline_options({}, cache));
  EXPECT_FALSE(cache_only.locate("yunet").ok());
}

TEST(ModelManager, SearchDepthIsBounded) {
  const fs::path dir = test::temp_dir("models_mm_depth");
  const fs::path cache = test::temp_dir("models_mm_cache_depth");
  const fs::path src = test::shared_models_dir() / "face" / kYunet;
  fs::create_directories(dir / "a" / "b" / "c" / "d" / "e");
  fs::copy_file(src, dir / "a" / "b" / "c" / "d" / "e" / kYunet);  // 5 levels: too deep
  ModelManager mm(offline_options({dir}, cache));
  EXPECT_FALSE(mm.locate("yunet").ok());
  fs::copy_file(src, dir / "a" / "b" / "c" / "d" / kYunet);  // 4 levels: found
  auto r = mm.locate("yunet");
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->primary(), dir / "a" / "b" / "c" / "d" / kYunet);
}

TEST(ModelManager, UnknownModelError) {
  ModelManager mm(offline_options({}, test::temp_dir("models_mm_cache_unknown")));
  auto r = mm.resolve("no-such-model");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().rfind("unknown model 'no-such-model' (known: yunet, ", 0), 0u) << r.error();
  EXPECT_FALSE(mm.locate("no-such-model").ok());
  EXPECT_FALSE(mm.pull("no-such-model").ok());
  EXPECT_FALSE(mm.verify("no-such-model").ok());
  EXPECT_FALSE(mm.inspect("no-such-model").ok());
}

TEST(ModelManager, MissingOfflineSaysWhereItLooked) {
  const fs::path empty = test::temp_dir("models_mm_empty");
  const fs::path cache = test::temp_dir("models_mm_cache_missing");
  ModelManager mm(offline_options({empty}, cache));
  auto r = mm.resolve("yunet");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find(std::string("model 'yunet' not available: ") + kYunet +
                           " not found in models dirs [" + empty.string() + "] or cache [" +
                           cache.string() + "]"),
            std::string::npos)
      << r.error();
  EXPECT_NE(r.error().find("downloads are disabled"), std::string::npos) << r.error();
  Status v = mm.verify("yunet");
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.message().find(std::string(kYunet) + ": missing"), std::string::npos) << v.message();
}

TEST(ModelManager, BarePathAttachesSpecAndCompanions) {
  ModelManager mm(offline_options({}, test::temp_dir("models_mm_cache_bare")));
  const fs::path yunet = test::shared_models_dir() / "face" / kYunet;
  auto r = mm.resolve(yunet.string());
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->primary(), yunet);
  ASSERT_NE(r->spec, nullptr);
  EXPECT_EQ(r->spec->name, "yunet");
  EXPECT_EQ(r->spec->preprocess.resize, "pad32");

  // The companion graph text is found beside the .pb.
  const fs::path pb = test::shared_models_dir() / "face" / "opencv_face_detector_uint8.pb";
  auto ssd = mm.resolve(pb.string());
  ASSERT_TRUE(ssd.ok()) << ssd.error();
  ASSERT_EQ(ssd->paths.size(), 2u);
  EXPECT_EQ(ssd->paths[1], test::shared_models_dir() / "face" / "opencv_face_detector.pbtxt");

  // A file the manifest does not know: used as is, no spec.
  const fs::path labels = test::shared_models_dir() / "ocr" / "plate_rec_charset.txt";
  auto other = mm.resolve(labels.string());
  ASSERT_TRUE(other.ok()) << other.error();
  EXPECT_EQ(other->spec, nullptr);
  EXPECT_EQ(other->primary(), labels);

  auto missing = mm.resolve("/no/such/dir/model.onnx");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find("unknown model '/no/such/dir/model.onnx'"), std::string::npos);
}

TEST(ModelManager, ResolveDownloadsIntoCacheOverLocalHttp) {
  test::LocalHttpServer server(test::read_bytes(test::shared_models_dir() / "face" / kYunet));
  const Manifest manifest = tiny_manifest(server.url("/model"));
  const fs::path cache = test::temp_dir("models_mm_cache_http") / "nested" / "cache";
  ModelManagerOptions o = offline_options({test::temp_dir("models_mm_http_empty")}, cache);
  o.allow_download = true;
  ModelManager mm(o, &manifest);
  int64_t last = 0;
  auto r = mm.resolve("tiny", [&](int64_t done, int64_t) { last = done; });
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->primary(), cache / kYunet);
  EXPECT_EQ(last, 232589);
  EXPECT_EQ(*sha256_file(cache / kYunet), kYunetSha);
  auto again = mm.locate("tiny");
  ASSERT_TRUE(again.ok()) << again.error();
  EXPECT_TRUE(mm.verify("tiny").ok());
  // pull() keeps a valid cached file.
  const auto mtime = fs::last_write_time(cache / kYunet);
  ASSERT_TRUE(mm.pull("tiny").ok());
  EXPECT_EQ(fs::last_write_time(cache / kYunet), mtime);
}

TEST(ModelManager, ResolveReportsFailedDownload) {
  test::LocalHttpServer server(test::read_bytes(test::shared_models_dir() / "face" / kYunet));
  const Manifest manifest = tiny_manifest(server.url("/corrupt"));
  const fs::path cache = test::temp_dir("models_mm_cache_http_bad");
  ModelManagerOptions o = offline_options({}, cache);
  o.allow_download = true;
  ModelManager mm(o, &manifest);
  auto r = mm.resolve("tiny");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("not found in models dirs"), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("and download failed: sha256 mismatch for"), std::string::npos)
      << r.error();
  EXPECT_TRUE(fs::is_empty(cache));
}

TEST(ModelManager, PullFromFileSource) {
  const Manifest manifest =
      tiny_manifest("file://" + (test::shared_models_dir() / "face" / kYunet).string());
  const fs::path cache = test::temp_dir("models_mm_cache_pull");
  ModelManagerOptions o = offline_options({}, cache);
  o.allow_download = true;
  ModelManager mm(o, &manifest);
  auto r = mm.pull("tiny");
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->primary(), cache / kYunet);

  ModelManager offline(offline_options({}, test::temp_dir("models_mm_cache_pull_off")), &manifest);
  auto refused = offline.pull("tiny");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().find("downloads are disabled"), std::string::npos) << refused.error();
}

TEST(ModelManager, EnvironmentModelsDirsAndCache) {
  const fs::path cache = test::temp_dir("models_mm_cache_env");
  // Empty entries (leading/trailing ':') are ignored.
  std::string list = ":";
  list += test::shared_models_dir().string();
  list += ':';
  ::setenv("EDGEVISION_MODELS", list.c_str(), 1);
  ::setenv("EDGEVISION_CACHE", cache.c_str(), 1);
  ModelManagerOptions o;
  o.allow_download = false;
  ModelManager with_env(o);
  EXPECT_EQ(with_env.cache_dir(), cache);
  ASSERT_EQ(with_env.model_dirs().size(), 1u);
  EXPECT_TRUE(with_env.locate("yunet").ok());
  o.use_env = false;
  ModelManager without_env(o);
  EXPECT_TRUE(without_env.model_dirs().empty());
  ::unsetenv("EDGEVISION_MODELS");
  ::unsetenv("EDGEVISION_CACHE");
  ::setenv("XDG_CACHE_HOME", "/tmp/xdg-test", 1);
  EXPECT_EQ(ModelManager(o).cache_dir(), fs::path("/tmp/xdg-test/edgevision/models"));
  ::unsetenv("XDG_CACHE_HOME");
}

// The default face model ships with edgevision: the build copies it beside bin/ (and tests/)
// as an install does, so with no models dir, no cache and no network it is still found.
TEST(ModelManager, ShippedFaceModelIsFoundOffline) {
  const fs::path shipped = shipped_models_dir();
  ASSERT_FALSE(shipped.empty());
  EXPECT_TRUE(fs::is_regular_file(shipped / kYunet)) << shipped;
  EXPECT_TRUE(fs::is_regular_file(shipped / "LICENSE")) << shipped;
  ModelManagerOptions o;
  o.cache_dir = test::temp_dir("models_mm_shipped_cache");
  o.allow_download = false;
  o.use_env = false;
  ModelManager mm(o);
  ASSERT_EQ(mm.shipped_dirs().size(), 1u);
  auto r = mm.resolve("yunet");
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->primary(), shipped / kYunet);
  // A models dir still wins over the shipped copy (the operator's choice).
  o.model_dirs = {test::shared_models_dir()};
  auto chosen = ModelManager(o).resolve("yunet");
  ASSERT_TRUE(chosen.ok()) << chosen.error();
  EXPECT_NE(chosen->primary(), shipped / kYunet);
  // Disabled, nothing is found offline.
  o.model_dirs.clear();
  o.use_shipped = false;
  EXPECT_FALSE(ModelManager(o).resolve("yunet").ok());
}

TEST(ModelManager, ShippedFolderFromEnvironment) {
  const fs::path dir = test::temp_dir("models_mm_shipped_env");
  ::setenv("EDGEVISION_SHIPPED_MODELS", dir.c_str(), 1);
  ModelManagerOptions o;
  o.cache_dir = test::temp_dir("models_mm_shipped_env_cache");
  o.allow_download = false;
  ModelManager from_env(o);
  ASSERT_EQ(from_env.shipped_dirs().size(), 1u);
  EXPECT_EQ(from_env.shipped_dirs()[0], dir);
  EXPECT_FALSE(from_env.resolve("yunet").ok()) << "the folder is empty";
  ::setenv("EDGEVISION_SHIPPED_MODELS", "", 1);
  EXPECT_TRUE(ModelManager(o).shipped_dirs().empty());
  ::unsetenv("EDGEVISION_SHIPPED_MODELS");
}

}  // namespace
}  // namespace ev
