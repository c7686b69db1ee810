// Load-time graph rewrites (src/backend/onnx_rewrites.cpp): the folded graph against the graph
// as written, both run by ONNX Runtime (the unfolded run is the reference).
#include <gtest/gtest.h>

#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
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

// A 1-D integer initializer, INT64 or (int32 = true) INT32.
void add_int_init(onnx::GraphProto& g, const std::string& name, std::vector<int64_t> v,
                  bool int32 = false) {
  auto* t = g.add_initializer();
  t->set_name(name);
  t->set_data_type(int32 ? onnx::TensorProto::INT32 : onnx::TensorProto::INT64);
  t->add_dims(static_cast<int64_t>(v.size()));
  for (int64_t x : v) {
    if (int32) {
      t->add_int32_data(static_cast<int32_t>(x));
    } else {
      t->add_int64_data(x);
    }
  }
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
  int kernel = 3;  // of the convolution after the concatenation, "same" padding
  int conv_stride = 1;
  bool int32_negative_axes = false;      // one Slice per patch, INT32 arguments, axes -2 and -1
  bool weights_listed_as_input = false;  // as IR < 4 exporters list every initializer
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
  add_int_init(g, "end", {kToEnd});
  add_int_init(g, "axis_h", {2});
  add_int_init(g, "step", {shape.slice_step});
  add_int64_constant(g, "axis_w", {3});
  add_int64_constant(g, "zero", {0});
  add_int64_constant(g, "one", {1});
  add_int_init(g, "zero_i", {0});
  add_int_init(g, "one_i", {1});
  add_int_init(g, "end2", {kToEnd, kToEnd});
  add_int_init(g, "axes_hw", {2, 3});
  add_int_init(g, "step2", {shape.slice_step, shape.slice_step});
  const int patches[4][2] = {{0, 0}, {1, 0}, {0, 1}, {shape.repeat_a_patch ? 0 : 1, 1}};
  std::vector<std::string> parts;
  for (int k = 0; k < 4; ++k) {
    const std::string p = std::to_string(k) + "p";
    const auto [dy, dx] = patches[k];
    if (shape.int32_negative_axes) {
      const std::string starts = p + "_starts";
      add_int_init(g, starts, {dy, dx}, true);
      const int64_t int32_max = std::numeric_limits<int32_t>::max();
      add_int_init(g, p + "_ends", {int32_max, int32_max}, true);
      add_int_init(g, p + "_axes", {-2, -1}, true);
      add_int_init(g, p + "_steps", {shape.slice_step, shape.slice_step}, true);
      add_node(g, "Slice", p, {"x", starts, p + "_ends", p + "_axes", p + "_steps"}, {p});
    } else if (shape.one_slice_per_patch) {
      const std::string starts = p + "_starts";
      add_int_init(g, starts, {dy, dx});
      add_node(g, "Slice", p, {"x", starts, "end2", "axes_hw", "step2"}, {p});
    } else {
      add_node(g, "Slice", p + "_h", {"x", dy ? "one_i" : "zero_i", "end", "axis_h", "step"},
               {p + "_h"});
      add_node(g, "Slice", p + "_w", {p + "_h", dx ? "one" : "zero", "end", "axis_w", "step"}, {p});
    }
    parts.push_back(p);
  }
  add_int(add_node(g, "Concat", "focus", parts, {"f"}), "axis", 1);
  const int64_t k = shape.kernel, pad = (k - 1) / 2;
  add_float_init(g, "w", {5, 12, k, k}, 0.3f);
  add_float_init(g, "b", {5}, 0.9f);
  if (shape.weights_listed_as_input) test::set_io(g.add_input(), "w", {5, 12, k, k});
  auto* conv = add_node(g, "Conv", "stem", {"f", "w", "b"}, {"c"});
  add_ints(conv, "kernel_shape", {k, k});
  add_ints(conv, "pads", {pad, pad, pad, pad});
  add_ints(conv, "strides", {shape.conv_stride, shape.conv_stride});
  add_node(g, "Sigmoid", "act", {"c"}, {"y"});
  if (shape.concat_is_output) test::set_io(g.add_output(), "f", {});
  return m;
}

int count_ops(const onnx::GraphProto& g, const std::string& op) {
  return static_cast<int>(std::count_if(g.node().begin(), g.node().end(),
                                        [&](const auto& n) { return n.op_type() == op; }));
}

// Into one folder per test process (temp_dir() empties the folder it returns, so once).
fs::path save(const onnx::ModelProto& m, const std::string& name) {
  static const fs::path dir = test::temp_dir("onnx_rewrites");
  const fs::path path = dir / name;
  std::ofstream out(path, std::ios::binary);
  EXPECT_TRUE(m.SerializeToOstream(&out));
  return path;
}

std::vector<float> pattern(size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = std::sin(0.37f * static_cast<float>(i)) + 0.25f;
  return v;
}

// First output of `model` on `input`, stems folded or not; `folded_at_load`: whether the backend
// announced a folded stem while loading it.
std::vector<float> run(const fs::path& model, const TensorView& input, bool fold,
                       bool free_size = false, bool* folded_at_load = nullptr) {
  BackendOptions o;
  o.threads = 1;
  o.fold_stems = fold;
  o.free_image_size = free_size;
  auto log = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(16);
  auto& sinks = spdlog::default_logger()->sinks();
  sinks.push_back(log);
  auto backend = create_backend("onnxruntime", model, o);
  sinks.pop_back();
  if (folded_at_load) {
    *folded_at_load = false;
    for (const auto& line : log->last_formatted())
      if (line.find("space-to-depth stem") != std::string::npos) *folded_at_load = true;
  }
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

std::vector<int64_t> ints_of(const onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return {a.ints().begin(), a.ints().end()};
  ADD_FAILURE() << "no attribute " << name;
  return {};
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
    // The Constants that fed the slices go; the ones that fed nothing (one Slice per patch
    // reads initializers) are not the rewrite's business.
    EXPECT_EQ(count_ops(g, "Constant"), one_slice ? 3 : 0);
    ASSERT_EQ(count_ops(g, "Conv"), 1);
    const auto& conv = *std::find_if(g.node().begin(), g.node().end(),
                                     [](const auto& n) { return n.op_type() == "Conv"; });
    EXPECT_EQ(conv.input(0), "x");
    EXPECT_EQ(conv.input(1), "w");
    EXPECT_EQ(conv.output(0), "c");
    EXPECT_EQ(ints_of(conv, "kernel_shape"), (std::vector<int64_t>{6, 6}));
    EXPECT_EQ(ints_of(conv, "strides"), (std::vector<int64_t>{2, 2}));
    EXPECT_EQ(ints_of(conv, "pads"), (std::vector<int64_t>{2, 2, 2, 2}));
    const auto w = std::find_if(g.initializer().begin(), g.initializer().end(),
                                [](const auto& t) { return t.name() == "w"; });
    ASSERT_NE(w, g.initializer().end());
    EXPECT_EQ(std::vector<int64_t>(w->dims().begin(), w->dims().end()),
              (std::vector<int64_t>{5, 3, 6, 6}));
    EXPECT_EQ(fold_space_to_depth_stems(*m.mutable_graph()), 0);  // nothing left to fold
  }
}

// ONNX Runtime on the folded graph against the graph as written, for several stems: kernels 1,
// 3 and 5, INT32 slice arguments with negative axes, weights also listed as a graph input.
TEST(OnnxRewrites, FoldedStemGivesTheSameOutputs) {
  std::vector<std::pair<std::string, StemShape>> shapes(5);
  shapes[0].first = "3x3";
  shapes[1].first = "5x5";
  shapes[1].second.kernel = 5;
  shapes[2].first = "1x1";
  shapes[2].second.kernel = 1;
  shapes[3].first = "INT32 arguments, negative axes";
  shapes[3].second.int32_negative_axes = true;
  shapes[4].first = "weights listed as an input";
  shapes[4].second.weights_listed_as_input = true;
  for (size_t i = 0; i < shapes.size(); ++i) {
    const auto& [name, shape] = shapes[i];
    SCOPED_TRACE(name);
    const fs::path model = save(focus_model(shape), "focus" + std::to_string(i) + ".onnx");
    const std::vector<float> x = pattern(3 * 8 * 8);
    const TensorView in{x.data(), {1, 3, 8, 8}};
    bool folded = true, unfolded = true;
    const auto ref = run(model, in, false, false, &unfolded);
    const auto out = run(model, in, true, false, &folded);
    EXPECT_FALSE(unfolded);
    EXPECT_TRUE(folded);
    ASSERT_EQ(ref.size(), 5u * 4 * 4);
    EXPECT_LT(max_rel_diff(out, ref), 1e-5);
    // With free image dims (rect inference) at another size, borders included.
    const std::vector<float> big = pattern(3 * 16 * 24);
    const TensorView in_big{big.data(), {1, 3, 16, 24}};
    const auto ref_big = run(model, in_big, false, true);
    const auto out_big = run(model, in_big, true, true, &folded);
    EXPECT_TRUE(folded);
    ASSERT_EQ(ref_big.size(), 5u * 8 * 12);
    EXPECT_LT(max_rel_diff(out_big, ref_big), 1e-5);
  }
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
  // A subgraph may read the outer graph's tensors, unseen by the rewrite's reader counts.
  onnx::ModelProto m = focus_model();
  auto* branch = add_node(*m.mutable_graph(), "If", "branch", {"cond"}, {"z"});
  auto* a = branch->add_attribute();
  a->set_name("then_branch");
  a->set_type(onnx::AttributeProto::GRAPH);
  add_node(*a->mutable_g(), "Identity", "inner", {"f"}, {"z_then"});
  const std::string before = m.SerializeAsString();
  EXPECT_EQ(fold_space_to_depth_stems(*m.mutable_graph()), 0);
  EXPECT_EQ(m.SerializeAsString(), before);
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
  bool folded_at_load = false;
  const auto ref = run(model, in, false);
  const auto folded = run(model, in, true, false, &folded_at_load);
  EXPECT_TRUE(folded_at_load);
  ASSERT_EQ(ref.size(), 3549u * 85);
  EXPECT_LT(max_rel_diff(folded, ref), 1e-3);
  onnx::ModelProto m;
  std::ifstream file(model, std::ios::binary);
  ASSERT_TRUE(m.ParseFromIstream(&file));
  EXPECT_EQ(fold_space_to_depth_stems(*m.mutable_graph()), 1);
}

}  // namespace
}  // namespace ev
