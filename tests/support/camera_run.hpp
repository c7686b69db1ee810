// One CameraPipeline run over a file, to its end, with its events collected. The pipeline is
// left running (finished, not stopped) so that a test can still ask it for snapshots; it is
// stopped when the CameraRun goes. Header-only: only the tests that link ev_pipeline include it.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "edgevision/pipeline.hpp"
#include "support/test_support.hpp"

namespace ev::test {

class CameraRun {
 public:
  // error() says why when the pipeline could not be created; finished() is false when the file
  // did not end within `timeout`.
  CameraRun(const PipelineSettings& settings, ModelManager& models, std::chrono::seconds timeout) {
    auto p = CameraPipeline::create(settings, models, [this](nlohmann::json e) {
      std::lock_guard lock(mutex_);
      events_.push_back(std::move(e));
    });
    if (!p) {
      error_ = p.error();
      return;
    }
    pipeline_ = std::move(*p);
    pipeline_->start();
    wait_until([this] { return pipeline_->finished(); }, static_cast<double>(timeout.count()));
  }
  ~CameraRun() {
    if (pipeline_) pipeline_->stop();
  }
  CameraRun(const CameraRun&) = delete;
  CameraRun& operator=(const CameraRun&) = delete;

  const std::string& error() const { return error_; }
  bool finished() const { return pipeline_ && pipeline_->finished(); }
  CameraPipeline& pipeline() { return *pipeline_; }
  // Stops the pipeline (drains its queues, e.g. the OCR's); events emitted then are kept.
  void stop() {
    if (pipeline_) pipeline_->stop();
  }
  std::vector<nlohmann::json> events() const {
    std::lock_guard lock(mutex_);
    return events_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<nlohmann::json> events_;
  std::unique_ptr<CameraPipeline> pipeline_;
  std::string error_;
};

}  // namespace ev::test
