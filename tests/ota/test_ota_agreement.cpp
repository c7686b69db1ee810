// `models update` compares the candidate with the serving model on images and refuses one that
// disagrees; the first update keeps the shipped version so that it can be rolled back.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>

#include <onnx/onnx_pb.h>

#include "edgevision/face_agreement.hpp"
#include "edgevision/ota.hpp"
#include "optimize/onnx_util.hpp"
#include "support/shared_models.hpp"
#include "support/test_support.hpp"

namespace ev {
namespace {
namespace fs = std::filesystem;

// A test's own model cache and OTA store, and the shipped files of one manifest model.
class OtaModelFixture : public ::testing::Test {
 protected:
  void use_model(const std::string& model, const fs::path& check_images, int max_images) {
    model_ = model;
    check_images_ = check_images;
    max_images_ = max_images;
    dir_ = test::temp_dir("ota_agreement");
    const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    manager_ = std::make_unique<ModelManager>(test::shared_model_options("ota_cache_" + name));
    store_ = std::make_unique<ota::ModelStore>(manager_->cache_dir() / "ota");
    auto statuses = manager_->inspect(model);
    ASSERT_TRUE(statuses.ok()) << statuses.error();
    for (const auto& st : *statuses) {
      ASSERT_EQ(st.state, ModelFileStatus::State::present) << st.file->file;
      shipped_.push_back(st.path);
    }
    ASSERT_FALSE(shipped_.empty());
  }
  ota::UpdateRequest request(const std::string& version, const fs::path& file) {
    ota::UpdateRequest r;
    r.name = model_;
    r.version = version;
    r.file_source = file.string();
    auto sha = sha256_file(file);
    EXPECT_TRUE(sha.ok());
    r.sha256 = sha.ok() ? *sha : "";
    r.shipped_paths = shipped_;
    r.agreement.images = check_images_;
    r.agreement.max_images = max_images_;
    return r;
  }

  std::string model_;
  fs::path check_images_;
  int max_images_ = 0;
  fs::path dir_;
  std::unique_ptr<ModelManager> manager_;
  std::vector<fs::path> shipped_;
  std::unique_ptr<ota::ModelStore> store_;
};

class OtaAgreement : public OtaModelFixture {
 protected:
  void SetUp() override {
    use_model("yolox-nano", test::data("coco/images/val2017"), 8);
    ASSERT_FALSE(HasFatalFailure());
    // A candidate that loads and runs (the smoke test passes) but is broken: YOLOX's class
    // prediction convs (80 output channels, one per scale) lose their weights.
    auto m = onnxu::load(shipped_[0]);
    ASSERT_TRUE(m.ok()) << m.error();
    auto& g = *m->mutable_graph();
    int zeroed = 0;
    for (auto& t : *g.mutable_initializer())
      if (t.dims_size() == 4 && t.dims(0) == 80) {
        onnxu::set_floats(t, std::vector<float>(onnxu::elements(t), 0.f));
        ++zeroed;
      }
    ASSERT_EQ(zeroed, 3);
    broken_ = dir_ / "broken.onnx";
    ASSERT_TRUE(onnxu::save(*m, broken_).ok());
  }

  fs::path broken_;
};

TEST_F(OtaAgreement, UpdateRefusedWhenDetectionsDisagree) {
  auto r = store_->update(request("broken", broken_), manager_->manifest());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("disagrees"), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("F1"), std::string::npos) << r.error();
  EXPECT_FALSE(store_->current_version("yolox-nano"));  // nothing switched
  // The same file passes the old check (it loads and produces finite numbers).
  const ModelSpec* spec = manager_->manifest().find("yolox-nano");
  ASSERT_NE(spec, nullptr);
  EXPECT_TRUE(ota::smoke_test(*spec, {broken_}).ok());
  // On the built-in synthetic images (no real objects) the raw outputs are compared instead.
  auto builtin = request("broken", broken_);
  builtin.agreement.images.clear();
  auto rb = store_->update(builtin, manager_->manifest());
  ASSERT_FALSE(rb.ok());
  EXPECT_NE(rb.error().find("disagrees"), std::string::npos) << rb.error();
}

TEST_F(OtaAgreement, AgreeingUpdateAndRollbackAfterTheFirstUpdate) {
  const ModelSpec* spec = manager_->manifest().find("yolox-nano");
  ASSERT_NE(spec, nullptr);
  // A re-release of the same weights (different file, same detections).
  const fs::path same = dir_ / "same.onnx";
  fs::copy_file(shipped_[0], same, fs::copy_options::overwrite_existing);
  auto r = store_->update(request("v2", same), manager_->manifest());
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_TRUE(r->agreement.has_value());
  EXPECT_EQ(r->agreement->method, "detections");
  EXPECT_GE(r->agreement->f1, 0.99);
  EXPECT_GE(r->agreement->serving_detections, 5);
  EXPECT_EQ(store_->current_version("yolox-nano"), "v2");
  // The shipped version was kept as `previous`: the first update can be undone.
  EXPECT_EQ(store_->previous_version("yolox-nano"), spec->version);
  auto back = store_->rollback("yolox-nano");
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(back->version, spec->version);
  EXPECT_EQ(store_->current_version("yolox-nano"), spec->version);
  auto sha = sha256_file(back->paths[0]);
  ASSERT_TRUE(sha.ok());
  EXPECT_EQ(*sha, spec->files[0].sha256);
  // The service resolves the same version (OTA current first).
  auto serving = ota::resolve_serving(*manager_, "yolox-nano");
  ASSERT_TRUE(serving.ok()) << serving.error();
  EXPECT_EQ(serving->version, spec->version);
  EXPECT_TRUE(serving->from_ota);
  // Rolling back again returns to v2.
  auto forward = store_->rollback("yolox-nano");
  ASSERT_TRUE(forward.ok()) << forward.error();
  EXPECT_EQ(forward->version, "v2");
}

// Face models are judged by face coverage (the judge of `quantize`), not raw outputs: the faces
// the serving YuNet finds on real photos are the labels.
class OtaFaceAgreement : public OtaModelFixture {
 protected:
  void SetUp() override {
    use_model("yunet", test::data("faces_wider/images"), 6);
    ASSERT_FALSE(HasFatalFailure());
    ASSERT_EQ(shipped_.size(), 1u);
  }
  // YuNet with its objectness heads silenced: it loads, runs and returns finite numbers, but
  // finds (almost) no face. Each obj_* output is traced back to the Conv that computes it.
  fs::path blind_candidate() {
    auto m = onnxu::load(shipped_[0]);
    EXPECT_TRUE(m.ok()) << m.error();
    if (!m.ok()) return {};
    auto& g = *m->mutable_graph();
    std::map<std::string, onnx::NodeProto*> producer;
    for (auto& n : *g.mutable_node())
      for (const auto& o : n.output()) producer[o] = &n;
    std::set<std::string> biases;
    for (const auto& out : g.output()) {
      if (out.name().rfind("obj", 0) != 0) continue;
      std::string t = out.name();
      for (int step = 0; step < 6 && producer.count(t); ++step) {
        const onnx::NodeProto* n = producer[t];
        if (n->op_type() == "Conv") {
          if (n->input_size() > 2) biases.insert(n->input(2));
          break;
        }
        t = n->input(0);
      }
    }
    EXPECT_EQ(biases.size(), 3u);  // one objectness conv per stride
    for (auto& init : *g.mutable_initializer())
      if (biases.count(init.name()))
        onnxu::set_floats(init, std::vector<float>(onnxu::elements(init), -30.f));
    const fs::path out = dir_ / "yunet_blind.onnx";
    EXPECT_TRUE(onnxu::save(*m, out).ok());
    return out;
  }
};

TEST_F(OtaFaceAgreement, UpdateRefusedWhenFaceCoverageDrops) {
  const fs::path blind = blind_candidate();
  ASSERT_FALSE(blind.empty());
  const ModelSpec* spec = manager_->manifest().find("yunet");
  ASSERT_NE(spec, nullptr);
  EXPECT_TRUE(ota::smoke_test(*spec, {blind}).ok());  // the old check would let it through
  auto r = store_->update(request("blind", blind), manager_->manifest());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("disagrees"), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("face coverage"), std::string::npos) << r.error();
  EXPECT_FALSE(store_->current_version("yunet"));  // nothing switched
}

TEST_F(OtaFaceAgreement, SameFacesPassAndTooFewFacesFallBackToOutputs) {
  const fs::path same = dir_ / "same.onnx";
  fs::copy_file(shipped_[0], same, fs::copy_options::overwrite_existing);
  auto r = store_->update(request("v2", same), manager_->manifest());
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_TRUE(r->agreement.has_value());
  EXPECT_EQ(r->agreement->method, "faces");
  EXPECT_GE(r->agreement->serving_faces, kMinFacesForCoverage);
  EXPECT_GT(r->agreement->serving_coverage, 50.0);
  EXPECT_NEAR(r->agreement->candidate_coverage, r->agreement->serving_coverage, 1e-9);
  EXPECT_EQ(store_->current_version("yunet"), "v2");

  // The built-in synthetic images show no face: raw outputs are compared (and said so).
  ota::AgreementOptions builtin;
  const ModelSpec* spec = manager_->manifest().find("yunet");
  ASSERT_NE(spec, nullptr);
  auto cmp = ota::compare_versions(*spec, shipped_, *spec, {same}, builtin);
  ASSERT_TRUE(cmp.ok()) << cmp.error();
  EXPECT_EQ(cmp->method, "outputs");
  EXPECT_LT(cmp->serving_faces, kMinFacesForCoverage);
  EXPECT_TRUE(cmp->agree);
}

}  // namespace
}  // namespace ev
