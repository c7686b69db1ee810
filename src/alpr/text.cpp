// Text-level ALPR rules: OCR output decoders, per-region formats, voting, throttling and
// known-plate matching. No images here, so all of it is testable on hand-made sequences.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <numeric>

#include <yaml-cpp/yaml.h>

#include "edgevision/alpr.hpp"

namespace ev {
namespace {

bool plate_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
}

// One OCR class's text that belongs on a plate: a digit or capital A-Z, or one letter of a
// script that national plates use (PaddleOCR's dictionary has them; its symbols, dots and
// dashes are not plate characters).
bool plate_symbol(const std::string& s) {
  if (s.size() == 1) return plate_char(s[0]);
  const auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(s[i])); };
  uint32_t cp = 0;
  if (s.size() == 2 && (b(0) & 0xE0) == 0xC0)
    cp = ((b(0) & 0x1F) << 6) | (b(1) & 0x3F);
  else if (s.size() == 3 && (b(0) & 0xF0) == 0xE0)
    cp = ((b(0) & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
  else
    return false;
  const auto in = [cp](uint32_t lo, uint32_t hi) { return cp >= lo && cp <= hi; };
  return (in(0xC0, 0x24F) && cp != 0xD7 && cp != 0xF7) ||  // Latin with diacritics (Ö, Ü, Ş)
         in(0x370, 0x3FF) ||                               // Greek
         in(0x400, 0x4FF) ||                               // Cyrillic
         in(0x590, 0x5FF) ||                               // Hebrew
         in(0x600, 0x6FF) ||                               // Arabic (and its digits)
         in(0x900, 0x97F) ||                               // Devanagari
         in(0xE00, 0xE7F) ||                               // Thai
         in(0x3040, 0x30FF) ||                             // Japanese kana
         in(0x4E00, 0x9FFF) ||                             // CJK ideographs (provinces)
         in(0xAC00, 0xD7AF);                               // Hangul
}

float mean_of(const std::vector<float>& v) {
  if (v.empty()) return 0.f;
  return std::accumulate(v.begin(), v.end(), 0.f) / static_cast<float>(v.size());
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Decoders
// ---------------------------------------------------------------------------------------

Result<CctConfig> parse_cct_config(const std::string& yaml_text) {
  CctConfig c;
  try {
    YAML::Node n = YAML::Load(yaml_text);
    if (!n.IsMap()) return Result<CctConfig>::Error("plate config: expected a YAML mapping");
    if (n["max_plate_slots"]) c.max_plate_slots = n["max_plate_slots"].as<int>();
    if (n["alphabet"]) c.alphabet = n["alphabet"].as<std::string>();
    if (n["pad_char"]) {
      const auto pad = n["pad_char"].as<std::string>();
      if (pad.size() != 1) return Result<CctConfig>::Error("plate config: pad_char must be 1 char");
      c.pad_char = pad[0];
    }
    if (n["img_height"]) c.img_height = n["img_height"].as<int>();
    if (n["img_width"]) c.img_width = n["img_width"].as<int>();
  } catch (const YAML::Exception& e) {
    return Result<CctConfig>::Error(std::string("plate config: ") + e.what());
  }
  if (c.max_plate_slots < 1 || c.max_plate_slots > 64 || c.alphabet.empty() || c.img_height < 8 ||
      c.img_width < 8 || c.alphabet.find(c.pad_char) == std::string::npos)
    return Result<CctConfig>::Error(
        "plate config: needs 1..64 slots, an alphabet that contains pad_char and a size >= 8");
  return c;
}

OcrResult decode_cct(const float* probs, int slots, const CctConfig& config) {
  OcrResult r;
  const int classes = static_cast<int>(config.alphabet.size());
  for (int s = 0; s < slots; ++s) {
    const float* p = probs + static_cast<size_t>(s) * classes;
    const int best = static_cast<int>(std::max_element(p, p + classes) - p);
    const char c = config.alphabet[best];
    if (c == config.pad_char || !plate_char(c)) continue;
    r.text.push_back(c);
    r.char_conf.push_back(p[best]);
  }
  r.confidence = mean_of(r.char_conf);
  return r;
}

OcrResult decode_ctc(const float* scores, int steps, int classes,
                     const std::vector<std::string>& charset, int blank) {
  OcrResult r;
  int prev = -1;
  for (int t = 0; t < steps; ++t) {
    const float* p = scores + static_cast<size_t>(t) * classes;
    const int best = static_cast<int>(std::max_element(p, p + classes) - p);
    // Scores may be logits: a softmax gives a probability comparable with other engines.
    float denom = 0.f;
    for (int k = 0; k < classes; ++k) denom += std::exp(p[k] - p[best]);
    const float prob = 1.f / denom;
    if (best != blank && best != prev && best < static_cast<int>(charset.size())) {
      const std::string& s = charset[best];
      if (!s.empty() && plate_symbol(s)) {
        r.text += s;
        r.char_conf.push_back(prob);
      }
    }
    prev = best;
  }
  r.confidence = mean_of(r.char_conf);
  return r;
}

// ---------------------------------------------------------------------------------------
// Region formats
// ---------------------------------------------------------------------------------------

namespace {

const std::map<std::string, std::vector<std::string>>& pattern_table() {
  static const std::map<std::string, std::vector<std::string>> table = {
      // Brazil: old grey plates LLL-9999 and Mercosul LLL9L99.
      {"br", {"AAA9999", "AAA9A99"}},
      // The Netherlands: the sidecodes in use (dashes dropped).
      {"nl",
       {"AA9999", "9999AA", "99AA99", "AA99AA", "AAAA99", "99AAAA", "99AAA9", "9AAA99", "AA999A",
        "A999AA", "AAA99A", "A99AAA", "9AA999", "999AA9"}},
      // Europe, common national layouts (IT/HR/FR-style LL999LL, PL, CZ-like); vanity plates
      // that match none are left as read.
      {"eu", {"AA999AA", "AA9999AA", "AA99999", "AAA9999", "AAA99AA", "AA9999A"}},
      // USA: the frequent passenger layouts (CA 9LLL999, NY/TX LLL9999, older LLL999/999LLL).
      {"us", {"9AAA999", "AAA9999", "AAA999", "999AAA", "9AA9999"}},
  };
  return table;
}

bool matches(const std::string& text, const std::string& pattern) {
  if (text.size() != pattern.size()) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    const bool digit = text[i] >= '0' && text[i] <= '9';
    if (pattern[i] == 'A' && digit) return false;
    if (pattern[i] == '9' && !digit) return false;
  }
  return true;
}

// The letter a digit is confused with and back ('\0' = none).
char to_letter(char d) {
  switch (d) {
    case '0':
      return 'O';
    case '1':
      return 'I';
    case '2':
      return 'Z';
    case '4':
      return 'A';
    case '5':
      return 'S';
    case '6':
      return 'G';
    case '7':
      return 'T';
    case '8':
      return 'B';
    default:
      return '\0';
  }
}
char to_digit(char l) {
  switch (l) {
    case 'O':
      return '0';
    case 'Q':
      return '0';
    case 'D':
      return '0';
    case 'I':
      return '1';
    case 'Z':
      return '2';
    case 'A':
      return '4';
    case 'S':
      return '5';
    case 'G':
      return '6';
    case 'T':
      return '7';
    case 'B':
      return '8';
    default:
      return '\0';
  }
}

constexpr int kMaxCorrections = 2;

}  // namespace

const std::vector<std::string>& region_patterns(const std::string& region) {
  static const std::vector<std::string> none;
  auto it = pattern_table().find(region);
  return it == pattern_table().end() ? none : it->second;
}

std::vector<std::string> known_regions() {
  std::vector<std::string> out;
  for (const auto& [k, v] : pattern_table()) out.push_back(k);
  return out;
}

FormatResult apply_region_format(const std::string& text, const std::vector<float>& char_conf,
                                 const std::string& region) {
  FormatResult best{text, false, 0};
  // The region patterns are Latin; a text with other characters is left as read.
  if (std::any_of(text.begin(), text.end(), [](char c) { return (c & 0x80) != 0; })) return best;
  const auto& patterns = region_patterns(region);
  for (const auto& p : patterns)
    if (matches(text, p)) {
      best.matched = true;
      return best;
    }
  // Nearest reachable pattern: fewest swaps, then the least confident characters swapped.
  double best_cost = 1e9;
  for (const auto& p : patterns) {
    if (p.size() != text.size()) continue;
    std::string fixed = text;
    int swaps = 0;
    double cost = 0;
    bool ok = true;
    for (size_t i = 0; i < text.size() && ok; ++i) {
      const bool digit = text[i] >= '0' && text[i] <= '9';
      char repl = '\0';
      if (p[i] == 'A' && digit)
        repl = to_letter(text[i]);
      else if (p[i] == '9' && !digit)
        repl = to_digit(text[i]);
      else
        continue;
      if (repl == '\0') ok = false;
      fixed[i] = repl;
      ++swaps;
      cost += 1.0 + (i < char_conf.size() ? char_conf[i] : 1.0);
    }
    if (!ok || swaps > kMaxCorrections) continue;
    if (cost < best_cost) {
      best_cost = cost;
      best = {fixed, true, swaps};
    }
  }
  return best;
}

// ---------------------------------------------------------------------------------------
// Voting
// ---------------------------------------------------------------------------------------

std::vector<std::string> plate_chars(const std::string& text) {
  std::vector<std::string> out;
  for (size_t i = 0; i < text.size();) {
    const auto lead = static_cast<unsigned char>(text[i]);
    size_t len = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    len = std::min(len, text.size() - i);
    out.push_back(text.substr(i, len));
    i += len;
  }
  return out;
}

int edit_distance(const std::string& a_text, const std::string& b_text) {
  const auto a = plate_chars(a_text), b = plate_chars(b_text);
  std::vector<int> prev(b.size() + 1), cur(b.size() + 1);
  std::iota(prev.begin(), prev.end(), 0);
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = static_cast<int>(i);
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

double string_similarity(const std::string& a, const std::string& b) {
  const size_t n = std::max(plate_chars(a).size(), plate_chars(b).size());
  if (n == 0) return 1.0;
  return 1.0 - static_cast<double>(edit_distance(a, b)) / static_cast<double>(n);
}

void PlateVote::add(const OcrResult& read) {
  if (read.text.empty()) return;
  reads_.push_back(read);
  while (static_cast<int>(reads_.size()) > std::max(1, params_.history)) reads_.pop_front();
  if (read.confidence >= params_.confidence_target) confident_read_ = true;
}

VotedPlate PlateVote::result() const {
  VotedPlate out;
  if (reads_.empty()) return out;
  // Single-linkage grouping: a read joins the first group holding a similar enough read.
  std::vector<std::vector<const OcrResult*>> groups;
  for (const auto& r : reads_) {
    bool placed = false;
    for (auto& g : groups) {
      for (auto* m : g)
        if (string_similarity(m->text, r.text) >= params_.similarity) {
          placed = true;
          break;
        }
      if (placed) {
        g.push_back(&r);
        break;
      }
    }
    if (!placed) groups.push_back({&r});
  }
  auto weight = [](const std::vector<const OcrResult*>& g) {
    double w = 0;
    for (auto* r : g) w += r->confidence;
    return w;
  };
  const auto& best = *std::max_element(groups.begin(), groups.end(), [&](auto& a, auto& b) {
    if (a.size() != b.size()) return a.size() < b.size();
    return weight(a) < weight(b);
  });
  // Most common length in the group (ties: the longer, since a dropped character is the
  // commoner OCR failure than an invented one).
  // Voted per character (a UTF-8 character, not a byte).
  // chars[k] is best[k]'s text split into characters.
  std::vector<std::vector<std::string>> chars;
  chars.reserve(best.size());
  for (auto* r : best) chars.push_back(plate_chars(r->text));
  std::map<size_t, double> lengths;
  for (size_t k = 0; k < best.size(); ++k)
    lengths[chars[k].size()] += 1.0 + best[k]->confidence * 1e-3;
  const size_t len = std::max_element(lengths.begin(), lengths.end(), [](auto& a, auto& b) {
                       return a.second < b.second || (a.second == b.second && a.first < b.first);
                     })->first;
  std::string text;
  double conf_sum = 0;
  for (size_t i = 0; i < len; ++i) {
    std::map<std::string, double> votes;
    double total = 0;
    for (size_t k = 0; k < best.size(); ++k) {
      if (chars[k].size() != len) continue;
      const auto& conf = best[k]->char_conf;
      const double w = i < conf.size() ? std::max(1e-3f, conf[i]) : 0.5;
      votes[chars[k][i]] += w;
      total += w;
    }
    auto win = std::max_element(votes.begin(), votes.end(),
                                [](auto& a, auto& b) { return a.second < b.second; });
    text += win->first;
    conf_sum += total > 0 ? win->second / total : 0;
  }
  double read_conf = 0;
  int n_len = 0;
  for (size_t k = 0; k < best.size(); ++k)
    if (chars[k].size() == len) {
      read_conf += best[k]->confidence;
      ++n_len;
    }
  out.text = text;
  // Agreement across reads times how sure each read was.
  out.confidence =
      static_cast<float>((conf_sum / static_cast<double>(len)) * (n_len ? read_conf / n_len : 0.0));
  out.reads = static_cast<int>(best.size());
  for (auto* r : best) out.agreeing += r->text == text;
  return out;
}

OcrResult combine_reads(const std::vector<OcrResult>& reads, double similarity) {
  if (reads.size() == 1) return reads.front();
  VoteParams vp;
  vp.history = static_cast<int>(std::max<size_t>(1, reads.size()));
  vp.similarity = similarity;
  PlateVote vote(vp);
  for (const auto& r : reads) vote.add(r);
  const VotedPlate v = vote.result();
  OcrResult out;
  out.text = v.text;
  out.confidence = v.confidence;
  const auto voted = plate_chars(v.text);
  // The reads of the voted text's length and group, split once.
  std::vector<std::pair<const OcrResult*, std::vector<std::string>>> peers;
  for (const auto& r : reads) {
    auto rc = plate_chars(r.text);
    if (rc.size() == voted.size() && string_similarity(r.text, v.text) >= similarity)
      peers.emplace_back(&r, std::move(rc));
  }
  for (size_t i = 0; i < voted.size(); ++i) {
    double sum = 0;
    int agree = 0;
    for (const auto& [r, rc] : peers) {
      if (rc[i] != voted[i]) continue;
      ++agree;
      sum += i < r->char_conf.size() ? r->char_conf[i] : r->confidence;
    }
    const auto same_len = static_cast<double>(peers.size());
    out.char_conf.push_back(agree ? static_cast<float>(sum / agree * agree / same_len) : 0.f);
  }
  return out;
}

bool PlateVote::settled() const {
  if (reads_.empty()) return false;
  if (confident_read_) return true;
  return result().agreeing >= params_.agree_k;
}

// ---------------------------------------------------------------------------------------
// Throttling
// ---------------------------------------------------------------------------------------

const char* to_string(ReadDecision d) {
  switch (d) {
    case ReadDecision::kRead:
      return "read";
    case ReadDecision::kTooSmall:
      return "too_small";
    case ReadDecision::kSettled:
      return "settled";
    case ReadDecision::kStill:
      return "still";
    case ReadDecision::kCapped:
      return "capped";
  }
  return "?";
}

ReadDecision should_read(const TrackReadState& state, const ThrottleParams& params, float area,
                         cv::Point2f centre, float frame_diagonal) {
  if (area < params.min_plate_area) return ReadDecision::kTooSmall;
  if (!params.enabled) return ReadDecision::kRead;
  if (state.ocr_calls >= params.max_reads) return ReadDecision::kCapped;
  if (state.vote.settled()) {
    // A plate that came much closer is worth another look even when settled.
    if (state.area_at_settle > 0.f && area >= state.area_at_settle * params.regrow)
      return ReadDecision::kRead;
    return ReadDecision::kSettled;
  }
  if (params.moving_only && state.ocr_calls > 0 && state.last_read_centre.x >= 0.f) {
    const cv::Point2f d = centre - state.last_read_centre;
    if (std::hypot(d.x, d.y) < params.still_px * frame_diagonal) return ReadDecision::kStill;
  }
  return ReadDecision::kRead;
}

// ---------------------------------------------------------------------------------------
// Known plates
// ---------------------------------------------------------------------------------------

std::string match_known_plate(const KnownPlates& known, const std::string& text) {
  if (text.empty()) return "";
  auto near = [&](const std::vector<std::string>& list) {
    for (const auto& p : list)
      if (edit_distance(p, text) <= 1) return true;
    return false;
  };
  if (near(known.deny)) return "deny";
  if (near(known.allow)) return "allow";
  return "";
}

}  // namespace ev
