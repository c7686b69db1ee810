// Scene analytics of one camera (src/activity): per-class filters, stationary objects, zones
// (bottom-centre membership with inertia), lines (signed side rule, once per track and
// direction), loitering, crowding, speed on a calibrated ground rectangle, traffic summaries,
// per-track activities with hysteresis, falls and fights. Works on tracks only (boxes over
// time), so it runs on any detector; a pose or sequence model can replace the rule-based
// activity model behind ActivityModel. See docs/scene_analytics.md.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "edgevision/config.hpp"
#include "edgevision/status.hpp"

namespace ev {

class ForegroundModel;

// ---------------------------------------------------------------------------------------
// Geometry
// ---------------------------------------------------------------------------------------

// Side of point p for the line p1 -> p2: the sign of (x2-x1)*(y-y1) - (y2-y1)*(x-x1)
// (-1, 0 or +1). Crossing from -1 to +1 is "in", from +1 to -1 "out".
int line_side(cv::Point2f p1, cv::Point2f p2, cv::Point2f p);
// True when the segments a0-a1 and b0-b1 intersect (touching counts).
bool segments_intersect(cv::Point2f a0, cv::Point2f a1, cv::Point2f b0, cv::Point2f b1);
// The point a box stands on: bottom-centre.
inline cv::Point2f foot_point(const cv::Rect2f& box) {
  return {box.x + box.width * 0.5f, box.y + box.height};
}

// Image -> ground plane (metres) from four image points of a rectangle of width_m x length_m
// (p0->p1 along the width, p1->p2 along the length).
class GroundCalibration {
 public:
  static Result<GroundCalibration> create(const ZoneSpeedConfig& config);
  cv::Point2f to_metres(cv::Point2f image_point) const;

 private:
  cv::Matx33d h_;
};

// ---------------------------------------------------------------------------------------
// Filters
// ---------------------------------------------------------------------------------------

// Built-in per-class defaults (documented in docs/configuration.md), median score / min area:
// person 0.6 / 600 px²; car, truck, bus 0.65 / 1500 px²; motorcycle, bicycle 0.7 / 900 px²;
// any other class 0.7 / 400 px²; max_area 0 (no limit); min_age_s 0.5.
ClassFilterConfig default_class_filter(const std::string& label);
// The configured filter of a class, else its default.
ClassFilterConfig class_filter(const SceneConfig& config, const std::string& label);
bool is_vehicle_class(const std::string& label);  // car truck bus motorcycle bicycle

// ---------------------------------------------------------------------------------------
// Activities
// ---------------------------------------------------------------------------------------

enum class Activity {
  kUnknown,
  kStanding,
  kWalking,
  kRunning,
  kSitting,
  kLoitering,
  kFalling,
  kFighting,
  kCrowdGathering,
  kVehicleParking,
  kVehicleMoving
};
const char* to_string(Activity activity);
inline constexpr int kActivityCount = 11;

struct TrackSample {
  double t_s = 0;  // frame time, seconds
  cv::Rect2f box;  // full-frame pixels
  float score = 0;
  // Matched to a low-score box only (the tracker's second association): its size and place
  // are right, but it is not a confident view of the person's posture.
  bool held = false;
};

// What the activity model sees of one track: its recent samples (oldest first, bounded) and
// what the scene already knows about it.
struct TrackView {
  int64_t id = 0;
  std::string label;
  const std::deque<TrackSample>* samples = nullptr;
  double first_seen_s = 0;
  double now_s = 0;
  bool in_fight = false;      // set by the pairwise analysis of this frame
  bool in_crowd = false;      // member of a dense, slow group of people
  bool fallen = false;        // a fall fired and the person has not got up
  double upright_height = 0;  // typical standing box height of this track (0: unknown)
};

// Per-track features over the window (exposed for tests and for future models).
struct ActivityFeatures {
  double speed_h = 0;        // foot-point speed in box heights per second
  double height = 0;         // median box height over the window
  double aspect = 0;         // height / width, latest samples
  double path_radius_h = 0;  // max distance from the mean foot point, in box heights
  double motion_energy = 0;  // mean |change| of box edges per second, in box heights
  double span_s = 0;         // time covered by the window
};
ActivityFeatures activity_features(const std::deque<TrackSample>& samples, double window_s);

struct ActivityParams {
  double window_s = 1.2;     // feature window
  double walk_speed = 0.25;  // heights/s above which a person walks
  double run_speed = 1.6;    // heights/s above which a person runs
  double sit_height = 0.78;  // box height below this fraction of the upright height: sitting
  double sit_aspect = 1.3;   // or height/width below this while still
  double loiter_s = 60;      // present this long within a few heights: loitering
  double loiter_radius_h = 3.0;
  double vehicle_move_speed = 0.15;  // box heights/s
  int hysteresis_frames = 4;         // a new label must hold this many updates in a row
};

// The extension point: a rule model today, an ONNX pose / sequence model later.
class ActivityModel {
 public:
  virtual ~ActivityModel() = default;
  virtual std::string name() const = 0;
  // The raw label of this update (hysteresis is applied by the caller).
  virtual Activity classify(const TrackView& track) = 0;
};
std::unique_ptr<ActivityModel> make_rule_activity_model(const ActivityParams& params = {});

// ---------------------------------------------------------------------------------------
// Falls: the box top drops by a good part of the person's upright height within ~1 s, the box
// gets much shorter (or much flatter), and it stays down. Physically: a fall turns a standing
// box into a low one quickly; sitting down is slower and keeps the top higher.
// ---------------------------------------------------------------------------------------
struct FallParams {
  // Upright reference: the samples between now-ref_from_s and now-ref_to_s. A fall takes
  // well under a second from upright to the floor; sitting down takes 1.5-3 s, so within
  // this window it never drops the top by min_descent.
  double ref_from_s = 1.2;
  double ref_to_s = 0.5;
  int min_ref_samples = 4;
  double min_descent = 0.3;  // box top moved down by >= this fraction of the upright height
  double max_height = 0.75;  // and box height <= this fraction of the upright height
  // .. and aspect (h/w) <= this fraction of the upright aspect: the body turned towards the
  // horizontal. A box that only shrinks (occlusion, two people's boxes merging and splitting)
  // keeps its aspect and is not a fall.
  double max_aspect = 0.7;
  double confirm_s = 0.2;  // down for this long (not contradicted by a standing sample)
  // Detectors often lose a person mid-fall (lying bodies are rare in training data): a last
  // sample that is already dropping (top down by >= drop_descent, box <= drop_height of
  // upright, aspect as above) followed by lost_confirm_s without any detection is a fall too.
  double drop_descent = 0.2;
  double drop_height = 0.9;
  double lost_confirm_s = 0.4;
  double rearm_height = 0.9;  // a fallen person who is this tall again has got up
  // An upright reference box within this fraction of the frame size from an edge shows part
  // of a body (someone entering, or close to the camera): its top and height say nothing about
  // a fall. Used when the frame size is known (set_frame_size).
  double edge_margin = 0.01;
  // On the floor: the posture (the detector's box, or while the detector has lost the person
  // the foreground blob at their last place) is at most floor_height of the standing height
  // (80th percentile of the last floor_ref_samples confident upright boxes), its top at least
  // floor_descent of that height below the standing top and its bottom no more than floor_rise
  // above where they stood, for floor_confirm_s. Someone seated on a chair keeps ~0.65-0.8 of
  // their standing height, someone on the floor (sitting, lying) ~0.5 or less. The last upright
  // box must be at most floor_transition_s older than the first floor posture: a person who
  // walks away gets smaller slowly and is upright all the way.
  double floor_height = 0.55;
  double floor_descent = 0.3;
  double floor_rise = 0.35;
  double floor_confirm_s = 0.2;
  double floor_transition_s = 4.0;
  int floor_ref_samples = 12;
  // A confident box joins the standing reference while its aspect (h/w) is at least this share
  // of the median aspect of the reference boxes of the last standing_memory_s (and >= 1): a
  // slow slide down gets shorter at about the same width and leaves the reference alone.
  double standing_aspect = 0.75;
  double standing_memory_s = 10.0;
  // A foreground blob stands in for a lost person only when it is body-sized: at least this
  // share of the standing box's area in foreground pixels and this share of its width.
  double floor_blob_fill = 0.15;
  double floor_blob_width = 0.5;
  // Lying down from a low start: someone already low (seated on an edge, half-squatting at a
  // table, bent over a walker) has no upright box for the rules above. The reference is their
  // confident non-lying postures of the lying_transition_s before their first lying posture
  // (height 80th percentile, top 20th percentile: the window may hold the start of the fall). A
  // posture that is lying (h/w <= lying_aspect: the body horizontal), its top >= lying_descent of
  // the reference height below the reference top, at most lying_height of it tall, its bottom no
  // more than lying_rise above the reference bottom (on the floor, not on a bed or sofa higher
  // up), held floor_confirm_s, is a fall. Sitting down onto a chair keeps the body upright (h/w
  // ~1 and more), bending forward keeps it above the feet (h/w ~0.7-1). The lying box is
  // also at least lying_width of the reference height wide (a body stretched out): someone
  // seen only above a table who sits down behind it keeps their shoulder width (~0.5).
  double lying_aspect = 0.6;
  double lying_width = 0.8;
  double lying_descent = 0.4;
  double lying_height = 0.75;
  double lying_rise = 0.25;
  double lying_transition_s = 1.5;
};

class FallDetector {
 public:
  explicit FallDetector(FallParams params = {}) : p_(params) {}
  // One update per frame for one person track (also while the track is not matched: then
  // `sample` is null and only time advances). Returns true once per fall, when it fires.
  // `floor_blob`: the foreground blob at the person's place (full-frame pixels), used as the
  // posture for the floor rule when `sample` is null.
  bool update(const std::deque<TrackSample>& samples, const TrackSample* sample, double now_s,
              const std::optional<cv::Rect2f>& floor_blob = std::nullopt);
  // Only learns the references (standing boxes, recent postures) from a sample; for a track
  // that is not judged yet (update() does this itself).
  void observe(const TrackSample& sample);
  bool fallen() const { return fired_; }
  // Which rule fired last: "drop", "lost" (lost mid-fall), "floor" or "lying".
  const char* rule() const { return rule_; }
  void set_frame_size(cv::Size size) { frame_ = size; }
  // Off: only the lying rule may fire. The drop and floor rules take any box with h/w >= 1 as
  // standing, and a seated person (h/w ~1-1.4) who bends forward looks like a drop to them; the
  // scene turns them off for person tracks below the class filter's score (seated, half-hidden
  // people: tracker weak births).
  void set_upright_rules(bool on) { upright_rules_ = on; }
  // Is this sample "down" relative to the samples before it? (for tests)
  bool is_down(const std::deque<TrackSample>& samples, const TrackSample& sample) const;
  bool is_dropping(const std::deque<TrackSample>& samples, const TrackSample& sample) const;
  // Is this posture on the floor relative to the confident upright boxes seen so far?
  bool on_floor(const cv::Rect2f& posture) const;
  // The last confident upright box of this person (where the floor rule looks for them).
  std::optional<cv::Rect2f> last_upright() const;
  // Is this posture lying, down from the (non-lying) postures of the lying_transition_s before
  // ref_s (the time of the first lying posture)? (lying rule)
  bool lying_down(const cv::Rect2f& posture, double ref_s) const;
  // Where to look for a lost person: the last upright box, else the last confident posture.
  std::optional<cv::Rect2f> last_place() const;
  // Is the box edge_margin clear of the frame's edges (always, while the size is unknown)?
  bool clear_of_edges(const cv::Rect2f& box) const;

 private:
  FallParams p_;
  std::optional<double> down_since_;
  std::optional<double> dropping_at_;  // time of the last sample, when it was dropping
  bool test(const std::deque<TrackSample>& samples, const TrackSample& s, double descent,
            double height) const;
  double upright_h_ = 0;
  bool fired_ = false;
  const char* rule_ = "";
  bool upright_rules_ = true;
  cv::Size frame_;
  struct Upright {
    double t_s;
    cv::Rect2f box;
  };
  std::deque<Upright> upright_;  // confident upright boxes of the last standing_memory_s
  std::optional<double> floor_since_;
  std::deque<Upright> postures_;  // confident, not lying, of the last lying_transition_s
  std::optional<double> lying_since_;
  std::optional<double> lying_onset_;  // first lying posture since the last non-lying one
  bool standing_like(const cv::Rect2f& box) const;
};

// ---------------------------------------------------------------------------------------
// VehicleClassifier: car/truck/bus/motorcycle/bicycle by per-track voting over the detector's
// classes of the detections that overlap the track; an optional model can add votes.
// ---------------------------------------------------------------------------------------
class VehicleClassModel {
 public:
  virtual ~VehicleClassModel() = default;
  // A vehicle class for this crop of the (anonymized) frame, or empty when unsure.
  virtual std::string classify(const cv::Mat& crop) = 0;
};

class VehicleClassifier {
 public:
  void vote(int64_t track_id, const std::string& label, double weight = 1.0);
  std::string label(int64_t track_id) const;  // the most voted vehicle class, or ""
  void forget(int64_t track_id);

 private:
  std::map<int64_t, std::map<std::string, double>> votes_;
};

// ---------------------------------------------------------------------------------------
// SceneAnalyzer: one per camera, on the tracking thread.
// ---------------------------------------------------------------------------------------

struct SceneObservation {
  int64_t track_id = 0;  // tracker id
  std::string label;
  int class_id = -1;
  cv::Rect2f box;  // full-frame pixels
  float score = 0;
  // Matched to a box below the detector's own threshold (the tracker's low-score association
  // holding the track): it moves the track but does not count in the class filter's score.
  bool held = false;
};

struct SceneDetection {
  std::string label;
  cv::Rect2f box;  // full-frame pixels
  float score = 0;
};

struct SceneFrame {
  int64_t index = 0;
  double time_ms = 0;
  std::vector<SceneObservation> tracks;    // confirmed tracks matched in this frame
  std::vector<int64_t> live_ids;           // every live tracker id (matched or briefly lost)
  std::vector<SceneDetection> detections;  // raw detections (vehicle class voting)
  cv::Size frame_size;                     // full frame; empty if unknown
  // Foreground of this frame (analytics.floor_evidence), null when off: posture evidence for
  // a person the detector has lost. Only read during update().
  const ForegroundModel* foreground = nullptr;
};

struct SceneParams {
  int min_hits = 3;               // matched frames before a track may produce events
  double stationary_s = 3.0;      // still this long -> stationary
  double stationary_move = 0.15;  // foot point moved < this many box heights in that time
  double ghost_s = 30.0;          // a vanished stationary object is held this long
  double ghost_iou = 0.4;         // a new track this close to a ghost takes over its id
  int zone_inertia = 3;           // consecutive frames before zone membership flips
  double crowd_end_s = 2.0;       // crowd ends after this long at or below max_objects
  double fight_distance_h = 0.9;  // centre distance in mean box heights
  double fight_energy = 0.9;      // both above this motion energy (heights/s)
  double fight_max_speed = 1.0;   // .. while not travelling faster than this
  double fight_min_s = 1.0;
  double fight_end_s = 2.0;
  int crowd_gathering_min = 4;  // people within crowd_gathering_radius_h of each other
  double crowd_gathering_radius_h = 1.5;
  double history_s = 12.0;  // samples kept per track
  // Off by default: on PETS09-S2L1 it lost more crossings (new people walking in groups took
  // over a neighbour's line state) than it recovered (bench/README.md).
  double handover_s = 0;             // a new track continues one lost this recently (s; 0: off) ..
  double handover_distance_h = 1.0;  // .. whose foot point was this close (box heights)
  // Falls are judged on person tracks whose median score reaches this even when it is below
  // the class filter's min_score (seated, half-hidden people); such a track is reported
  // (object_appeared) when it falls.
  double fall_min_score = 0.35;
  ActivityParams activity;
  FallParams fall;
};

struct SceneStats {
  uint64_t events = 0;
  uint64_t tracks_filtered = 0;  // tracks that never passed their class filter
  uint64_t ghosts_revived = 0;   // stationary objects whose new track took over the old id
};

using SceneEmitter = std::function<void(nlohmann::json event)>;

class SceneAnalyzer {
 public:
  SceneAnalyzer(std::string camera, SceneConfig config, SceneParams params = {});
  ~SceneAnalyzer();
  SceneAnalyzer(SceneAnalyzer&&) noexcept;
  SceneAnalyzer& operator=(SceneAnalyzer&&) noexcept;

  // Registers the event types of this module (idempotent).
  static void register_event_types();
  // Replaces the rule-based activity model.
  void set_activity_model(std::unique_ptr<ActivityModel> model);

  // One call per frame where the tracker ran.
  void update(const SceneFrame& frame, const SceneEmitter& emit);
  // The source ended: every open event ends, every object leaves.
  void finish(const SceneEmitter& emit);
  SceneStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ev
