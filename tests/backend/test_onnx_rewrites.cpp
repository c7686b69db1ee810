// Load-time graph rewrites (src/backend/onnx_rewrites.cpp): the folded graph against the graph
// as written, both run by ONNX Runtime (the unfolded run is the reference).
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "backend/onnx_rewrites.hpp"
#include "edgevision/backend.hpp"
#include "optimize/tiny_model.hpp"
#include "support/test_support.hpp"

namespace ev {
namespace {

namespace fs = std::filesystem;
using test::add_float_init;
using test::add_int;
using test::add_ints;
using test::add_node;

constexpr int64_t kToEnd = std::numeric_limits<int64_t>::max();

void add_int64_init(onnx::GraphProto& g, const std::string& name, std::vector<int64_t> v) {
  auto* t = g.add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::INT64);
  t->add_dims(static_cast<int64_t>(v.size()));
  for (int64_t x : v) t->add_int64_data(x);
}

void add_int64_constant(onnx::GraphProto& g, const std::string& name, std::vector<int64_t> v) {
  auto* n = add_node(g, "Constant", name + "_node", {}, {name});
  auto* a = n->add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  auto* t = a->mutable_t();
  t->set_data_type(onnx::TensorProto::INT64);
  t->add_dims(static_cast<int64_t>(v.size()));
  for (int64_t x : v) t->add_int64_data(x);
}

struct StemShape {
  int conv_stride = 1;
  int64_t slice_step = 2;
  bool one_slice_per_patch = false;  // one Slice over both axes instead of one per axis
  bool concat_is_output = false;     // the concatenation is also read outside the stem
  bool repeat_a_patch = false;       // two concat inputs take the same rows and columns
};

// x[1,3,8,8] -> Focus (YOLOX's patch order: (0,0) (1,0) (0,1) (1,1) as (row, column) starts)
// -> Conv(12 -> 5, 3x3, pad 1, bias) -> Sigmoid -> y. Slice arguments are initializers for the
// H axis and Constant nodes for the W axis, as exporters mix them.
onnx::ModelProto focus_model(const StemShape& shape = {}) {
  onnx::ModelProto m = test::empty_model("focus");
  auto& g = *m.mutable_graph();
  test::set_io(g.add_input(), "x", {1, 3, 8, 8});
  test::set_io(g.add_output(), "y", {});
  add_int64_init(g, "end", {kToEnd});
  add_int64_init(g, "axis_h", {2});
  add_int64_init(g, "step", {shape.slice_step});
  add_int64_constant(g, "axis_w", {3});
  add_int64_constant(g, "zero", {0});
  add_int64_constant(g, "one", {1});
  add_int64_init(g, "zero_i", {0});
  add_int64_init(g, "one_i", {1});
  add_int64_init(g, "end2", {kToEnd, kToEnd});
  add_int64_init(g, "axes_hw", {2, 3});
  add_int64_init(g, "step2", {shape.slice_step, shape.slice_step});
  const int patches[4][2] = {{0, 0}, {1, 0}, {0, 1}, {shape.repeat_a_patch ? 0 : 1, 1}};
  std::vector<std::string> parts;
  for (int k = 0; k < 4; ++k) {
    const std::string p = std::to_string(k) + "p";
    const auto [dy, dx] = patches[k];
    if (shape.one_slice_per_patch) {
      const std::string starts = p + "_starts";
      add_int64_init(g, starts, {dy, dx});
      add_node(g, "Slice", p, {"x", starts, "end2", "axes_hw", "step2"}, {p});
    } else {
      add_node(g, "Slice", p + "_h", {"x", dy ? "one_i" : "zero_i", "end", "axis_h", "step"},
               {p + "_h"});
      add_node(g, "Slice", p + "_w", {p + "_h", dx ? "one" : "zero", "end", "axis_w", "step"}, {p});
    }
    parts.push_back(p);
  }
  add_int(add_node(g, "Concat", "focus", parts, {"f"}), "axis", 1);
  add_float_init(g, "w", {5, 12, 3, 3}, 0.3f);
  add_float_init(g, "b", {5}, 0.9f);
  auto* conv = add_node(g, "Conv", "stem", {"f", "w", "b"}, {"c"});
  add_ints(conv, "kernel_shape", {3, 3});
  add_ints(conv, "pads", {1, 1, 1, 1});
  add_ints(conv, "strides", {shape.conv_stride, shape.conv_stride});
  add_node(g, "Sigmoid", "act", {"c"}, {"y"});
  if (shape.concat_is_output) test::set_io(g.add_output(), "f", {});
  return m;
}

int count_ops(const onnx::GraphProto& g, const std::string& op) {
  return static_cast<int>(std::count_if(g.node().begin(), g.node().end(),
                                        [&](const auto& n) { return n.op_type() == op; }));
}

fs::path save(const onnx::ModelProto& m, const std::string& name) {
  const fs::path path = test::temp_dir("onnx_rewrites") / name;
  std::ofstream out(path, std::ios::binary);
  EXPECT_TRUE(m.SerializeToOstream(&out));
  return path;
}

std::vector<float> pattern(size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = std::sin(0.37f * static_cast<float>(i)) + 0.25f;
  return v;
}

// First output of `model` on `input`, stems folded or not.
std::vector<float> run(const fs::path& model, const TensorView& input, bool fold,
                       bool free_size = false) {
  BackendOptions o;
  o.threads = 1;
  o.fold_stems = fold;
  o.free_image_size = free_size;
  auto backend = create_backend("onnxruntime", model, o);
  EXPECT_TRUE(backend.ok()) << backend.error();
  if (!backend.ok()) return {};
  std::vector<Tensor> out;
  const Status st = (*backend)->run({input}, out);
  EXPECT_TRUE(st.ok()) << st.message();
  return st.ok() ? out.at(0).data : std::vector<float>{};
}

// Largest difference relative to the reference's magnitude (at least 1).
double max_rel_diff(const std::vector<float>& a, const std::vector<float>& ref) {
  EXPECT_EQ(a.size(), ref.size());
  double worst = 0;
  for (size_t i = 0; i < std::min(a.size(), ref.size()); ++i)
    worst = std::max(worst, std::abs(static_cast<double>(a[i]) - ref[i]) /
                                std::max(1.0, std::abs(static_cast<double>(ref[i]))));
  return worst;
}

TEST(OnnxRewrites, FocusStemBecomesOneStridedConvolution) {
  for (bool one_slice : {false, true}) {
    SCOPED_TRACE(one_slice ? "one Slice per patch" : "one Slice per axis");
    StemShape shape;
    shape.one_slice_per_patch = one_slice;
    onnx::ModelProto m = focus_model(shape);
    ASSERT_EQ(fold_space_to_depth_stems(*m.mutable_graph()), 1);
    const auto& g = m.graph();
    EXPECT_EQ(count_ops(g, "Slice"), 0);
    EXPECT_EQ(count_ops(g, "Concat"), 0);
    EXPECT_EQ(count_ops(g, "Constant"), 0);  // they only fed the slices
    ASSERT_EQ(count_ops(g, "Conv"), 1);
    const auto& conv = g.node(0);
    EXPECT_EQ(conv.input(0), "x");
    EXPECT_EQ(conv.output(0), "c");
    for (const auto& a : conv.attribute()) {
      const std::vector<int64_t> v(a.ints().begin(), a.ints().end());
      if (a.name() == "kernel_shape") {
        EXPECT_EQ(v, (std::vector<int64_t>{6, 6}));
      } else if (a.name() == "strides") {
        EXPECT_EQ(v, (std::vector<int64_t>{2, 2}));
      } else if (a.name() == "pads") {
        EXPECT_EQ(v, (std::vector<int64_t>{2, 2, 2, 2}));
      }
    }
    for (const auto& t : g.initializer()) {
      if (t.name() != "w") continue;
      EXPECT_EQ(std::vector<int64_t>(t.dims().begin(), t.dims().end()),
                (std::vector<int64_t>{5, 3, 6, 6}));
    }
    EXPECT_EQ(fold_space_to_depth_stems(*m.mutable_graph()), 0);  // nothing left to fold
  }
}

TEST(OnnxRewrites, FoldedStemGivesTheSameOutputs) {
  const fs::path model = save(focus_model(), "focus.onnx");
  const std::vector<float> x = pattern(3 * 8 * 8);
  const TensorView in{x.data(), {1, 3, 8, 8}};
  const auto ref = run(model, in, false), folded = run(model, in, true);
  ASSERT_EQ(ref.size(), 5u * 4 * 4);
  EXPECT_LT(max_rel_diff(folded, ref), 1e-5);
  // With free image dims (rect inference) at another size, borders included.
  const std::vector<float> big = pattern(3 * 16 * 24);
  const TensorView in_big{big.data(), {1, 3, 16, 24}};
  const auto ref_big = run(model, in_big, false, true), folded_big = run(model, in_big, true, true);
  ASSERT_EQ(ref_big.size(), 5u * 8 * 12);
  EXPECT_LT(max_rel_diff(folded_big, ref_big), 1e-5);
}

TEST(OnnxRewrites, StemsThatAreNotExactlyFocusAreLeftAlone) {
  const auto unchanged = [](const StemShape& shape, const char* why) {
    SCOPED_TRACE(why);
    onnx::ModelProto m = focus_model(shape);
    const std::string before = m.SerializeAsString();
    EXPECT_EQ(fold_space_to_depth_stems(*m.mutable_graph()), 0);
    EXPECT_EQ(m.SerializeAsString(), before);
  };
  StemShape s;
  s.conv_stride = 2;
  unchanged(s, "strided convolution after the concatenation");
  s = {};
  s.slice_step = 1;
  unchanged(s, "slices without stride");
  s = {};
  s.concat_is_output = true;
  unchanged(s, "concatenation read elsewhere");
  s = {};
  s.repeat_a_patch = true;
  unchanged(s, "a patch taken twice, one missing");
}

// The detector the product ships: its raw outputs (boxes, objectness, classes) on a real photo
// are the same with the stem folded.
TEST(OnnxRewrites, YoloxNanoOutputsUnchanged) {
  const fs::path model = test::shared_models_dir() / "detect" / "yolox_nano.onnx";
  ASSERT_TRUE(fs::exists(model)) << model;
  cv::Mat img = cv::imread(test::data("images/person.jpg").string());
  ASSERT_FALSE(img.empty());
  cv::resize(img, img, {416, 416});
  std::vector<float> x(3 * 416 * 416);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 416; ++y)
      for (int col = 0; col < 416; ++col)
        x[static_cast<size_t>((c * 416 + y) * 416 + col)] = img.at<cv::Vec3b>(y, col)[c];
  const TensorView in{x.data(), {1, 3, 416, 416}};
  const auto ref = run(model, in, false), folded = run(model, in, true);
  ASSERT_EQ(ref.size(), 3549u * 85);
  EXPECT_LT(max_rel_diff(folded, ref), 1e-3);
  onnx::ModelProto m;
  std::ifstream file(model, std::ios::binary);
  ASSERT_TRUE(m.ParseFromIstream(&file));
  EXPECT_EQ(fold_space_to_depth_stems(*m.mutable_graph()), 1);
}

}  // namespace
}  // namespace ev
