// JPEG in memory through libjpeg-turbo's TurboJPEG API: BGR in and out with no colour-order
// copy, a compressor and a decompressor kept per thread. `cv::imencode` / `cv::imdecode` take
// 1.2x (encode) and 1.7x (decode) as long for the same 720p frames (bench/README.md, "JPEG
// through TurboJPEG").
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <opencv2/core.hpp>

#include "edgevision/status.hpp"

namespace ev {

// 8-bit BGR (3 channels), gray (1) or BGRA (4, alpha dropped), any row stride; 4:2:0 chroma
// as libjpeg's default. `quality` 1-100. `out` is replaced by the JPEG bytes.
Status encode_jpeg(const cv::Mat& image, int quality, std::vector<uint8_t>& out);

// The image's size from its header, without decoding it.
Result<cv::Size> jpeg_size(const uint8_t* data, size_t size);

// Decodes to 8-bit BGR. `reduce` (1, 2, 4 or 8) decodes at 1/reduce of the size in the DCT
// itself (each side rounded up), several times cheaper than decoding in full and shrinking:
// for thumbnails. A corrupt or truncated JPEG is an error, never a partly grey image.
Result<cv::Mat> decode_jpeg(const uint8_t* data, size_t size, int reduce = 1);

// The largest reduce factor (1, 2, 4, 8) that still decodes `region` (in full-size pixels) to
// at least `wanted` pixels each way.
int jpeg_reduce_for(cv::Size region, cv::Size wanted);

}  // namespace ev
