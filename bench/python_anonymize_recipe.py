#!/usr/bin/python3
"""The source documents' own face anonymization recipe (seed 000), as people run it today:
cv2 Haar cascade (scaleFactor 1.1, minNeighbors 5, minSize 30x30) on every frame and a
Gaussian blur over each face, reading and writing the video with cv2. Prints one JSON line.

Run with Debian's /usr/bin/python3 (python3-opencv). Reference for bench/anonymize_vs_python.sh.
"""
import json
import sys
import time

import cv2


def main():
    if len(sys.argv) < 3:
        print("usage: python_anonymize_recipe.py INPUT OUTPUT [MAX_FRAMES]", file=sys.stderr)
        return 2
    src, dst = sys.argv[1], sys.argv[2]
    max_frames = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    cascade = cv2.CascadeClassifier(
        "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml")
    cap = cv2.VideoCapture(src)
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    out = cv2.VideoWriter(dst, cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    frames = faces_total = 0
    start = time.perf_counter()
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        faces = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(30, 30),
                                         flags=cv2.CASCADE_SCALE_IMAGE)
        for (x, y, fw, fh) in faces:
            frame[y:y + fh, x:x + fw] = cv2.GaussianBlur(frame[y:y + fh, x:x + fw], (99, 99), 30)
        faces_total += len(faces)
        out.write(frame)
        frames += 1
        if max_frames and frames >= max_frames:
            break
    elapsed = time.perf_counter() - start
    out.release()
    print(json.dumps({"frames": frames, "faces": faces_total, "seconds": elapsed,
                      "fps": frames / elapsed if elapsed > 0 else 0.0}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
