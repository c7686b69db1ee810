#!/usr/bin/python3
"""Multi-camera bench: the real service (`edgevision run`) on N live-paced 720p cameras.

For each N in --cameras (default 1..6) it starts N simulated IP cameras (MJPEG over HTTP,
frames of a 720p clip pre-encoded once, paced at --source-fps in wall-clock time; a camera
that its reader does not keep up with skips frames, as a real one does), writes a config with
N cameras capped at --fps, runs `edgevision run` for --warmup + --seconds, and reports for
the measured window (after the warm-up):
  per camera: frames in / out / dropped (back-pressure drops inside the service), frames out
  whose object detection was skipped because the camera was behind (detection.skip_when_behind),
  out fps, and the process's CPU (% of one core and CPU-ms per processed frame) and RSS
  (peak VmRSS, sampled every 0.5 s over the whole run, model loading included), and the
  end-to-end frame latency (read to tracked, from the service's metrics: mean, and the upper
  bound of the histogram bucket holding the 95th percentile).
By default every camera sends the same frames at the same instants (the worst case for the
shared face session); --stagger gives each camera its own part of the clip and its own phase.

Progress goes to stderr, the table (or --json) to stdout. Exit 1 when a run fails.
Needs /usr/bin/python3 with OpenCV (Debian python3-opencv). Reads ../shared (a bench).
"""
import argparse
import http.server
import json
import os
import signal
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import cv2

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def load_frames(path, width, height, max_frames):
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise SystemExit(f"cannot open {path}")
    frames = []
    while len(frames) < max_frames:
        ok, img = cap.read()
        if not ok:
            break
        if (img.shape[1], img.shape[0]) != (width, height):
            img = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
        ok, jpg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])
        frames.append(jpg.tobytes())
    if not frames:
        raise SystemExit(f"no frames in {path}")
    return frames


class CameraServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def make_handler(frames, fps, stats, stop, stagger=None):
    """stagger: (cameras, analysis fps) to give camera i of N its own part of the clip and its own
    phase (i/N of an analysed frame's interval), as independent cameras have; None: all cameras
    send the same frames at the same instants (the worst case)."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            cam = self.path.strip("/").split(".")[0]
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            period = 1.0 / fps
            t0 = time.monotonic()
            k = 0
            first = 0  # where in the clip this camera starts
            if stagger:
                n, analysis_fps = stagger
                i = int("".join(ch for ch in cam if ch.isdigit()) or 1) - 1
                first = i * len(frames) // n
                t0 += i / n / (analysis_fps if analysis_fps > 0 else fps)
            st = stats.setdefault(cam, {"sent": 0, "skipped": 0})
            try:
                while not stop.is_set():
                    slot = t0 + k * period
                    now = time.monotonic()
                    if now < slot:
                        time.sleep(slot - now)
                    elif now - slot > period:  # reader too slow: a live camera moves on
                        behind = int((now - slot) / period)
                        st["skipped"] += behind
                        k += behind
                    jpg = frames[(first + k) % len(frames)]
                    self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: " +
                                     str(len(jpg)).encode() + b"\r\n\r\n" + jpg + b"\r\n")
                    st["sent"] += 1
                    k += 1
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler


def proc_cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def get_cameras(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/cameras", timeout=5) as r:
        return {c["id"]: c for c in json.load(r)}


def get_latency(port):
    """Cumulative end-to-end frame latency (read to tracked) of all cameras: sum, count and
    histogram buckets {upper bound: count}, from the service's Prometheus metrics."""
    total, count, buckets = 0.0, 0, {}
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if not line.startswith("edgevision_frame_latency_seconds"):
                continue
            name, value = line.rsplit(" ", 1)
            if name.startswith("edgevision_frame_latency_seconds_sum"):
                total += float(value)
            elif name.startswith("edgevision_frame_latency_seconds_count"):
                count += int(float(value))
            elif 'le="' in name:
                le = name.split('le="', 1)[1].split('"', 1)[0]
                le = float("inf") if le == "+Inf" else float(le)
                buckets[le] = buckets.get(le, 0) + int(float(value))
    return total, count, buckets


def latency_between(l0, l1):
    """Mean and 95th percentile (the upper bound of its histogram bucket) in ms."""
    n = l1[1] - l0[1]
    if n <= 0:
        return None, None
    mean = 1000.0 * (l1[0] - l0[0]) / n
    p95 = None  # also when it is beyond the last finite bucket (5 s)
    for le in sorted(l1[2]):
        if l1[2][le] - l0[2].get(le, 0) >= 0.95 * n:
            p95 = 1000.0 * le if le != float("inf") else None
            break
    return round(mean, 1), p95


def write_config(path, n, cam_port, api_port, args):
    lines = ["cameras:"]
    for i in range(n):
        lines += [f"  - id: cam{i + 1}", f"    source: http://127.0.0.1:{cam_port}/cam{i + 1}.mjpg",
                  f"    fps: {args.fps}", f"    detect: {'true' if args.detect else 'false'}"]
        lines += [f"    {kv.replace('=', ': ', 1)}" for kv in args.camera_key]
    lines += ["detection:", f"  motion_gating: {'true' if args.motion_gating else 'false'}"]
    lines += [f"  {kv.replace('=', ': ', 1)}" for kv in args.detection_key]
    lines += ["events:", "  log: false", f"  spool_dir: {os.path.dirname(path)}/spool",
              "api:", f"  port: {api_port}",
              "models:", f"  dirs: [{os.path.abspath(args.models)}]"]
    lines += args.extra_yaml
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def run_one(n, args, frames, tmp, cam_port, api_port):
    stats, stop = {}, threading.Event()
    stagger = (n, args.fps) if args.stagger else None
    server = CameraServer(("127.0.0.1", cam_port),
                          make_handler(frames, args.source_fps, stats, stop, stagger))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    cfg = os.path.join(tmp, f"n{n}.yaml")
    write_config(cfg, n, cam_port, api_port, args)
    env = dict(os.environ, **args.env)
    cmd = [args.bin, "--log-level", "info", "run", "--config", cfg]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(tmp, f"n{n}.log"), "w"))
    rss_peak = 0
    result = None
    try:
        t_start = time.monotonic()
        # Wait for the API and every camera running.
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"edgevision exited with {proc.returncode}")
            try:
                cams = get_cameras(api_port)
                if len(cams) == n and all(c["state"] == "running" and c["frames_in"] > 0
                                          for c in cams.values()):
                    break
            except OSError:
                pass
            if time.monotonic() - t_start > 120:
                raise RuntimeError("cameras not running after 120 s")
            rss_peak = max(rss_peak, proc_status(proc.pid, "VmRSS"))
            time.sleep(0.5)

        def sample_until(deadline):
            nonlocal rss_peak
            while time.monotonic() < deadline:
                rss_peak = max(rss_peak, proc_status(proc.pid, "VmRSS"))
                time.sleep(0.5)

        sample_until(time.monotonic() + args.warmup)
        c0, cpu0, t0 = get_cameras(api_port), proc_cpu_s(proc.pid), time.monotonic()
        lat0 = get_latency(api_port)
        srv0 = {k: dict(v) for k, v in stats.items()}
        sample_until(t0 + args.seconds)
        c1, cpu1, t1 = get_cameras(api_port), proc_cpu_s(proc.pid), time.monotonic()
        latency_mean, latency_p95 = latency_between(lat0, get_latency(api_port))
        threads = proc_status(proc.pid, "Threads")
        srv1 = {k: dict(v) for k, v in stats.items()}
        dt = t1 - t0
        per_cam = []
        for cid in sorted(c1):
            d = {k: c1[cid][k] - c0[cid][k] for k in ("frames_in", "frames_out", "frames_dropped",
                                                    "frames_failed")}
            d["id"] = cid
            # Frames out on which the detector was skipped because the camera was behind
            # (detection.skip_when_behind; 0 with a binary that has no such counter).
            d["behind_skipped"] = c1[cid].get("behind_skipped", 0) - c0[cid].get("behind_skipped", 0)
            d["fps_out"] = d["frames_out"] / dt
            s0, s1 = srv0.get(cid, {"skipped": 0}), srv1.get(cid, {"skipped": 0})
            d["camera_skipped"] = s1["skipped"] - s0["skipped"]
            per_cam.append(d)
        out_total = sum(c["frames_out"] for c in per_cam)
        in_total = sum(c["frames_in"] for c in per_cam)
        result = {
            "cameras": n, "seconds": round(dt, 2), "per_camera": per_cam,
            "fps_out_min": round(min(c["fps_out"] for c in per_cam), 2),
            "fps_out_mean": round(out_total / dt / n, 2),
            "frames_in": in_total, "frames_out": out_total,
            "dropped": sum(c["frames_dropped"] for c in per_cam),
            "drop_pct": round(100.0 * sum(c["frames_dropped"] for c in per_cam) / max(1, in_total), 1),
            "camera_skipped": sum(c["camera_skipped"] for c in per_cam),
            "behind_skipped": sum(c["behind_skipped"] for c in per_cam),
            "behind_skipped_pct": round(100.0 * sum(c["behind_skipped"] for c in per_cam)
                                        / max(1, out_total), 1),
            "cpu_pct": round(100.0 * (cpu1 - cpu0) / dt, 1),
            "cpu_ms_per_frame": round(1000.0 * (cpu1 - cpu0) / max(1, out_total), 1),
            "rss_peak_mb": round(rss_peak / 1024.0, 1), "threads": threads,
            "latency_ms_mean": latency_mean, "latency_ms_p95_bucket": latency_p95,
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        stop.set()
        server.shutdown()
        server.server_close()
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "build/bin/edgevision"))
    ap.add_argument("--video", default=os.path.join(ROOT, "../shared/data/video/highway_cars.mp4"))
    ap.add_argument("--models", default=os.path.join(ROOT, "../shared/models"))
    ap.add_argument("--cameras", default="1,2,3,4,5,6", help="comma-separated N values")
    ap.add_argument("--fps", type=float, default=10, help="per-camera fps cap in the service")
    ap.add_argument("--source-fps", type=float, default=30, help="rate the cameras send")
    ap.add_argument("--warmup", type=float, default=8)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--no-detect", dest="detect", action="store_false",
                    help="cameras anonymize only")
    ap.add_argument("--motion-gating", action="store_true")
    ap.add_argument("--stagger", action="store_true",
                    help="each camera sends its own part of the clip at its own phase (independent "
                         "cameras) instead of the same frames at the same instants")
    ap.add_argument("--yaml", dest="extra_yaml", action="append", default=[],
                    help="extra top-level YAML line(s) appended to the config")
    ap.add_argument("--env", action="append", default=[], help="KEY=VALUE for edgevision")
    ap.add_argument("--camera-key", action="append", default=[],
                    help="KEY=VALUE added to every camera (e.g. mjpeg_packets=false)")
    ap.add_argument("--detection-key", action="append", default=[],
                    help="KEY=VALUE added to the detection section (e.g. threads=2)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    args.env = dict(e.split("=", 1) for e in args.env)
    if not os.access(args.bin, os.X_OK):
        log(f"no binary {args.bin}: build first")
        return 2
    frames = load_frames(args.video, args.width, args.height, 300)
    log(f"{len(frames)} frames {args.width}x{args.height} from {args.video}; loadavg "
        f"{open('/proc/loadavg').read().strip()}")
    results, failed = [], False
    with tempfile.TemporaryDirectory(prefix="ev-multicam-") as tmp:
        for i, n in enumerate(int(x) for x in args.cameras.split(",")):
            cam_port, api_port = 18600 + 2 * i, 18601 + 2 * i
            load = open("/proc/loadavg").read().split()[0]
            try:
                r = run_one(n, args, frames, tmp, cam_port, api_port)
                r["loadavg_before"] = float(load)
                for line in open(os.path.join(tmp, f"n{n}.log")):  # the face gate's full/region/still counts
                    if "motion faces" in line: log(line.strip())
                results.append(r)
                log(f"N={n}: {r['fps_out_mean']:.1f} fps/camera (min {r['fps_out_min']:.1f}), "
                    f"dropped {r['drop_pct']}%, detector skipped {r['behind_skipped_pct']}%, CPU {r['cpu_pct']}%, {r['cpu_ms_per_frame']} "
                    f"CPU-ms/frame, RSS {r['rss_peak_mb']} MB, latency {r['latency_ms_mean']} ms "
                    f"(p95 <= {r['latency_ms_p95_bucket']} ms), {r['threads']} threads "
                    f"(loadavg {load})")
            except Exception as e:  # noqa: BLE001 -- report and go on with the next N
                failed = True
                log(f"N={n}: FAILED: {e}; log: " + open(os.path.join(tmp, f"n{n}.log")).read()[-2000:])
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        print(f"| cameras | fps/camera (mean / min) | in | out | dropped | detector skipped (behind) "
              f"| CPU % | CPU-ms/frame | peak RSS MB | latency ms mean / p95 <= | threads | loadavg |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in results:
            print(f"| {r['cameras']} | {r['fps_out_mean']:.1f} / {r['fps_out_min']:.1f} | "
                  f"{r['frames_in']} | {r['frames_out']} | {r['dropped']} ({r['drop_pct']}%) | "
                  f"{r['behind_skipped']} ({r['behind_skipped_pct']}%) | {r['cpu_pct']} | {r['cpu_ms_per_frame']} | {r['rss_peak_mb']} | "
                  f"{r['latency_ms_mean']} / {r['latency_ms_p95_bucket']} | "
                  f"{r['threads']} | {r['loadavg_before']} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
