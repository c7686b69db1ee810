// OpenCV DNN backend, for the formats ONNX Runtime does not read (TensorFlow .pb, Caffe,
// Darknet) and as a second opinion for ONNX files.
#include "backend/backends.hpp"

#include <opencv2/dnn.hpp>

namespace ev {
namespace {

class OpenCvBackend final : public InferenceBackend {
 public:
  explicit OpenCvBackend(cv::dnn::Net net) : net_(std::move(net)) {
    for (const auto& n : net_.getUnconnectedOutLayersNames()) outputs_.push_back({n, {}});
    for (auto& o : outputs_) output_names_.push_back(o.name);
    // OpenCV does not expose input names/shapes reliably for all importers.
    inputs_.push_back({"input", {}});
  }
  std::string_view name() const override { return "opencv"; }
  const std::vector<TensorInfo>& inputs() const override { return inputs_; }
  const std::vector<TensorInfo>& outputs() const override { return outputs_; }

  Status run(const std::vector<TensorView>& in, std::vector<Tensor>& out) override {
    if (in.size() != 1) return Status::Error("opencv backend: exactly one input is supported");
    try {
      std::vector<int> shape(in[0].shape.begin(), in[0].shape.end());
      cv::Mat blob(shape, CV_32F, const_cast<float*>(in[0].data));
      net_.setInput(blob);
      std::vector<cv::Mat> results;
      net_.forward(results, output_names_);
      out.resize(results.size());
      for (size_t i = 0; i < results.size(); ++i) {
        const cv::Mat m = results[i].isContinuous() ? results[i] : results[i].clone();
        out[i].name = output_names_[i];
        out[i].shape.assign(m.size.p, m.size.p + m.dims);
        const float* src = m.ptr<float>();
        out[i].data.assign(src, src + m.total());
      }
    } catch (const cv::Exception& e) {
      return Status::Error(std::string("opencv dnn: ") + e.what());
    }
    return Status::Ok();
  }

 private:
  cv::dnn::Net net_;
  std::vector<TensorInfo> inputs_, outputs_;
  std::vector<std::string> output_names_;
};

}  // namespace

Result<std::unique_ptr<InferenceBackend>> create_opencv_backend(const std::filesystem::path& model,
                                                                const BackendOptions& options) {
  try {
    cv::dnn::Net net = cv::dnn::readNet(model.string(), options.config.string());
    if (net.empty())
      return Result<std::unique_ptr<InferenceBackend>>::Error("opencv dnn: empty network from " +
                                                              model.string());
    net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
    net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
    if (options.threads > 0) cv::setNumThreads(options.threads);
    return std::unique_ptr<InferenceBackend>(new OpenCvBackend(std::move(net)));
  } catch (const cv::Exception& e) {
    return Result<std::unique_ptr<InferenceBackend>>::Error("opencv dnn: cannot load " +
                                                            model.string() + ": " + e.what());
  }
}

}  // namespace ev
