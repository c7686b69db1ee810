// Decoders, region formats, voting, throttling and known plates on hand-made inputs.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "edgevision/alpr.hpp"
#include "support/test_support.hpp"

namespace ev {
namespace {

// One slot row of the CCT output: `c` gets probability p, the rest share 1-p.
void set_slot(std::vector<float>& probs, int slot, const CctConfig& cfg, char c, float p) {
  const int n = static_cast<int>(cfg.alphabet.size());
  for (int k = 0; k < n; ++k) probs[slot * n + k] = (1.f - p) / (n - 1);
  probs[slot * n + static_cast<int>(cfg.alphabet.find(c))] = p;
}

TEST(CctDecoder, ArgmaxPerSlotDropsPadding) {
  CctConfig cfg;
  std::vector<float> probs(cfg.max_plate_slots * cfg.alphabet.size());
  const std::string slots = "AB123CD__";
  for (int s = 0; s < 9; ++s) set_slot(probs, s, cfg, slots[s], s == 3 ? 0.6f : 0.9f);
  const OcrResult r = decode_cct(probs.data(), 9, cfg);
  EXPECT_EQ(r.text, "AB123CD");
  ASSERT_EQ(r.char_conf.size(), 7u);
  EXPECT_FLOAT_EQ(r.char_conf[3], 0.6f);
  EXPECT_NEAR(r.confidence, (6 * 0.9f + 0.6f) / 7, 1e-5);
}

TEST(CctDecoder, PaddingInsideIsSkippedAndEmptyReadHasZeroConfidence) {
  CctConfig cfg;
  std::vector<float> probs(9 * cfg.alphabet.size());
  for (int s = 0; s < 9; ++s) set_slot(probs, s, cfg, '_', 0.99f);
  EXPECT_EQ(decode_cct(probs.data(), 9, cfg).text, "");
  EXPECT_EQ(decode_cct(probs.data(), 9, cfg).confidence, 0.f);
  set_slot(probs, 4, cfg, 'Z', 0.7f);
  EXPECT_EQ(decode_cct(probs.data(), 9, cfg).text, "Z");
}

TEST(CctConfig, ParsesTheSharedPlateConfig) {
  std::ifstream f(test::shared_models_dir() / "ocr" / "cct_xs_v1_global_plate_config.yaml");
  ASSERT_TRUE(f) << "missing shared asset ocr/cct_xs_v1_global_plate_config.yaml";
  std::stringstream ss;
  ss << f.rdbuf();
  auto c = parse_cct_config(ss.str());
  ASSERT_TRUE(c) << c.error();
  EXPECT_EQ(c->max_plate_slots, 9);
  EXPECT_EQ(c->alphabet.size(), 37u);
  EXPECT_EQ(c->pad_char, '_');
  EXPECT_EQ(c->img_width, 128);
  EXPECT_EQ(c->img_height, 64);
  EXPECT_FALSE(parse_cct_config("alphabet: 'ABC'\npad_char: '_'\n"));  // pad not in alphabet
  EXPECT_FALSE(parse_cct_config("[1, 2"));
}

// CTC logits with one clear winner per step (`path`: the class index at each step).
OcrResult decode_path(const std::vector<int>& path, const std::vector<std::string>& charset) {
  const int classes = static_cast<int>(charset.size());
  std::vector<float> scores(path.size() * classes, -5.f);
  for (size_t t = 0; t < path.size(); ++t) scores[t * classes + path[t]] = 5.f;
  return decode_ctc(scores.data(), static_cast<int>(path.size()), classes, charset, 0);
}

TEST(CtcDecoder, CollapsesRepeatsAndDropsBlanks) {
  const std::vector<std::string> charset = {"#", "A", "B", "1", "2", "京"};
  // steps: A A # A B B # 1 京 2 2  -> "A", "A" (after blank), "B", "1", "京", "2"
  const std::vector<int> path = {1, 1, 0, 1, 2, 2, 0, 3, 5, 4, 4};
  const OcrResult r = decode_path(path, charset);
  EXPECT_EQ(r.text, "AAB1京2");  // a Chinese province character is kept, one confidence each
  ASSERT_EQ(r.char_conf.size(), 6u);
  for (float c : r.char_conf) EXPECT_GT(c, 0.99f);  // softmax of a clear winner
}

TEST(RegionFormat, ResolvesConfusablesTowardsTheRegionLayout) {
  // Brazil LLL9999: O read as 0 in a letter slot, S read as 5... in a digit slot the other way.
  EXPECT_EQ(apply_region_format("0CX4764", {0.5f, .9f, .9f, .9f, .9f, .9f, .9f}, "br").text,
            "OCX4764");
  EXPECT_EQ(apply_region_format("HPM93S2", {.9f, .9f, .9f, .9f, .9f, .4f, .9f}, "br").text,
            "HPM9352");
  // Netherlands sidecode XX-XX-99: 5 read for S.
  auto nl = apply_region_format("X5NB23", {.9f, .5f, .9f, .9f, .9f, .9f}, "nl");
  EXPECT_EQ(nl.text, "XSNB23");
  EXPECT_TRUE(nl.matched);
  EXPECT_EQ(nl.corrections, 1);
  // Croatia/Italy LL999LL: 8 for B and I for 1.
  EXPECT_EQ(apply_region_format("RK7I5A8", {.9f, .9f, .9f, .3f, .9f, .9f, .3f}, "eu").text,
            "RK715AB");
  // Already valid: untouched.
  auto ok = apply_region_format("RK755AJ", {}, "eu");
  EXPECT_TRUE(ok.matched);
  EXPECT_EQ(ok.corrections, 0);
  // Not reachable (M is not confusable) or too many swaps: left as read.
  EXPECT_EQ(apply_region_format("BIMMIAN", {}, "eu").text, "BIMMIAN");
  EXPECT_FALSE(apply_region_format("BIMMIAN", {}, "eu").matched);
  EXPECT_EQ(apply_region_format("1234567", {}, "br").text, "1234567");
  // Unknown region: no rules.
  EXPECT_EQ(apply_region_format("0CX4764", {}, "xx").text, "0CX4764");
  EXPECT_TRUE(region_patterns("xx").empty());
}

TEST(RegionFormat, PicksTheReachablePattern) {
  // "8B5123": us AAA999 is reachable (8->B, 5->S); 999AAA is not (3 has no letter twin).
  EXPECT_EQ(apply_region_format("8B5123", {.2f, .9f, .9f, .9f, .9f, .9f}, "us").text, "BBS123");
}

OcrResult read(const std::string& text, float conf) {
  return {text, std::vector<float>(text.size(), conf), conf};
}

TEST(PlateVote, BiggestSimilarGroupWinsWithCharacterVoting) {
  PlateVote v({10, 0.7, 3, 0.99f});
  v.add(read("AB123CD", 0.9f));
  v.add(read("A8123CD", 0.6f));  // one confusable error, same group
  v.add(read("AB123CO", 0.7f));
  v.add(read("VANLETTERING", 0.95f));  // another string entirely (van lettering)
  v.add(read("AB123CD", 0.8f));
  const VotedPlate p = v.result();
  EXPECT_EQ(p.text, "AB123CD");
  EXPECT_EQ(p.reads, 4);
  EXPECT_EQ(p.agreeing, 2);
  EXPECT_GT(p.confidence, 0.5f);
  EXPECT_LT(p.confidence, 0.9f);
  EXPECT_FALSE(v.settled());  // 2 agreeing < K=3, no read above 0.99
  v.add(read("AB123CD", 0.85f));
  EXPECT_TRUE(v.settled());
}

// Lowercase and punctuation from a general OCR dictionary are not plate characters.
TEST(CtcDecoder, KeepsNonLatinLettersDropsLowercaseAndPunctuation) {
  const std::vector<std::string> charset = {"#", "a", "-", "Ж", "7", "·"};
  const std::vector<int> path = {1, 2, 3, 0, 4, 5};
  const OcrResult r = decode_path(path, charset);
  EXPECT_EQ(r.text, "Ж7");  // the middle dot is a symbol, not a letter
  EXPECT_EQ(r.char_conf.size(), 2u);
}

TEST(PlateVote, VotesPerUtf8CharacterNotPerByte) {
  EXPECT_EQ(plate_chars("京A12"), (std::vector<std::string>{"京", "A", "1", "2"}));
  EXPECT_EQ(edit_distance("京A123", "沪A123"), 1);  // one character, three bytes
  EXPECT_EQ(edit_distance("京A123", "京A123"), 0);
  auto utf8_read = [](const std::string& text, float conf) {
    return OcrResult{text, std::vector<float>(plate_chars(text).size(), conf), conf};
  };
  PlateVote v;
  v.add(utf8_read("京A12345", 0.8f));
  v.add(utf8_read("沪A12345", 0.5f));  // the province misread once
  v.add(utf8_read("京A12845", 0.6f));
  v.add(utf8_read("京A12345", 0.7f));
  const VotedPlate p = v.result();
  EXPECT_EQ(p.text, "京A12345");
  EXPECT_EQ(p.reads, 4);
  EXPECT_EQ(p.agreeing, 2);
  const OcrResult c = combine_reads(
      {utf8_read("京A123", 0.9f), utf8_read("京A128", 0.4f), utf8_read("京A123", 0.8f)}, 0.6);
  EXPECT_EQ(c.text, "京A123");
  EXPECT_EQ(c.char_conf.size(), 5u);
  // Latin region rules leave a non-Latin plate as it was read.
  EXPECT_EQ(apply_region_format("京A12345", std::vector<float>(7, 0.9f), "eu").text, "京A12345");
}

TEST(PlateVote, CharacterLevelVoteBeatsEveryWholeRead) {
  // No read is right, but each position is right in most reads.
  PlateVote v;
  v.add(read("XB123CD", 0.8f));
  v.add(read("AX123CD", 0.8f));
  v.add(read("ABX23CD", 0.8f));
  v.add(read("AB1X3CD", 0.8f));
  v.add(read("AB12XCD", 0.8f));
  EXPECT_EQ(v.result().text, "AB123CD");
  EXPECT_EQ(v.result().reads, 5);
  EXPECT_EQ(v.result().agreeing, 0);
}

TEST(PlateVote, ConfidenceWeightsTheCharacters) {
  PlateVote v;
  OcrResult a = read("RK026AJ", 0.9f), b = read("RKO26AJ", 0.9f), c = read("RKO26AJ", 0.9f);
  a.char_conf[2] = 0.99f;
  b.char_conf[2] = 0.3f;
  c.char_conf[2] = 0.3f;
  v.add(a);
  v.add(b);
  v.add(c);
  EXPECT_EQ(v.result().text, "RK026AJ");  // one sure 0 outweighs two unsure O's
  EXPECT_EQ(v.result().reads, 3);
}

TEST(PlateVote, ModalLengthAndBoundedHistory) {
  PlateVote v({3, 0.6, 3, 0.99f});
  v.add(read("AB1234", 0.9f));
  v.add(read("AB123", 0.9f));  // dropped character
  v.add(read("AB1234", 0.9f));
  EXPECT_EQ(v.result().text, "AB1234");
  for (int i = 0; i < 3; ++i) v.add(read("ZZ9", 0.9f));
  EXPECT_EQ(v.size(), 3u);
  EXPECT_EQ(v.result().text, "ZZ9");
  PlateVote empty;
  EXPECT_EQ(empty.result().text, "");
  empty.add(read("", 0.f));
  EXPECT_EQ(empty.size(), 0u);
}

TEST(CombineReads, CropVariantsAreVotedPerCharacter) {
  // Three cuts of one plate: the tight one lost the top of the E (read F), the wider two agree.
  OcrResult tight = read("FA76913", 0.8f), wide = read("EAZ6913", 0.99f),
            box = read("EAZ6913", 0.95f);
  const OcrResult r = combine_reads({tight, wide, box});
  EXPECT_EQ(r.text, "EAZ6913");
  ASSERT_EQ(r.char_conf.size(), 7u);
  // Characters all three agree on keep their confidence; a disputed one is discounted by the
  // share of reads that agree.
  EXPECT_NEAR(r.char_conf[3], (0.8f + 0.99f + 0.95f) / 3, 1e-5);
  EXPECT_NEAR(r.char_conf[0], (0.99f + 0.95f) / 2 * 2 / 3, 1e-5);
  EXPECT_GT(r.confidence, 0.5f);
  EXPECT_LT(r.confidence, 0.99f);
  // One read is returned as it is; an unrelated string in the minority is outvoted.
  EXPECT_EQ(combine_reads({tight}).text, "FA76913");
  EXPECT_EQ(combine_reads({read("WASHINGTON", 0.99f), wide, box}).text, "EAZ6913");
  EXPECT_EQ(combine_reads({}).text, "");
}

TEST(PlateVote, OneVeryConfidentReadSettles) {
  PlateVote v({10, 0.7, 3, 0.95f});
  v.add(read("AB123", 0.97f));
  EXPECT_TRUE(v.settled());
}

TEST(Throttle, SyntheticTrackReadsUntilSettledThenOnlyWhenItGrows) {
  ThrottleParams tp;
  tp.moving_only = false;
  TrackReadState st(VoteParams{10, 0.7, 3, 0.99f});
  int calls = 0;
  float area = 1200.f;
  for (int frame = 0; frame < 100; ++frame) {
    if (frame == 60) area = 1900.f;  // the car came closer: 1.58x
    const ReadDecision d = should_read(st, tp, area, {100.f + frame, 100.f}, 1000.f);
    if (d != ReadDecision::kRead) continue;
    ++calls;
    const bool was = st.vote.settled();
    st.vote.add(read("AB123", 0.9f));
    ++st.ocr_calls;
    if (st.vote.settled() && (!was || area > st.area_at_settle)) st.area_at_settle = area;
  }
  EXPECT_EQ(calls, 4);  // 3 to settle, 1 more after the plate grew
  EXPECT_EQ(should_read(st, tp, 1900.f, {0, 0}, 1000.f), ReadDecision::kSettled);
  EXPECT_EQ(should_read(st, tp, 500.f, {0, 0}, 1000.f), ReadDecision::kTooSmall);
  tp.enabled = false;
  EXPECT_EQ(should_read(st, tp, 1900.f, {0, 0}, 1000.f), ReadDecision::kRead);
  EXPECT_EQ(should_read(st, tp, 500.f, {0, 0}, 1000.f), ReadDecision::kTooSmall);
}

TEST(Throttle, StillVehiclesAreReadOnceAndAgainWhenTheyMove) {
  ThrottleParams tp;  // moving_only by default
  TrackReadState st(VoteParams{10, 0.7, 3, 0.99f});
  const cv::Point2f c(500, 300);
  EXPECT_EQ(should_read(st, tp, 2000.f, c, 1000.f), ReadDecision::kRead);
  st.vote.add(read("AB123", 0.8f));
  ++st.ocr_calls;
  st.last_read_centre = c;
  EXPECT_EQ(should_read(st, tp, 2000.f, c + cv::Point2f(5, 0), 1000.f), ReadDecision::kStill);
  EXPECT_EQ(should_read(st, tp, 2000.f, c + cv::Point2f(40, 0), 1000.f), ReadDecision::kRead);
  tp.max_reads = 1;
  EXPECT_EQ(should_read(st, tp, 2000.f, c + cv::Point2f(40, 0), 1000.f), ReadDecision::kCapped);
}

TEST(KnownPlates, ExactAndWithinOneCharacter) {
  KnownPlates k{{"AB123CD", "XY99"}, {"BAD666"}};
  EXPECT_EQ(match_known_plate(k, "AB123CD"), "allow");
  EXPECT_EQ(match_known_plate(k, "AB128CD"), "allow");  // one substitution
  EXPECT_EQ(match_known_plate(k, "AB123C"), "allow");   // one dropped
  EXPECT_EQ(match_known_plate(k, "AB12XXD"), "");
  EXPECT_EQ(match_known_plate(k, "BAD66"), "deny");
  EXPECT_EQ(match_known_plate(k, ""), "");
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3);
  EXPECT_DOUBLE_EQ(string_similarity("ABCD", "ABCE"), 0.75);
}

}  // namespace
}  // namespace ev
