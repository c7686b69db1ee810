// --device -> ONNX Runtime execution provider: known names map, unknown ones and providers the
// runtime lacks are errors (never a silent CPU fallback).
#include <gtest/gtest.h>

#include <algorithm>

#include "edgevision/backend.hpp"
#include "support/test_support.hpp"

namespace ev {
namespace {

TEST(ExecutionProvider, DeviceNamesMap) {
  EXPECT_EQ(execution_provider_for("cpu").value(), "CPUExecutionProvider");
  EXPECT_EQ(execution_provider_for("cuda").value(), "CUDAExecutionProvider");
  EXPECT_EQ(execution_provider_for("tensorrt").value(), "TensorrtExecutionProvider");
  EXPECT_EQ(execution_provider_for("openvino").value(), "OpenVINOExecutionProvider");
  auto bad = execution_provider_for("tpu");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("unknown device 'tpu'"), std::string::npos);
  const auto have = available_execution_providers();
  EXPECT_NE(std::find(have.begin(), have.end(), "CPUExecutionProvider"), have.end());
}

TEST(ExecutionProvider, MissingProviderIsAnError) {
  const auto model = test::shared_models_dir() / "detect" / "yolox_nano.onnx";
  ASSERT_TRUE(std::filesystem::exists(model)) << model;
  BackendOptions bo;
  bo.threads = 1;
  ASSERT_TRUE(create_backend("onnxruntime", model, bo).ok());
  const auto have = available_execution_providers();
  for (const char* device : {"cuda", "tensorrt", "openvino"}) {
    const std::string provider = execution_provider_for(device).value();
    if (std::find(have.begin(), have.end(), provider) != have.end()) continue;  // runs there
    bo.device = device;
    auto r = create_backend("onnxruntime", model, bo);
    ASSERT_FALSE(r.ok()) << device;
    EXPECT_NE(r.error().find(provider), std::string::npos) << r.error();
  }
}

}  // namespace
}  // namespace ev
