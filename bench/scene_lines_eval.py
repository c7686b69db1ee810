#!/usr/bin/env python3
"""PETS09-S2L1 line counts: edgevision line_cross events vs ground-truth identities.

Counts, for each line and direction, the ground-truth identities whose bottom-centre crosses the
line segment (same rule as edgevision: the side is the sign of (x2-x1)*(y-y1) - (y2-y1)*(x-x1),
negative -> positive is "in", each identity counted at most once per direction), and compares
them with the `line_cross` events of an edgevision JSONL event file. Exit 1 when any count is off
by more than --tolerance (relative), 2 on usage errors.

  bench/scene_lines_eval.py --gt GT.txt --events events.jsonl --line door:x1,y1,x2,y2 ... [--json]
"""
import argparse
import collections
import json
import sys


def side(p1, p2, p):
    v = (p2[0] - p1[0]) * (p[1] - p1[1]) - (p2[1] - p1[1]) * (p[0] - p1[0])
    return (v > 0) - (v < 0)


def intersects(a0, a1, b0, b1):
    d1, d2 = side(b0, b1, a0), side(b0, b1, a1)
    d3, d4 = side(a0, a1, b0), side(a0, a1, b1)
    return d1 * d2 < 0 and d3 * d4 < 0


def gt_counts(gt_path, lines):
    tracks = collections.defaultdict(list)
    for raw in open(gt_path):
        f = raw.strip().split(",")
        if len(f) < 6:
            continue
        frame, tid = int(float(f[0])), int(float(f[1]))
        x, y, w, h = map(float, f[2:6])
        tracks[tid].append((frame, (x + w / 2, y + h)))
    counts = {name: {"in": 0, "out": 0} for name in lines}
    for tid, pts in tracks.items():
        pts.sort()
        for name, (p1, p2) in lines.items():
            last_side, last_pt, seen = 0, None, set()
            for _, p in pts:
                s = side(p1, p2, p)
                if s == 0:
                    continue
                if last_side and s != last_side and intersects(last_pt, p, p1, p2):
                    d = "in" if last_side < 0 else "out"
                    if d not in seen:
                        seen.add(d)
                        counts[name][d] += 1
                last_side, last_pt = s, p
    return counts


def event_counts(path, lines):
    counts = {name: {"in": 0, "out": 0} for name in lines}
    classes = collections.Counter()
    for raw in open(path):
        raw = raw.strip()
        if not raw:
            continue
        e = json.loads(raw)
        classes[(e.get("type"), e.get("class"))] += 1
        if e.get("type") == "line_cross" and e.get("line") in counts:
            counts[e["line"]][e["direction"]] += 1
    return counts, classes


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gt", required=True)
    ap.add_argument("--events", required=True)
    ap.add_argument("--line", action="append", required=True, help="name:x1,y1,x2,y2")
    ap.add_argument("--tolerance", type=float, default=0.10)
    ap.add_argument("--json", action="store_true")
    try:
        a = ap.parse_args()
        lines = {}
        for spec in a.line:
            name, coords = spec.split(":")
            v = [float(c) for c in coords.split(",")]
            lines[name] = ((v[0], v[1]), (v[2], v[3]))
    except (ValueError, IndexError):
        print("bad --line, expected name:x1,y1,x2,y2", file=sys.stderr)
        return 2
    gt = gt_counts(a.gt, lines)
    ev, classes = event_counts(a.events, lines)
    rows, ok = [], True
    for name in lines:
        for d in ("in", "out"):
            g, e = gt[name][d], ev[name][d]
            err = abs(e - g) / g if g else (0.0 if e == 0 else 1.0)
            ok = ok and err <= a.tolerance
            rows.append({"line": name, "direction": d, "gt": g, "edgevision": e, "rel_error": round(err, 3)})
    hist = collections.Counter()
    for (t, c), n in classes.items():
        hist[c or "-"] += n
    if a.json:
        print(json.dumps({"ok": ok, "rows": rows, "events_by_class": dict(hist)}))
    else:
        print(f"{'line':10} {'dir':4} {'gt':>4} {'edgevision':>10} {'rel.err':>8}")
        for r in rows:
            print(f"{r['line']:10} {r['direction']:4} {r['gt']:>4} {r['edgevision']:>10} {r['rel_error']:>8.3f}")
        print("events by class:", dict(hist))
        print("PASS" if ok else f"FAIL: a count is off by more than {a.tolerance:.0%}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
