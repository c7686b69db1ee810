// Licence-plate recognition: vehicles (object detector) -> plate localisation inside each
// vehicle -> rectification from the plate corners -> OCR -> per-region format rules ->
// per-track voting with throttling. Plates are anonymized like faces. See docs/alpr.md.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include <opencv2/core.hpp>

#include "edgevision/bounded_queue.hpp"
#include "edgevision/detect.hpp"
#include "edgevision/models.hpp"
#include "edgevision/status.hpp"
#include "edgevision/track.hpp"

namespace ev {

// ---------------------------------------------------------------------------------------
// Plate detection
// ---------------------------------------------------------------------------------------

struct PlateDetection {
  cv::Rect2f box;                        // frame pixels
  std::array<cv::Point2f, 4> corners{};  // tl, tr, br, bl (frame pixels) when has_corners
  bool has_corners = false;
  float score = 0.f;
  int rows = 1;  // 1: single-line plate, 2: two-line plate (as told by the model)
};

struct PlateDetectorParams {
  std::string model = "plate-yolov5";  // manifest name, a file path, or "haar"
  float conf = 0.1f;                   // low: plates are masked too, and a missed plate leaks
  float nms = 0.5f;
  int threads = 0;
  bool fallback_to_haar = true;  // when the model cannot be loaded (announced in one line)
  // Haar cascade: the smallest plate searched, as a share of the searched width (0: the
  // cascade's own 24x8 px).
  float haar_min_width = 0.f;
};

class PlateDetector {
 public:
  virtual ~PlateDetector() = default;
  virtual std::string name() const = 0;
  // Plates inside `roi` of `bgr` (the whole image when roi is empty), in frame pixels.
  virtual Status detect(const cv::Mat& bgr, const cv::Rect& roi,
                        std::vector<PlateDetection>& out) = 0;
};

Result<std::unique_ptr<PlateDetector>> create_plate_detector(const PlateDetectorParams& params,
                                                             ModelManager& models);

// Plates inside each of `rois` (vehicle boxes), appended to `found` with the index of their
// roi in `roi_of`. With `mosaic` and two or more rois, up to four rois are letterboxed into the
// 320x320 cells of one 640x640 detector input (one pass per four vehicles; detections
// straddling two cells are dropped); otherwise one pass per roi.
Status detect_plates_in_regions(PlateDetector& detector, const cv::Mat& bgr,
                                const std::vector<cv::Rect>& rois, bool mosaic,
                                std::vector<PlateDetection>& found, std::vector<int>& roi_of);

// Decodes the YOLOv5 plate head [N,15] (cx,cy,w,h, obj, 8 corner coords, 2 class scores) in
// network-input pixels; `ratio`/`pad` undo a centred letterbox. Exposed for tests.
std::vector<PlateDetection> decode_yolov5_plates(const float* rows, int n, int stride, float conf,
                                                 float nms, float ratio, cv::Point2f pad);

// Perspective-warps the plate to `size` using its corners (axis-aligned crop without
// corners), with `margin` of the plate's width/height added on each side. A two-line plate
// is split into its rows, placed side by side.
cv::Mat rectify_plate(const cv::Mat& bgr, const PlateDetection& plate, cv::Size size,
                      float margin = 0.f);

// One way of cutting a located plate for the OCR. Detector boxes and corners are often a
// little off (a cut first character, the state-name band of a US plate taken for the whole
// plate, a single-row plate told two-row), so a plate is read from a few cuts and voted.
struct CropVariant {
  float margin_x = 0.05f;  // context on each side, fraction of the plate's width
  float margin_y = 0.05f;  // ... and height
  bool corners = true;     // warp the corner quad (when plausible); false: the axis-aligned box
  bool split_rows = true;  // split a two-row plate into its rows (when the model says two rows)
};
cv::Mat rectify_plate(const cv::Mat& bgr, const PlateDetection& plate, cv::Size size,
                      const CropVariant& variant);
// The first `n` (1..3) cuts read per plate: the corner warp with `margin` of context; the
// corner warp with more context (10 % of the width, 20 % of the height: the band of characters
// is often only part of what the model calls the plate); the axis-aligned box with that
// context (when the corners are off).
std::vector<CropVariant> crop_variants(float margin, int n);

// ---------------------------------------------------------------------------------------
// OCR
// ---------------------------------------------------------------------------------------

struct OcrResult {
  std::string text;              // UTF-8: [0-9A-Z], plus non-ASCII letters from PaddleOCR
  std::vector<float> char_conf;  // one per character of text
  float confidence = 0.f;        // mean of char_conf (0 for an empty read)
};

struct CctConfig {
  int max_plate_slots = 9;
  std::string alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_";
  char pad_char = '_';
  int img_height = 64;
  int img_width = 128;
};
// Parses fast-plate-ocr's plate config YAML.
Result<CctConfig> parse_cct_config(const std::string& yaml_text);

// fast-plate-ocr output: `slots` rows of `alphabet.size()` probabilities; argmax per slot,
// pad characters dropped.
OcrResult decode_cct(const float* probs, int slots, const CctConfig& config);
// CTC: `steps` x `classes` scores, argmax per step, repeats collapsed, `blank` dropped;
// characters outside [0-9A-Z] are dropped. charset[i] is the UTF-8 string of class i.
OcrResult decode_ctc(const float* scores, int steps, int classes,
                     const std::vector<std::string>& charset, int blank = 0);

// PaddleOCR (PP-OCRv4) pieces, exposed for tests.
// The rec model's classes: 0 the CTC blank, then one per line of the dictionary text, then a
// space (PaddleOCR's use_space_char). ASCII lowercase letters are upper-cased (plates are read
// in capitals; PP-OCR often answers 'o' for 'O').
std::vector<std::string> paddle_charset(const std::string& dictionary_text);

struct DbParams {
  float thresh = 0.3f;      // binarise the probability map
  float box_thresh = 0.6f;  // mean probability inside a box to keep it
  float unclip = 1.5f;      // grow each box by area * unclip / perimeter on every side
  int min_size = 3;         // boxes with a shorter side (map pixels) are dropped
  int max_candidates = 1000;
};
// A text line found by DB: a rotated rectangle (corners tl, tr, br, bl) in image pixels.
struct TextBox {
  std::array<cv::Point2f, 4> corners{};
  float score = 0.f;
};
// DB post-processing of a [H,W] CV_32F probability map: binarise, contours, min-area
// rectangles scored by the mean probability inside, unclipped; coordinates multiplied by
// (scale_x, scale_y) and clipped to `image` (the map's size when empty). Sorted top to
// bottom, then left to right within a line.
std::vector<TextBox> db_postprocess(const cv::Mat& prob, const DbParams& params = {},
                                    float scale_x = 1.f, float scale_y = 1.f,
                                    cv::Size image = {});

struct OcrParams {
  std::string engine = "cct";  // cct | tesseract | paddle
  std::string model;           // manifest name or path; "" = the engine's default
                               // (cct-xs-global, ppocr-v4)
  int threads = 0;
};

class PlateOcr {
 public:
  virtual ~PlateOcr() = default;
  virtual std::string name() const = 0;
  virtual cv::Size input_size() const = 0;  // preferred rectified plate size
  virtual Result<OcrResult> read(const cv::Mat& plate_bgr) = 0;
};

Result<std::unique_ptr<PlateOcr>> create_plate_ocr(const OcrParams& params, ModelManager& models);

// ---------------------------------------------------------------------------------------
// Per-region format rules
// ---------------------------------------------------------------------------------------

// Patterns: 'A' a letter, '9' a digit, '*' either. A read that matches none of its region's
// patterns is moved to the nearest one by swapping confusable characters (0/O, 1/I, 2/Z,
// 5/S, 8/B, also 4/A, 6/G, 7/T) -- the least confident characters first.
const std::vector<std::string>& region_patterns(const std::string& region);
std::vector<std::string> known_regions();
struct FormatResult {
  std::string text;
  bool matched = false;  // matches a pattern (after corrections)
  int corrections = 0;
};
FormatResult apply_region_format(const std::string& text, const std::vector<float>& char_conf,
                                 const std::string& region);

// ---------------------------------------------------------------------------------------
// Voting and throttling (per track)
// ---------------------------------------------------------------------------------------

// 1 - Levenshtein distance / max length.
double string_similarity(const std::string& a, const std::string& b);
int edit_distance(const std::string& a, const std::string& b);  // in UTF-8 characters
// A plate text split into its UTF-8 characters (char_conf has one entry per element).
std::vector<std::string> plate_chars(const std::string& text);

struct VoteParams {
  int history = 10;                 // last N reads kept per track
  double similarity = 0.7;          // reads at least this similar share a group
  int agree_k = 3;                  // K agreeing reads settle the plate
  float confidence_target = 0.97f;  // ... or one read at least this confident
};

struct VotedPlate {
  std::string text;
  float confidence = 0.f;  // weighted agreement of the winning characters
  int reads = 0;           // reads in the winning group
  int agreeing = 0;        // reads in the group equal to the voted text
};

// Frigate-style: the reads are grouped by similarity, the largest group (ties: more total
// confidence) wins, and inside it each character position is voted, weighted by the
// character confidences, among the reads of the group's most common length.
class PlateVote {
 public:
  explicit PlateVote(VoteParams params = {}) : params_(params) {}
  void add(const OcrResult& read);
  VotedPlate result() const;
  bool settled() const;  // K agreeing reads or a read above the confidence target
  size_t size() const { return reads_.size(); }

 private:
  VoteParams params_;
  std::deque<OcrResult> reads_;
  bool confident_read_ = false;
};

// Several reads of one plate (one per crop variant) voted into one read like a track's reads
// (PlateVote): text and confidence of the vote; char_conf the mean confidence of the reads that
// agree with each voted character, times the share of reads that agree.
OcrResult combine_reads(const std::vector<OcrResult>& reads, double similarity = 0.7);

struct ThrottleParams {
  bool enabled = true;
  float min_plate_area = 1000.f;  // px^2; smaller plates are never read (still masked)
  float regrow = 1.5f;            // a settled plate is read again once its area grew this much
  bool moving_only = true;        // a vehicle that stands still is not read again once read
  float still_px = 0.02f;         // "still": centre moved < this x frame diagonal since last read
  int max_reads = 30;             // hard cap per track
};

struct TrackReadState {
  TrackReadState() = default;
  explicit TrackReadState(const VoteParams& p) : vote(p) {}
  PlateVote vote;
  int ocr_calls = 0;
  float area_at_settle = 0.f;
  cv::Point2f last_read_centre{-1.f, -1.f};
  std::string last_reported;  // text of the last plate_read/plate_updated event
};

enum class ReadDecision { kRead, kTooSmall, kSettled, kStill, kCapped };
const char* to_string(ReadDecision d);
// Whether the plate of a track should be read now (see ThrottleParams).
ReadDecision should_read(const TrackReadState& state, const ThrottleParams& params, float area,
                         cv::Point2f centre, float frame_diagonal);

// ---------------------------------------------------------------------------------------
// Known plates
// ---------------------------------------------------------------------------------------

struct KnownPlates {
  std::vector<std::string> allow;
  std::vector<std::string> deny;
};
// "allow" / "deny" when `text` equals a listed plate or is within one character (edit
// distance 1) of it; deny wins; "" otherwise.
std::string match_known_plate(const KnownPlates& known, const std::string& text);

// ---------------------------------------------------------------------------------------
// Engine: one frame at a time
// ---------------------------------------------------------------------------------------

struct AlprParams {
  std::vector<std::string> vehicle_classes{"car", "truck", "bus", "motorcycle"};
  bool whole_image_fallback = true;  // no plate in any vehicle: search the whole frame
  bool whole_image_always = false;   // search the whole frame as well as the vehicles
  bool haar_second_chance = true;    // the model found no plate at all: try the Haar cascade
  // Two or more vehicles: their crops are tiled 2x2 into one 640x640 plate-detector input
  // (each in a 320x320 cell) instead of one 640 pass per vehicle. The shared YOLOv5 plate model
  // only accepts 640x640 (its reshapes are baked), so this is how a crop gets a 320 input.
  bool plate_mosaic = true;
  std::string region;                // format rules ("" = none); see known_regions()
  float crop_margin = 0.05f;         // context kept around a located plate for the OCR
  int read_variants = 3;             // crops read per plate and voted (1..3, see crop_variants)
  PlateDetectorParams plate;
  OcrParams ocr;
  VoteParams vote;
  ThrottleParams throttle;
  TrackerParams tracker;  // plate tracks (video); defaults tuned in AlprEngine
};

struct PlateRead {
  int64_t track_id = 0;  // 0 for still images
  cv::Rect2f box;
  std::string vehicle;  // vehicle class, "" when found by the whole-image search
  float detect_score = 0.f;
  bool read_now = false;  // OCR ran on this plate in this frame
  ReadDecision decision = ReadDecision::kRead;
  OcrResult ocr;     // this frame's read (when read_now)
  VotedPlate voted;  // the track's vote (== this read for still images)
};

struct AlprTimings {
  double vehicle_ms = 0, plate_ms = 0, ocr_ms = 0;
};

// A plate track's final (or current) vote.
struct PlateSummary {
  int64_t track_id = 0;
  VotedPlate voted;
  int ocr_calls = 0;
  std::string vehicle;
};

struct AlprStats {
  int64_t frames = 0;
  int64_t ocr_calls = 0;
  int64_t plates_seen = 0;  // plate detections
  int64_t skipped_small = 0, skipped_settled = 0, skipped_still = 0, skipped_capped = 0;
};

// Plate tracks with their votes under the throttle rules (one per video / camera).
class PlateTrackBook {
 public:
  explicit PlateTrackBook(const AlprParams& params);
  // One frame: `plates` (with their vehicle class or ""), `read(i)` reads plate i when the
  // throttle allows. `out` gets one PlateRead per plate.
  Status update(const std::vector<PlateDetection>& plates, const std::vector<std::string>& vehicles,
                float frame_diagonal, const std::function<Result<OcrResult>(size_t)>& read,
                std::vector<PlateRead>& out, AlprStats& stats);
  // Votes of the tracks that ended (last 1024) and of the live ones, by track id.
  std::vector<PlateSummary> summaries() const;
  const std::map<int64_t, TrackReadState>& states() const { return states_; }
  // The vehicle class last seen with a plate track ("" when none).
  std::string vehicle_of(int64_t track_id) const {
    auto it = vehicle_of_track_.find(track_id);
    return it == vehicle_of_track_.end() ? "" : it->second;
  }
  TrackReadState* find(int64_t track_id) {
    auto it = states_.find(track_id);
    return it == states_.end() ? nullptr : &it->second;
  }

 private:
  AlprParams params_;
  Tracker tracker_;
  std::map<int64_t, TrackReadState> states_;
  std::map<int64_t, std::string> vehicle_of_track_;
  std::deque<PlateSummary> finished_;
};

class AlprEngine {
 public:
  // `vehicles` may be null: plates are then searched in the whole frame.
  AlprEngine(AlprParams params, std::unique_ptr<ObjectDetector> vehicles,
             std::unique_ptr<PlateDetector> plates, std::unique_ptr<PlateOcr> ocr);
  static Result<std::unique_ptr<AlprEngine>> create(const AlprParams& params, ModelManager& models,
                                                    const std::string& vehicle_model);

  // A still image: every plate is read (no tracking, no throttling).
  Status process_image(const cv::Mat& bgr, std::vector<PlateRead>& out);
  // One video frame: plates are tracked and read under the throttle rules.
  Status process_frame(const cv::Mat& bgr, std::vector<PlateRead>& out);
  // Plate boxes only (masking): vehicle + plate detection, no OCR.
  Status detect_plates(const cv::Mat& bgr, std::vector<PlateDetection>& out,
                       std::vector<std::string>* vehicle_of = nullptr);

  const AlprTimings& last_timings() const { return timings_; }
  const AlprStats& stats() const { return stats_; }
  const std::map<int64_t, TrackReadState>& track_states() const { return book_.states(); }
  std::vector<PlateSummary> plate_summaries() const { return book_.summaries(); }
  const AlprParams& params() const { return params_; }
  PlateDetector& plate_detector() { return *plates_; }
  PlateOcr& ocr() { return *ocr_; }
  // Reads one located plate (rectify + OCR + format rules).
  Result<OcrResult> read_plate(const cv::Mat& bgr, const PlateDetection& plate);
  // One read per crop variant (rectify + OCR + format rules), not voted.
  Result<std::vector<OcrResult>> read_plate_variants(const cv::Mat& bgr,
                                                     const PlateDetection& plate,
                                                     const std::vector<CropVariant>& variants);

 private:
  // What process_image and process_frame both do first: clear `out`, locate the plates (with
  // their vehicle class), count the frame.
  Status begin_frame(const cv::Mat& bgr, std::vector<PlateRead>& out,
                     std::vector<PlateDetection>& plates, std::vector<std::string>& owners);
  // Plates in several vehicle crops at once (AlprParams::plate_mosaic).
  Status detect_in_mosaic(const cv::Mat& bgr, const std::vector<cv::Rect>& rois,
                          const std::vector<std::string>& labels, std::vector<PlateDetection>& found,
                          std::vector<std::string>& owners);

  AlprParams params_;
  std::unique_ptr<ObjectDetector> vehicles_;
  std::unique_ptr<PlateDetector> plates_;
  std::unique_ptr<PlateDetector> second_;  // Haar, when haar_second_chance
  std::unique_ptr<PlateOcr> ocr_;
  PlateTrackBook book_;
  AlprTimings timings_;
  AlprStats stats_;
};

// ---------------------------------------------------------------------------------------
// Camera pipeline stage: masking on the anonymize thread, reading on its own thread
// ---------------------------------------------------------------------------------------

// The vehicle a plate belongs to: among `vehicles` of one of `classes`, the one whose box
// (grown 5 % / 8 %, as when plates are searched inside vehicles) holds the plate's centre;
// confirmed tracks before tentative ones (id 0), then the smallest box (the nearer car in
// front of a bigger one). -1: none.
int plate_owner(const cv::Rect2f& plate, const std::vector<Track>& vehicles,
                const std::vector<std::string>& classes);

struct PlateStageOptions {
  std::string camera;
  bool mask = true;   // privacy.plates
  bool read = false;  // alpr.enabled: OCR, votes and plate_read / plate_updated events
  AlprParams params;  // params.region, throttle, vote, plate, ocr
  KnownPlates known;
  size_t queue_size = 4;
  float mask_margin = 0.1f;
  // > 0 when the camera tracks objects: the OCR thread waits up to this long for the vehicle
  // tracks of a frame (set_vehicles) before reading it, so events name the plate's vehicle.
  int vehicle_wait_ms = 0;
  // Masking: the vehicles of the latest set_vehicles call are searched for plates as well as
  // the whole frame (plates too small for the whole-frame pass); params.haar_second_chance:
  // the Haar cascade when neither finds a plate.
  bool vehicle_pass = true;
};

// One frame's plates handed from the anonymize thread to the OCR thread: rectified crops
// taken before the plates were masked.
struct PlateWork {
  int64_t frame_index = 0;
  double time_ms = 0;
  float frame_diagonal = 0;
  std::vector<PlateDetection> plates;
  // Same order: each plate's crop variants (params.read_variants); none for plates too small
  // to read.
  std::vector<std::vector<cv::Mat>> crops;
};

class PlateStage {
 public:
  using Emit = std::function<void(nlohmann::json event)>;
  // Registers plate_read / plate_updated with the EventTypeRegistry (once per process).
  static Result<std::unique_ptr<PlateStage>> create(const PlateStageOptions& options,
                                                    ModelManager& models, Emit emit);
  ~PlateStage();  // stop()

  // Anonymize thread: finds the plates in the whole frame, hands crops to the OCR thread
  // (never blocks: when its queue is full the oldest work is dropped and counted) and masks
  // them. An error means the frame must be withheld (fail closed).
  Status process(cv::Mat& frame, int64_t index, double time_ms);
  // Queues work for the OCR thread; false once stopped.
  bool submit(PlateWork work);
  // Track thread, every frame: the object tracks of frame `index` (the last few frames are
  // kept), from which the OCR thread tells each plate's vehicle class and track.
  void set_vehicles(int64_t index, const std::vector<Track>& tracks);
  // Track thread: no more set_vehicles calls (the source ended); the OCR thread stops waiting.
  void vehicles_ended();
  void start();  // the OCR thread (no-op unless options.read)
  void stop();   // drains the queue, joins

  int64_t dropped() const { return static_cast<int64_t>(queue_.dropped()); }
  int64_t ocr_calls() const { return ocr_calls_.load(); }
  int64_t plates_masked() const { return masked_.load(); }
  std::string detector_name() const {
    return detector_->name() + (second_ ? "+" + second_->name() : "");
  }
  // The plates `process` masks: the whole frame, the latest vehicles (set_vehicles), and the
  // Haar cascade when both found nothing (`fail_safe` then true: masked, never read).
  Status locate(const cv::Mat& frame, std::vector<PlateDetection>& plates,
                bool* fail_safe = nullptr);
  std::vector<PlateSummary> summaries() const;

 private:
  PlateStage(PlateStageOptions options, std::unique_ptr<PlateDetector> detector,
             std::unique_ptr<PlateOcr> ocr, Emit emit);
  void run();
  void consume(const PlateWork& work);

  PlateStageOptions options_;
  std::unique_ptr<PlateDetector> detector_;
  std::unique_ptr<PlateDetector> second_;  // Haar, when params.haar_second_chance
  std::unique_ptr<PlateOcr> ocr_;
  Emit emit_;
  BoundedQueue<PlateWork> queue_;
  std::thread thread_;
  PlateTrackBook book_;  // OCR thread only (summaries() locks)
  mutable std::mutex book_mutex_;
  std::mutex vehicles_mutex_;
  std::condition_variable vehicles_cv_;
  std::deque<std::pair<int64_t, std::vector<Track>>> vehicles_;  // newest last, bounded
  bool stopping_ = false, vehicles_ended_ = false;               // under vehicles_mutex_
  std::vector<cv::Rect2f> latest_vehicles_;  // under vehicles_mutex_; the vehicle pass's rois
  AlprStats stats_;
  std::atomic<int64_t> ocr_calls_{0}, masked_{0};
};

// Covers each plate box (grown by `margin` of its size) with a coarse pixelation. Fails
// closed: a box that cannot be pixelated is filled black.
void mask_plates(cv::Mat& bgr, const std::vector<cv::Rect2f>& plates, float margin = 0.1f);

// The area a plate's mask covers, before `margin`: the box together with its corner quad, and
// at least as tall as half its width (a US plate's shape), grown downward. Why: the plate
// model often boxes only the band above the characters (a state name, "WASHINGTON, DC") and
// the characters below must not stay readable; the extra height on a correctly boxed wide
// plate only hides more bumper.
cv::Rect2f plate_mask_region(const PlateDetection& plate);
// mask_plates over plate_mask_region of each plate.
void mask_plates(cv::Mat& bgr, const std::vector<PlateDetection>& plates, float margin = 0.1f);

// Plate mask coverage of one output image against its input (`alpr-eval --mask-coverage`).
struct PlateMaskCoverageOptions {
  int changed_level = 6;      // a pixel is masked when a channel changed by more than this
  int collateral_level = 40;  // collateral: pixels away from the plates changed by more
  float zone_padding = 0.5f;  // each labelled plate grown by this (half on each side) is "plate"
};
struct PlateMaskCoverage {
  std::vector<double> masked;  // per labelled plate: share of its box's pixels that changed
  double collateral = 0;       // share of the pixels outside the plate zones that changed
};
PlateMaskCoverage plate_mask_coverage(const cv::Mat& before, const cv::Mat& after,
                                      const std::vector<cv::Rect>& plates,
                                      const PlateMaskCoverageOptions& options = {});

}  // namespace ev
