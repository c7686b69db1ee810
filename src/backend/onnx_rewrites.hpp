// Exact graph rewrites applied in memory when ONNX Runtime loads a model (the file is not
// changed).
#pragma once

#include <onnx/onnx_pb.h>

namespace ev {

// Makes the H and W of every 4-D graph input free dims, and drops the output and intermediate
// shapes inferred for the fixed size (ONNX Runtime re-infers them). Returns whether anything
// changed.
bool free_image_dims(onnx::GraphProto& graph);

// A space-to-depth stem (YOLOX's and YOLOv5's Focus: four slices of the input with stride 2 on
// H and W, concatenated on channels, then a k x k convolution with stride 1 and "same" padding)
// is the same linear map as one 2k x 2k convolution with stride 2 on the input itself; its
// weights are the k x k ones spread over the finer grid. ONNX Runtime runs the latter faster
// (no strided copies, no 4C-channel intermediate: YOLOX-nano 0.88x, bench/README.md) with the
// same outputs up to float rounding. Only a stem whose slices and concatenation feed nothing
// else and whose convolution's weights are FLOAT initializers is rewritten. Returns the number
// of stems rewritten.
int fold_space_to_depth_stems(onnx::GraphProto& graph);

}  // namespace ev
