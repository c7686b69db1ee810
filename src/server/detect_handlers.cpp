// DetectHandlers over an Anonymizer and an ObjectDetector owned elsewhere (the service).
#include <mutex>

#include "edgevision/anonymize.hpp"
#include "edgevision/server.hpp"

namespace ev {

DetectHandlers make_detect_handlers(std::shared_ptr<Anonymizer> anonymizer,
                                    std::shared_ptr<ObjectDetector> detector) {
  DetectHandlers h;
  if (!anonymizer) return h;  // invalid: /detect answers 503 rather than skip anonymization
  auto mutex = std::make_shared<std::mutex>();
  h.anonymize = [anonymizer, mutex](cv::Mat& bgr) -> Result<int> {
    std::lock_guard lock(*mutex);
    anonymizer->reset_tracking();  // requests are unrelated images
    FrameResult r = anonymizer->process(bgr);
    if (!r.emitted) return Result<int>::Error(r.error.empty() ? "face detection failed" : r.error);
    return r.masks_applied;
  };
  if (detector) {
    h.detect = [detector, mutex](const cv::Mat& bgr) -> Result<std::vector<Detection>> {
      std::lock_guard lock(*mutex);
      return detector->detect(bgr);
    };
  }
  return h;
}

}  // namespace ev
