#!/usr/bin/python3
"""Writes tiny ONNX detectors whose output is a known constant, one per YOLO layout that no
shared model covers (YOLOv5, YOLOv8/11, YOLO26 end-to-end) plus a YOLOX grid case.

Each graph is   output = CONST + 0 * ReduceMean(images)   so it has a real image input
[1,3,64,64] yet always returns CONST. The expected boxes are worked out by hand in
tests/detect/test_synthetic_layouts.cpp. Run with Debian's python3-onnx:
    /usr/bin/python3 tests/detect/make_synthetic_models.py
"""
import math
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
NET = 64  # input is 64x64; grid cells over strides 8/16/32: 64 + 16 + 4 = 84


def constant_model(name, const, net=NET):
    inp = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, net, net])
    out = helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(const.shape))
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["table", "nothing"], ["output0"]),
    ]
    inits = [
        numpy_helper.from_array(const.astype(np.float32), "table"),
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero"),
    ]
    graph = helper.make_graph(nodes, name, [inp], [out], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="edgevision-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(OUT, name + ".onnx"))


def yolov5():
    # [1, 3*84, 85]: cx, cy, w, h (input px), obj, 80 class scores.
    t = np.zeros((1, 3 * 84, 85), np.float32)
    def row(i, box, obj, cls, score):
        t[0, i, :4] = box
        t[0, i, 4] = obj
        t[0, i, 5 + cls] = score
    row(0, (32, 32, 20, 10), 0.9, 16, 0.8)   # dog 0.72
    row(1, (33, 32, 20, 10), 0.9, 16, 0.6)   # dog 0.54, IoU 0.90 with row 0 -> suppressed
    row(2, (32, 32, 20, 10), 0.9, 0, 0.5)    # person 0.45 on the same box: other class, kept
    row(3, (50, 50, 8, 8), 0.1, 2, 0.9)      # car 0.09 < conf: dropped
    row(4, (10, 20, 8, 8), 1.0, 2, 0.3)      # car 0.30
    constant_model("yolov5_synth", t)


def yolov8():
    # [1, 84, 189]: channels first, no objectness; a 96x96 input (144 + 36 + 9 = 189 anchors)
    # so that the anchor count differs from the 84 channels.
    t = np.zeros((1, 84, 189), np.float32)
    def anchor(i, box, cls, score):
        t[0, :4, i] = box
        t[0, 4 + cls, i] = score
    anchor(0, (48, 48, 30, 15), 16, 0.72)
    anchor(1, (49.5, 48, 30, 15), 16, 0.54)  # suppressed by anchor 0
    anchor(2, (48, 48, 30, 15), 0, 0.45)
    anchor(3, (75, 75, 12, 12), 2, 0.09)     # below conf
    anchor(4, (15, 30, 12, 12), 2, 0.30)
    anchor(5, (60, 45, 9, 9), 7, 0.20)       # truck: a lower class...
    t[0, 4 + 2, 5] = 0.10                    # ...beats car here unless the filter drops truck
    constant_model("yolov8_synth", t, net=96)


def yolo_e2e():
    # [1, 300, 6]: x1, y1, x2, y2, score, class; the model already ran NMS.
    t = np.zeros((1, 300, 6), np.float32)
    t[0, 0] = (22, 27, 42, 37, 0.72, 16)
    t[0, 1] = (23, 27, 43, 37, 0.50, 16)    # overlapping dog: kept, no NMS after e2e models
    t[0, 2] = (22, 27, 42, 37, 0.45, 0)
    t[0, 3] = (0, 0, 10, 10, 0.10, 2)       # below conf
    constant_model("yolo26_e2e_synth", t)


def yolox():
    # [1, 84, 85] raw grid outputs; rows: stride 8 (8x8), 16 (4x4), 32 (2x2), row-major.
    t = np.zeros((1, 84, 85), np.float32)
    r = 3 * 8 + 2                            # stride 8, gx=2, gy=3
    t[0, r, :4] = (0.5, 0.5, math.log(2.5), math.log(1.25))  # centre (20,28), 20x10
    t[0, r, 4] = 0.9
    t[0, r, 5 + 16] = 0.8                    # dog 0.72
    r = 64 + 2 * 4 + 1                       # stride 16, gx=1, gy=2
    t[0, r, :4] = (0.0, 0.0, 0.0, 0.0)       # centre (16,32), 16x16
    t[0, r, 4] = 1.0
    t[0, r, 5 + 0] = 0.5                     # person 0.5
    constant_model("yolox_synth", t)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    yolov5()
    yolov8()
    yolo_e2e()
    yolox()
    print("wrote", sorted(os.listdir(OUT)))
