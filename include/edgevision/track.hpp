// Multi-object tracking: a ByteTrack-style tracker (Kalman motion model, two-stage
// high/low-score association, birth/death with hysteresis), per class, with stable IDs and
// bounded memory; a linear assignment solver; MOTChallenge text I/O. See docs/tracking.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <opencv2/core.hpp>

#include "edgevision/detect.hpp"
#include "edgevision/status.hpp"

namespace ev {

// ---------------------------------------------------------------------------------------
// Linear assignment (rectangular, with a cost limit).
// ---------------------------------------------------------------------------------------

struct Assignment {
  std::vector<std::pair<int, int>> matches;  // (row, col), sorted by row
  std::vector<int> unmatched_rows;           // ascending
  std::vector<int> unmatched_cols;           // ascending
  double total_cost = 0.0;                   // sum of the matched costs
};

// Minimum-cost assignment of rows to columns of a rows x cols cost matrix (row-major,
// `cost.size() == rows * cols`). A pair is only matched if its cost is < cost_limit; leaving
// a row or column unmatched costs cost_limit / 2 each (the semantics of lap.lapjv with
// extend_cost=True and cost_limit, which ByteTrack uses). Non-finite costs are never matched.
// Exact (optimal) for every input; O(n^2 m) with n = min(rows, cols).
Assignment solve_assignment(const std::vector<double>& cost, int rows, int cols, double cost_limit);

// Intersection over union of two boxes (0 when either is empty).
float box_iou(const cv::Rect2f& a, const cv::Rect2f& b);

// ---------------------------------------------------------------------------------------
// Tracker
// ---------------------------------------------------------------------------------------

struct TrackerParams {
  float track_thresh = 0.5f;              // detections >= this are "high" (first association)
  float low_thresh = 0.1f;                // detections in (low_thresh, track_thresh) are "low"
  float match_thresh = 0.8f;              // first association: max cost (1 - IoU [* score])
  float low_match_thresh = 0.5f;          // second association (low dets): max cost 1 - IoU
  float unconfirmed_match_thresh = 0.7f;  // tentative tracks vs leftover high dets
  float new_track_thresh = 0.6f;          // a new track is born only from a detection >= this
  int max_lost = 30;                      // frames a lost track is kept for re-identification
  int min_hits = 2;                       // consecutive hits before a track is confirmed (output)
  int max_tracks = 256;                   // cap on live tracks (tentative + tracked + lost)
  bool fuse_score =
      false;  // first association cost = 1 - IoU * det score (ByteTrack's MOT17 setting)
  bool per_class = true;  // tracks only match detections of the same class_id
  // Tracks born on the very first frame are confirmed at once (as in ByteTrack), so a
  // sequence does not lose its first min_hits-1 frames of every object.
  bool confirm_on_first_frame = true;
  // Lost tracks are matched with a buffered IoU: both boxes widened on each side by
  // lost_buffer * frames_missing of their size, at most max_lost_buffer.
  float lost_buffer = 0.1f;
  float max_lost_buffer = 0.5f;
  float duplicate_iou = 0.85f;  // a lost track this close to a tracked one is a duplicate
  // A track lost for at most this many frames also takes part in the second (low-score)
  // association. 0 is ByteTrack's rule (only tracks matched in the previous frame). Someone
  // falling or lying down scores low and flickers below the low threshold for a frame or two;
  // without this the track is gone before the low boxes could hold it.
  int low_revive_frames = 0;
  // Weak births (off at 0): a detection of class `weak_birth_label` below new_track_thresh but
  // at least weak_birth_thresh starts a tentative track that is confirmed only after
  // weak_min_hits consecutive frames with such a box. A seated or partly hidden person (an
  // elderly man half-squatting at a table) scores 0.3-0.55 for a long time and would otherwise
  // never get a track to judge. Weak births never evict a lost track to make room.
  float weak_birth_thresh = 0.f;
  int weak_min_hits = 5;
  std::string weak_birth_label = "person";

  Status validate() const;
};

enum class TrackState {
  kTentative,  // born, not yet confirmed (min_hits)
  kTracked,    // confirmed and matched in the latest frame
  kLost,       // confirmed, not matched for 1..max_lost frames
  kRemoved     // gone; never returned by update()
};
const char* to_string(TrackState state);

struct Track {
  int64_t id = 0;  // stable, unique per Tracker instance, from 1; 0 while tentative
  int class_id = -1;
  std::string label;
  cv::Rect2f box;     // Kalman posterior (tracked) or prediction (lost), frame pixels x,y,w,h
  float score = 0.f;  // score of the last matched detection
  TrackState state = TrackState::kTentative;
  int age = 0;                // frames since birth (1 on the birth frame)
  int hits = 0;               // frames with a matched detection
  int time_since_update = 0;  // frames since the last match (0 when matched this frame)
  bool weak_birth = false;    // weak birth (TrackerParams weak_*), no box >= new_track_thresh yet
};

struct TrackerStats {
  int64_t frame = 0;  // frames processed
  int64_t next_id = 1;
  std::size_t tentative = 0;
  std::size_t tracked = 0;
  std::size_t lost = 0;
  int64_t births_dropped = 0;        // new tracks not created because max_tracks was reached
  std::size_t storage_capacity = 0;  // element capacity of all internal containers
};

class Tracker {
 public:
  // Invalid params are logged and replaced by defaults; use create() to get the error.
  explicit Tracker(TrackerParams params = {});
  ~Tracker();
  Tracker(Tracker&&) noexcept;
  Tracker& operator=(Tracker&&) noexcept;
  Tracker(const Tracker&) = delete;
  Tracker& operator=(const Tracker&) = delete;

  static Result<Tracker> create(const TrackerParams& params);

  // One call per frame (call with an empty vector for a frame without detections so that
  // time advances). Returns the confirmed tracks matched in this frame, sorted by id.
  std::vector<Track> update(const std::vector<Detection>& detections);

  // All live tracks (tentative, tracked and lost), sorted by id.
  std::vector<Track> live_tracks() const;
  const TrackerParams& params() const;
  TrackerStats stats() const;
  void reset();  // forget all tracks; ids restart at 1

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ---------------------------------------------------------------------------------------
// MOTChallenge text format: frame,id,x,y,w,h,conf,x3d,y3d,z3d (frame 1-based, x,y top-left).
// ---------------------------------------------------------------------------------------

struct MotRecord {
  int frame = 0;
  int64_t id = 0;
  cv::Rect2f box;
  float conf = 1.f;
};

// One line "frame,id,x,y,w,h,conf,-1,-1,-1" (no newline).
std::string format_mot_line(const MotRecord& record);
// Writes records in the given order, one per line.
Status write_mot_file(const std::filesystem::path& path, const std::vector<MotRecord>& records);
// Accepts comma or whitespace separated lines with >= 6 fields (conf defaults to 1); blank
// lines and lines starting with '#' are skipped. Errors name the file and line.
Result<std::vector<MotRecord>> parse_mot_text(const std::string& text, const std::string& origin);
Result<std::vector<MotRecord>> read_mot_file(const std::filesystem::path& path);

}  // namespace ev
