// Internal: the PaddleOCR engine's factory (create_plate_ocr picks it for engine "paddle").
#pragma once

#include <memory>

#include "edgevision/alpr.hpp"
#include "edgevision/models.hpp"

namespace ev {

// `model.paths`: rec, dictionary, det and (optional) cls, the manifest's ppocr-v4 order.
Result<std::unique_ptr<PlateOcr>> create_paddle_ocr(const ResolvedModel& model, int threads);

}  // namespace ev
