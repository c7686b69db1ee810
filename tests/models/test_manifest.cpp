#include <gtest/gtest.h>

#include <fstream>

#include "edgevision/models.hpp"
#include "support/test_support.hpp"

namespace ev {
namespace {

const char* kGood = R"(models:
  - name: tiny
    version: "1"
    task: face
    backend: onnxruntime
    decoder: yunet2023
    license: MIT
    description: a test model
    files:
      - file: tiny.onnx
        sha256: 8F2383E4DD3CFBB4553EA8718107FC0423210DC964F9F4280604804ED2552FA4
        size: 232589
        sources: [http://127.0.0.1:1/tiny.onnx, "npm:@scope/pkg@1.2.3/package/tiny.onnx"]
      - file: tiny.txt
        sha256: 5397808362fc6fb7c4044484848e297b22449d913a267fa7f8bd9d86dce29144
    preprocess: {width: 320, height: 240, color: rgb, layout: nhwc, resize: letterbox_center,
                 pad_value: 0, scale: 0.5, mean: [1, 2, 3], std: 2, rect: false}
    labels: [face, not_face]
    conf_threshold: 0.6
    nms_threshold: 0.3
  - name: other
    files:
      - file: other.onnx
        sha256: 0000000000000000000000000000000000000000000000000000000000000000
)";

TEST(Manifest, ParsesEveryField) {
  auto r = parse_manifest(kGood, "test.yaml");
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_EQ(r->models.size(), 2u);
  const ModelSpec& m = r->models[0];
  EXPECT_EQ(m.name, "tiny");
  EXPECT_EQ(m.version, "1");
  EXPECT_EQ(m.task, "face");
  EXPECT_EQ(m.backend, "onnxruntime");
  EXPECT_EQ(m.decoder, "yunet2023");
  EXPECT_EQ(m.license, "MIT");
  EXPECT_EQ(m.description, "a test model");
  ASSERT_EQ(m.files.size(), 2u);
  EXPECT_EQ(m.files[0].file, "tiny.onnx");
  EXPECT_EQ(m.files[0].sha256, "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4");
  EXPECT_EQ(m.files[0].size, 232589);
  ASSERT_EQ(m.files[0].sources.size(), 2u);
  EXPECT_EQ(m.files[0].sources[1], "npm:@scope/pkg@1.2.3/package/tiny.onnx");
  EXPECT_EQ(m.files[1].size, 0);
  EXPECT_TRUE(m.files[1].sources.empty());
  EXPECT_EQ(m.preprocess.width, 320);
  EXPECT_EQ(m.preprocess.height, 240);
  EXPECT_EQ(m.preprocess.color, "rgb");
  EXPECT_EQ(m.preprocess.layout, "nhwc");
  EXPECT_EQ(m.preprocess.resize, "letterbox_center");
  EXPECT_FLOAT_EQ(m.preprocess.pad_value, 0.f);
  EXPECT_FLOAT_EQ(m.preprocess.scale, 0.5f);
  EXPECT_FLOAT_EQ(m.preprocess.mean[2], 3.f);
  EXPECT_FLOAT_EQ(m.preprocess.std[0], 2.f);
  EXPECT_FLOAT_EQ(m.preprocess.std[2], 2.f);
  EXPECT_FALSE(m.preprocess.rect);
  EXPECT_EQ(m.labels, (std::vector<std::string>{"face", "not_face"}));
  EXPECT_DOUBLE_EQ(m.conf_threshold, 0.6);
  EXPECT_DOUBLE_EQ(m.nms_threshold, 0.3);
  // Defaults for a minimal entry.
  const ModelSpec& o = r->models[1];
  EXPECT_EQ(o.backend, "auto");
  EXPECT_EQ(o.preprocess.color, "bgr");
  EXPECT_EQ(o.preprocess.resize, "letterbox");
  EXPECT_FLOAT_EQ(o.preprocess.pad_value, 114.f);
  EXPECT_EQ(r->find("other"), &r->models[1]);
  EXPECT_EQ(r->find("nope"), nullptr);
}

TEST(Manifest, MalformedYamlNamesOriginAndLine) {
  const std::string text = "models:\n  - name: a\n    files: [\n      {file: x\n";
  auto r = parse_manifest(text, "broken.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("broken.yaml:"), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("invalid YAML"), std::string::npos) << r.error();
  // The message carries a line number ("broken.yaml:N:").
  EXPECT_TRUE(
      std::isdigit(static_cast<unsigned char>(r.error()[std::string("broken.yaml:").size()])))
      << r.error();
}

TEST(Manifest, WrongTypeNamesLineKeyAndExpectation) {
  const std::string text =
      "models:\n"
      "  - name: a\n"
      "    files:\n"
      "      - file: a.onnx\n"
      "        sha256: 0000000000000000000000000000000000000000000000000000000000000000\n"
      "        size: big\n";
  auto r = parse_manifest(text, "m.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("m.yaml:6:"), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("size"), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("expected an integer"), std::string::npos) << r.error();
}

TEST(Manifest, UnknownKeyIsAnError) {
  const std::string text =
      "models:\n"
      "  - name: a\n"
      "    colour: red\n"
      "    files:\n"
      "      - file: a.onnx\n"
      "        sha256: 0000000000000000000000000000000000000000000000000000000000000000\n";
  auto r = parse_manifest(text, "m.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("m.yaml:3:"), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("unknown key 'colour'"), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("model 'a'"), std::string::npos) << r.error();
}

TEST(Manifest, MissingShaIsAnError) {
  const std::string text =
      "models:\n"
      "  - name: a\n"
      "    files:\n"
      "      - file: a.onnx\n"
      "        size: 10\n";
  auto r = parse_manifest(text, "m.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("m.yaml:4:"), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("missing required key 'sha256'"), std::string::npos) << r.error();
}

TEST(Manifest, MissingNameFileAndBadValuesAreErrors) {
  const std::string sha = "0000000000000000000000000000000000000000000000000000000000000000";
  struct Case {
    std::string yaml, expect;
  };
  const std::vector<Case> cases = {
      {"models:\n  - files: [{file: a, sha256: " + sha + "}]\n", "missing required key 'name'"},
      {"models:\n  - name: a\n    files: [{sha256: " + sha + "}]\n", "missing required key 'file'"},
      {"models:\n  - name: a\n", "missing required key 'files'"},
      {"models:\n  - name: a\n    files: [{file: a, sha256: abc}]\n", "expected 64 hex digits"},
      {"models:\n  - name: a\n    files: [{file: ../a, sha256: " + sha + "}]\n", "plain file name"},
      {"models:\n  - name: a\n    files: [{file: a, sha256: " + sha + ", sources: [ftp://x]}]\n",
       "expected a source"},
      {"models:\n  - name: a\n    backend: tpu\n    files: [{file: a, sha256: " + sha + "}]\n",
       "expected one of auto|onnxruntime|opencv"},
      {"models:\n  - name: a\n    preprocess: {layout: chw}\n    files: [{file: a, sha256: " + sha +
           "}]\n",
       "expected one of nchw|nhwc"},
      {"models:\n  - name: a\n    preprocess: {mean: [1, 2]}\n    files: [{file: a, sha256: " +
           sha + "}]\n",
       "list of 3 numbers"},
      {"models:\n  - name: a\n    conf_threshold: 2\n    files: [{file: a, sha256: " + sha + "}]\n",
       "in [0, 1]"},
      {"modelz: []\n", "unknown key 'modelz'"},
      {"", "expected a mapping"},
  };
  for (const auto& c : cases) {
    auto r = parse_manifest(c.yaml, "m.yaml");
    ASSERT_FALSE(r.ok()) << c.yaml;
    EXPECT_NE(r.error().find(c.expect), std::string::npos) << r.error();
    EXPECT_EQ(r.error().rfind("m.yaml", 0), 0u) << r.error();
  }
}

TEST(Manifest, DuplicateNamesAreErrors) {
  const std::string sha = "0000000000000000000000000000000000000000000000000000000000000000";
  const std::string text = "models:\n  - name: a\n    files: [{file: a, sha256: " + sha +
                           "}]\n  - name: a\n    files: [{file: b, sha256: " + sha + "}]\n";
  auto r = parse_manifest(text, "m.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("m.yaml:4:"), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("duplicate model name"), std::string::npos) << r.error();
}

TEST(Manifest, BuiltinManifestParsesAndIsComplete) {
  // Parse the source file directly too, so a parse error shows its message here.
  std::ifstream in(std::string(EV_SOURCE_DIR) + "/models/manifest.yaml");
  std::stringstream ss;
  ss << in.rdbuf();
  auto direct = parse_manifest(ss.str(), "models/manifest.yaml");
  ASSERT_TRUE(direct.ok()) << direct.error();

  const Manifest& m = builtin_manifest();
  ASSERT_FALSE(m.models.empty());
  EXPECT_EQ(m.models.size(), direct->models.size());
  EXPECT_EQ(&builtin_manifest(), &m);  // parsed once
  for (const auto& spec : m.models) {
    SCOPED_TRACE(spec.name);
    EXPECT_FALSE(spec.task.empty());
    ASSERT_FALSE(spec.files.empty());
    for (const auto& f : spec.files) {
      SCOPED_TRACE(f.file);
      EXPECT_EQ(f.sha256.size(), 64u);
      EXPECT_GT(f.size, 0);
      // A file with nowhere to download it from ships with edgevision (models/detect).
      if (f.sources.empty()) {
        EXPECT_TRUE(std::filesystem::is_regular_file(shipped_models_dir() / f.file))
            << "no sources and not shipped";
      }
    }
  }
  EXPECT_NE(m.find("yunet"), nullptr);
}

}  // namespace
}  // namespace ev
