#!/usr/bin/env python3
"""Falls: runs `edgevision scene` on every clip of a labelled folder (labels.csv,
hard_negatives.csv, see shared/data/video/falls/README.md) and checks the `fall` events: one fall
per clip between fall_start and on_ground + 1 s, none inside a hard-negative stretch (the
video_1 negative is used with the README's margin: frames 0-60), and no fall at all on clips
without one (--no-fall-clips; default: PETS09 vtest.avi, the warehouse and both OTB clips beside
the falls folder). Prints a table (or --json); exit 1 when any clip fails, 2 on usage errors.

  bench/scene_falls_eval.py --edgevision build/bin/edgevision --dir ../shared/data/video/falls \
      --models-dir ../shared/models [--keep DIR] [--json] [--no-fall-clips CLIP...] [--config YAML]
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile

NEGATIVE_MARGIN = {"video_1.mp4": 60}  # README: "use only with a margin (e.g. 0-60)"
NO_FALL_CLIPS = ["pets09_s2l1/vtest.avi", "warehouse_one_person.mp4", "otb_crossing/crossing.avi",
                 "otb_girl/girl.avi"]  # relative to the falls folder's parent


def run_scene(a, clip_path, events_path):
    print(f"{os.path.basename(clip_path)}: running edgevision scene ...", file=sys.stderr)
    extra = ["--config", a.config] if a.config else []
    return subprocess.run([a.edgevision, "--models-dir", a.models_dir, "--log-level", "warn", "scene",
                           clip_path, "-o", events_path, "--json"] + extra, capture_output=True, text=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edgevision", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--models-dir", required=True)
    ap.add_argument("--keep", help="folder for the event files (default: a temporary one)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-fall-clips", nargs="*", help="clips that must produce no fall event")
    ap.add_argument("--config", help="edgevision config whose first camera's scene settings apply")
    a = ap.parse_args()
    labels = os.path.join(a.dir, "labels.csv")
    if not os.path.exists(labels):
        print(f"{labels}: missing", file=sys.stderr)
        return 2
    negatives = {}
    neg_path = os.path.join(a.dir, "hard_negatives.csv")
    if os.path.exists(neg_path):
        for r in csv.DictReader(open(neg_path)):
            end = min(int(r["end"]), NEGATIVE_MARGIN.get(r["clip"], int(r["end"])))
            negatives.setdefault(r["clip"], []).append((int(r["start"]), end))
    out_dir = a.keep or tempfile.mkdtemp(prefix="falls_")
    os.makedirs(out_dir, exist_ok=True)
    rows, ok = [], True
    for r in csv.DictReader(open(labels)):
        clip, fps = r["clip"], float(r["fps"])
        lo, hi = int(r["fall_start"]), int(r["on_ground"]) + int(round(fps))
        events_path = os.path.join(out_dir, clip + ".events.jsonl")
        p = run_scene(a, os.path.join(a.dir, clip), events_path)
        if p.returncode != 0:
            print(p.stderr, file=sys.stderr)
            rows.append({"clip": clip, "error": f"edgevision exit {p.returncode}"})
            ok = False
            continue
        falls = [json.loads(l) for l in open(events_path) if '"type":"fall"' in l]
        frames = [e["frame_index"] for e in falls]
        in_window = [f for f in frames if lo <= f <= hi]
        in_negative = [f for f in frames for (s, e) in negatives.get(clip, []) if s <= f <= e]
        person_frames = sum(1 for l in open(events_path) if '"class":"person"' in l)
        passed = len(in_window) == 1 and len(frames) == 1 and not in_negative
        ok = ok and passed
        rows.append({"clip": clip, "window": [lo, hi], "fall_frames": frames, "in_window": len(in_window),
                     "in_negatives": len(in_negative), "person_events": person_frames, "pass": passed})
    parent = os.path.dirname(os.path.abspath(a.dir))
    others = a.no_fall_clips if a.no_fall_clips is not None else [os.path.join(parent, c) for c in NO_FALL_CLIPS]
    for path in others:
        clip = os.path.basename(path)
        if not os.path.exists(path):
            rows.append({"clip": clip, "error": "missing"})
            ok = False
            continue
        events_path = os.path.join(out_dir, clip + ".events.jsonl")
        p = run_scene(a, path, events_path)
        if p.returncode != 0:
            print(p.stderr, file=sys.stderr)
            rows.append({"clip": clip, "error": f"edgevision exit {p.returncode}"})
            ok = False
            continue
        frames = [json.loads(l)["frame_index"] for l in open(events_path) if '"type":"fall"' in l]
        passed = not frames
        ok = ok and passed
        rows.append({"clip": clip, "window": None, "fall_frames": frames, "in_window": 0,
                     "in_negatives": len(frames), "pass": passed})
    if a.json:
        print(json.dumps({"ok": ok, "clips": rows}))
    else:
        print(f"{'clip':14} {'window':>10} {'fall events at frame':>22} {'negatives hit':>14} {'result':>7}")
        for r in rows:
            if "error" in r:
                print(f"{r['clip']:14} {r['error']}")
                continue
            window = f"{r['window'][0]}-{r['window'][1]}" if r["window"] else "no fall"
            print(f"{r['clip']:14} {window:>10} "
                  f"{','.join(map(str, r['fall_frames'])) or '-':>22} {r['in_negatives']:>14} "
                  f"{'PASS' if r['pass'] else 'FAIL':>7}")
        print("PASS" if ok else "FAIL: not every clip has exactly one fall in its window and none in the negatives")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
