// The dashboard's operator endpoints against a fake ServiceView: a camera's zones/lines with
// counts, the bounded ring of anonymized event images, reconnects in /cameras, and saving the
// zone editor's shapes into a real config file.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "edgevision/config.hpp"
#include "edgevision/config_edit.hpp"
#include "edgevision/server.hpp"
#include "server/event_images.hpp"
#include "server/fake_service.hpp"
#include "support/test_support.hpp"

namespace ev {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kToken = "operator-endpoints-token";

template <typename F>
bool wait_for(F pred, std::chrono::milliseconds limit = 5000ms) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

// A dark 320x180 frame with a bright red block at (200,60)-(240,120): where the event's box is
// (in full-frame pixels, 100 px right of the camera's roi origin).
std::vector<uint8_t> frame_with_block() {
  cv::Mat img(180, 320, CV_8UC3, cv::Scalar(20, 20, 20));
  cv::rectangle(img, cv::Rect(200, 60, 40, 60), cv::Scalar(0, 0, 255), cv::FILLED);
  std::vector<uint8_t> out;
  cv::imencode(".jpg", img, out, {cv::IMWRITE_JPEG_QUALITY, 95});
  return out;
}

json scene_with_roi() {
  return {
      {"roi", {100, 0, 320, 180}},
      {"zones",
       {{{"name", "bay"}, {"polygon", {{110, 10}, {300, 10}, {300, 170}}}, {"occupancy", 2}}}},
      {"lines", {{{"name", "door"}, {"points", {{150, 0}, {150, 180}}}, {"in", 4}, {"out", 1}}}}};
}

class OperatorEndpoints : public ::testing::Test {
 protected:
  void start(bool token = true, size_t images = 200) {
    ServerParams p;
    p.port = 0;
    if (token) p.token = kToken;
    p.event_images = images;
    auto s = Server::start(p, service_);
    ASSERT_TRUE(s.ok()) << s.error();
    server_ = std::move(*s);
  }
  httplib::Client client(bool with_token = true) {
    httplib::Client c("127.0.0.1", server_->port());
    c.set_connection_timeout(2);
    c.set_read_timeout(5);
    if (with_token) c.set_bearer_token_auth(kToken);
    return c;
  }
  test::FakeService service_;
  std::unique_ptr<Server> server_;
};

TEST_F(OperatorEndpoints, SceneListsZonesLinesAndCounts) {
  service_.set_scene("front-door", scene_with_roi());
  start();
  EXPECT_EQ(client(false).Get("/cameras/front-door/scene")->status, 401);
  auto r = client().Get("/cameras/front-door/scene");
  ASSERT_EQ(r->status, 200);
  const json s = json::parse(r->body);
  EXPECT_EQ(s["camera"], "front-door");
  EXPECT_EQ(s["roi"], json({100, 0, 320, 180}));
  ASSERT_EQ(s["zones"].size(), 1u);
  EXPECT_EQ(s["zones"][0]["occupancy"], 2);
  ASSERT_EQ(s["lines"].size(), 1u);
  EXPECT_EQ(s["lines"][0]["in"], 4);
  EXPECT_EQ(s["lines"][0]["out"], 1);
  // No editor set: the dashboard is told why it can only copy YAML.
  EXPECT_EQ(s["editable"], false);
  EXPECT_NE(s.value("not_editable", "").find("config file"), std::string::npos) << s.dump();
  // A camera without zones still answers, with empty lists; an unknown one is 404.
  auto empty = client().Get("/cameras/car-park/scene");
  ASSERT_EQ(empty->status, 200);
  EXPECT_TRUE(json::parse(empty->body)["zones"].empty());
  EXPECT_EQ(client().Get("/cameras/nope/scene")->status, 404);
}

TEST_F(OperatorEndpoints, CamerasCarryReconnects) {
  auto cams = service_.cameras();
  cams[1].state = "reconnecting";
  cams[1].reconnects = 7;
  service_.update_camera(cams[1]);
  start();
  auto r = client().Get("/cameras");
  ASSERT_EQ(r->status, 200);
  const json list = json::parse(r->body);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0]["reconnects"], 0);
  EXPECT_EQ(list[1]["reconnects"], 7);
}

TEST_F(OperatorEndpoints, EventThumbnailIsCutAroundTheBoxFromTheAnonymizedFrame) {
  service_.set_scene("front-door", scene_with_roi());
  const auto frame = frame_with_block();
  service_.set_snapshot("front-door", frame);
  start();
  // Box in full-frame pixels: the block at x=200 in the crop is x=300 in the frame.
  json e = {{"event_id", "front-door-1-1"},
            {"camera", "front-door"},
            {"type", "zone_enter"},
            {"box", {300, 60, 40, 60}}};
  service_.feed().publish(e);
  std::string thumb, type;
  ASSERT_TRUE(wait_for([&] {
    auto r = client().Get("/events/front-door-1-1/thumb.jpg");
    if (!r || r->status != 200) return false;
    thumb = r->body;
    type = r->get_header_value("Content-Type");
    return true;
  }));
  EXPECT_EQ(type, "image/jpeg");
  const cv::Mat t =
      cv::imdecode(std::vector<uint8_t>(thumb.begin(), thumb.end()), cv::IMREAD_COLOR);
  ASSERT_FALSE(t.empty());
  EXPECT_LE(t.cols, server_internal::EventImages::kThumbWidth);
  EXPECT_LE(t.rows, server_internal::EventImages::kThumbHeight);
  // The block fills the thumbnail's centre: red there, dark in the corner.
  const cv::Vec3b c = t.at<cv::Vec3b>(t.rows / 2, t.cols / 2);
  EXPECT_GT(c[2], 180) << "centre " << c;
  EXPECT_LT(c[1], 80) << "centre " << c;
  EXPECT_LT(t.at<cv::Vec3b>(1, 1)[2], 80);
  // The full frame is the camera's anonymized snapshot, byte for byte; /api/ alias too.
  auto full = client().Get("/events/front-door-1-1/snapshot.jpg");
  ASSERT_EQ(full->status, 200);
  EXPECT_EQ(std::vector<uint8_t>(full->body.begin(), full->body.end()), frame);
  EXPECT_EQ(client().Get("/api/events/front-door-1-1/snapshot.jpg")->status, 200);
  EXPECT_EQ(client(false).Get("/events/front-door-1-1/thumb.jpg")->status, 401);
  EXPECT_EQ(client(false).Get("/api/events/front-door-1-1/snapshot.jpg")->status, 401);
  EXPECT_EQ(client().Get("/events/unknown/thumb.jpg")->status, 404);
}

TEST_F(OperatorEndpoints, EventImagesAreABoundedRing) {
  service_.set_snapshot("front-door", test::synthetic_jpeg("front-door", 1));
  start(true, /*images=*/5);
  for (int i = 0; i < 12; ++i) {
    // A new frame every other event: neighbours share theirs.
    if (i % 2 == 0) service_.set_snapshot("front-door", test::synthetic_jpeg("front-door", i));
    service_.feed().publish(test::synthetic_event("front-door", i));
    std::this_thread::sleep_for(20ms);  // let the worker take each frame as it is
  }
  ASSERT_TRUE(wait_for([&] {
    auto r = client().Get("/events/front-door-t-11/thumb.jpg");
    return r && r->status == 200;
  }));
  for (int i = 0; i < 7; ++i)
    EXPECT_EQ(client().Get("/events/front-door-t-" + std::to_string(i) + "/thumb.jpg")->status, 404)
        << i;
  for (int i = 7; i < 12; ++i)
    EXPECT_EQ(client().Get("/events/front-door-t-" + std::to_string(i) + "/snapshot.jpg")->status,
              200)
        << i;
  // An event of a camera that has no frame yet gets no image (and nothing breaks).
  service_.feed().publish(test::synthetic_event("car-park", 50));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(client().Get("/events/car-park-t-50/thumb.jpg")->status, 404);
}

TEST(EventImages, ByteLimitEvictsOldestAndSharedFramesCountOnce) {
  test::FakeService service;
  server_internal::EventImages images(service, 100, 1);  // 1 byte: only the newest survives
  images.start();
  service.set_snapshot("front-door", test::synthetic_jpeg("front-door", 3));
  for (int i = 0; i < 4; ++i) images.on_event(test::synthetic_event("front-door", i));
  images.flush();
  EXPECT_TRUE(images.thumbnail("front-door-t-3"));
  EXPECT_FALSE(images.thumbnail("front-door-t-0"));
  const auto st = images.stats();
  EXPECT_EQ(st.stored, 4u);
  EXPECT_EQ(st.kept, 1u);
  // The kept entry still accounts for its frame although older entries held it first, and for
  // its thumbnail once cut.
  EXPECT_EQ(st.bytes,
            images.thumbnail("front-door-t-3")->size() + images.frame("front-door-t-3")->size());

  server_internal::EventImages shared(service, 100, 64u << 20);
  shared.start();
  for (int i = 0; i < 4; ++i) shared.on_event(test::synthetic_event("front-door", i));
  shared.flush();
  size_t thumbs = 0;
  for (int i = 0; i < 4; ++i)
    thumbs += shared.thumbnail("front-door-t-" + std::to_string(i))->size();
  EXPECT_EQ(shared.frame("front-door-t-0"), shared.frame("front-door-t-3"));
  EXPECT_EQ(shared.stats().bytes, thumbs + shared.frame("front-door-t-0")->size());
}

// A thumbnail costs a decode and an encode: made when first asked for, then kept, so events
// nobody looks at cost nothing but their frame's bytes.
TEST(EventImages, ThumbnailsAreCutOnTheFirstRequestAndKept) {
  test::FakeService service;
  server_internal::EventImages images(service, 100, 64u << 20);
  images.start();
  service.set_snapshot("front-door", test::synthetic_jpeg("front-door", 1));
  for (int i = 0; i < 3; ++i) images.on_event(test::synthetic_event("front-door", i));
  images.flush();
  EXPECT_EQ(images.stats().stored, 3u);
  EXPECT_EQ(images.stats().thumbs, 0u);
  const size_t frame_only = images.stats().bytes;
  auto first = images.thumbnail("front-door-t-1");
  ASSERT_TRUE(first);
  EXPECT_FALSE(cv::imdecode(*first, cv::IMREAD_COLOR).empty());
  EXPECT_EQ(images.thumbnail("front-door-t-1"), first);  // kept, not cut again
  EXPECT_EQ(images.stats().thumbs, 1u);
  EXPECT_EQ(images.stats().bytes, frame_only + first->size());
  // Requests from several HTTP workers at once get one thumbnail each event, all the same.
  std::vector<std::thread> askers;
  std::vector<server_internal::EventImages::Bytes> got(6);
  for (size_t i = 0; i < got.size(); ++i)
    askers.emplace_back(
        [&, i] { got[i] = images.thumbnail("front-door-t-" + std::to_string(i % 3)); });
  for (auto& t : askers) t.join();
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_TRUE(got[i]) << i;
    EXPECT_EQ(got[i], images.thumbnail("front-door-t-" + std::to_string(i % 3))) << i;
  }
  EXPECT_EQ(images.stats().thumbs, 3u);
}

// A thumbnail cut later counts in the byte bound: entries sharing a frame hand its bytes on
// when the first goes, and a thumbnail that goes over the bound evicts the oldest entry.
TEST(EventImages, ThumbnailsCutLaterCountInTheByteBound) {
  test::FakeService service;
  service.set_snapshot("front-door", test::synthetic_jpeg("front-door", 1));
  size_t frame = 0, thumb0 = 0, thumb1 = 0;
  {
    server_internal::EventImages sizes(service, 10, 64u << 20);
    sizes.start();
    for (int i = 0; i < 2; ++i) sizes.on_event(test::synthetic_event("front-door", i));
    sizes.flush();
    frame = sizes.frame("front-door-t-0")->size();
    thumb0 = sizes.thumbnail("front-door-t-0")->size();
    thumb1 = sizes.thumbnail("front-door-t-1")->size();
  }
  {
    // Count bound: t-0 goes when t-2 arrives; t-1 then carries the frame and its thumbnail.
    server_internal::EventImages images(service, 2, 64u << 20);
    images.start();
    for (int i = 0; i < 2; ++i) images.on_event(test::synthetic_event("front-door", i));
    images.flush();
    ASSERT_TRUE(images.thumbnail("front-door-t-0"));
    ASSERT_TRUE(images.thumbnail("front-door-t-1"));
    EXPECT_EQ(images.stats().bytes, frame + thumb0 + thumb1);
    images.on_event(test::synthetic_event("front-door", 2));
    images.flush();
    EXPECT_FALSE(images.frame("front-door-t-0"));
    EXPECT_EQ(images.stats().kept, 2u);
    EXPECT_EQ(images.stats().bytes, frame + thumb1);
  }
  {
    // Byte bound: the second thumbnail takes the ring over it, so the oldest entry goes.
    server_internal::EventImages images(service, 10, frame + thumb0 + thumb1 - 1);
    images.start();
    for (int i = 0; i < 2; ++i) images.on_event(test::synthetic_event("front-door", i));
    images.flush();
    ASSERT_TRUE(images.thumbnail("front-door-t-0"));
    EXPECT_EQ(images.stats().kept, 2u);
    auto t1 = images.thumbnail("front-door-t-1");
    ASSERT_TRUE(t1);
    EXPECT_EQ(images.stats().kept, 1u);
    EXPECT_FALSE(images.thumbnail("front-door-t-0"));
    EXPECT_EQ(images.stats().bytes, frame + t1->size());
  }
}

// Thumbnails come from a reduced decode (a whole 720p frame at 1/8, a 410x308 box at 1/2) and
// must look like ones cut from the full decode; an undecodable frame gives none.
TEST(EventImages, ThumbnailFromAReducedDecodeMatchesAFullDecode) {
  // A real 720p camera frame: cars, lane markings, sky.
  cv::VideoCapture clip(test::data("video/highway_cars.mp4").string());
  cv::Mat frame;
  ASSERT_TRUE(clip.read(frame));
  ASSERT_EQ(frame.size(), cv::Size(1280, 720));
  std::vector<uint8_t> jpeg;
  ASSERT_TRUE(cv::imencode(".jpg", frame, jpeg, {cv::IMWRITE_JPEG_QUALITY, 90}));
  test::FakeService service;
  service.set_snapshot("front-door", jpeg);
  server_internal::EventImages images(service, 10, 64u << 20);
  images.start();
  nlohmann::json whole = test::synthetic_event("front-door", 0);
  whole.erase("box");  // no box: the whole frame
  nlohmann::json boxed = test::synthetic_event("front-door", 2);
  boxed["box"] = {521, 223, 260, 220};  // odd corners: the reduced crop rounds its edges
  images.on_event(whole);
  images.on_event(boxed);
  images.flush();
  const cv::Mat decoded = cv::imdecode(jpeg, cv::IMREAD_COLOR);
  const auto check = [&](const std::string& id, const cv::Rect& cut) {
    auto bytes = images.thumbnail(id);
    ASSERT_TRUE(bytes) << id;
    const cv::Mat thumb = cv::imdecode(*bytes, cv::IMREAD_COLOR);
    ASSERT_FALSE(thumb.empty()) << id;
    EXPECT_LE(thumb.cols, server_internal::EventImages::kThumbWidth) << id;
    EXPECT_LE(thumb.rows, server_internal::EventImages::kThumbHeight) << id;
    cv::Mat reference;
    cv::resize(decoded(cut), reference, thumb.size(), 0, 0, cv::INTER_AREA);
    // A cut one full-size pixel off scores ~25 dB on this frame, a right one 30-32.
    EXPECT_GT(cv::PSNR(thumb, reference), 29.0) << id;
  };
  check("front-door-t-0", cv::Rect(0, 0, 1280, 720));
  // The box with 20% around it at the thumbnail's 4:3: 364 wide, 308 tall -> 410.7 x 308.
  const cv::Rect2d want(521 + 130 - 410.67 / 2, 223 + 110 - 154, 410.67, 308);
  check("front-door-t-2", cv::Rect(static_cast<int>(want.x), static_cast<int>(want.y),
                                   static_cast<int>(want.width), static_cast<int>(want.height)));

  // A truncated frame: no thumbnail (asked twice: the second answer is remembered), the
  // worker carries on.
  service.set_snapshot("front-door", std::vector<uint8_t>(jpeg.begin(), jpeg.begin() + 2000));
  images.on_event(test::synthetic_event("front-door", 4));
  images.flush();
  const uint64_t cut = images.stats().thumbs;
  EXPECT_FALSE(images.thumbnail("front-door-t-4"));
  EXPECT_FALSE(images.thumbnail("front-door-t-4"));
  EXPECT_EQ(images.stats().thumbs, cut);
  EXPECT_EQ(images.stats().undecodable, 1u);    // the second request did not try again
  EXPECT_TRUE(images.frame("front-door-t-4"));  // the frame is kept as the pipeline gave it
  service.set_snapshot("front-door", jpeg);
  images.on_event(test::synthetic_event("front-door", 6));
  images.flush();
  EXPECT_TRUE(images.thumbnail("front-door-t-6"));
}

// The zone editor's save: validated by the config parser, written atomically, then reloaded.
class SceneSave : public OperatorEndpoints {
 protected:
  void SetUp() override {
    dir_ = test::temp_dir("scene_save");
    file_ = dir_ / "config.yaml";
    std::ofstream(file_) << "cameras:\n"
                            "  - id: front-door\n"
                            "    source: "
                         << (dir_ / "door.mp4").string()
                         << "\n"
                            "    zones:\n"
                            "      - name: bay\n"
                            "        polygon: [[0,0],[10,0],[10,10]]\n"
                            "        classes: [person]\n"
                            "        loitering_s: 12\n"
                            "      - name: old\n"
                            "        polygon: [[0,0],[5,0],[5,5]]\n"
                            "  - id: car-park\n"
                            "    source: "
                         << (dir_ / "park.mp4").string() << "\n";
    std::ofstream(dir_ / "door.mp4") << "x";
    std::ofstream(dir_ / "park.mp4") << "x";
  }
  void set_editor(bool writable) {
    SceneEditor ed;
    ed.writable = [writable, f = file_] { return writable && config_file_writable(f); };
    ed.save = [this](const std::string& cam, const json& scene) {
      Status st = save_camera_scene(file_, cam, scene);
      if (st) ++saves_;
      return st;
    };
    server_->set_scene_editor(ed);
  }
  std::string file_text() const {
    std::ifstream in(file_);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }
  httplib::Result put(const json& body, bool token = true) {
    return client(token).Put("/cameras/front-door/scene", body.dump(), "application/json");
  }
  fs::path dir_, file_;
  int saves_ = 0;
};

TEST_F(SceneSave, SavesValidatedShapesAndKeepsOtherZoneKeys) {
  start();
  set_editor(true);
  EXPECT_EQ(json::parse(client().Get("/cameras/front-door/scene")->body)["editable"], true);
  const json body = {{"zones", {{{"name", "bay"}, {"polygon", {{1, 1}, {50, 1}, {50, 40}}}}}},
                     {"lines", {{{"name", "door"}, {"points", {{5, 0}, {5, 90}}}}}}};
  EXPECT_EQ(put(body, false)->status, 401);
  auto r = put(body);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(saves_, 1);
  auto cfg = load_config(file_);
  ASSERT_TRUE(cfg) << cfg.error() << "\n" << file_text();
  const auto& scene = cfg->cameras[0].scene;
  ASSERT_EQ(scene.zones.size(), 1u);  // "old" removed
  EXPECT_EQ(scene.zones[0].name, "bay");
  EXPECT_EQ(scene.zones[0].polygon[2], cv::Point2f(50, 40));
  EXPECT_EQ(scene.zones[0].classes, std::vector<std::string>{"person"});  // kept
  EXPECT_EQ(scene.zones[0].loitering_s, 12);
  ASSERT_EQ(scene.lines.size(), 1u);
  EXPECT_EQ(scene.lines[0].p2, cv::Point2f(5, 90));
  EXPECT_TRUE(cfg->cameras[1].scene.zones.empty());
  // No temp file left behind.
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir_))
    files += e.path().filename().string()[0] == '.';
  EXPECT_EQ(files, 0);
}

TEST_F(SceneSave, InvalidShapesAreRefusedAndNothingIsWritten) {
  start();
  set_editor(true);
  const std::string before = file_text();
  // Two points are not a zone: the config parser says so, the file stays as it was.
  auto r = put({{"zones", {{{"name", "bay"}, {"polygon", {{1, 1}, {50, 1}}}}}}});
  ASSERT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("polygon"), std::string::npos) << r->body;
  EXPECT_EQ(put({{"zones", {{{"polygon", {{1, 1}, {2, 2}, {3, 1}}}}}}})->status, 400);  // no name
  EXPECT_EQ(put({{"zones", "bay"}})->status, 400);
  EXPECT_EQ(client().Put("/cameras/front-door/scene", "{", "application/json")->status, 400);
  EXPECT_EQ(client().Put("/cameras/front-door/scene", "zones: []", "text/yaml")->status, 415);
  EXPECT_EQ(client().Put("/cameras/nope/scene", "{}", "application/json")->status, 404);
  EXPECT_EQ(file_text(), before);
  EXPECT_EQ(saves_, 0);
}

TEST_F(SceneSave, ReadOnlyConfigOrNoTokenCannotSave) {
  start();
  set_editor(false);
  const json s = json::parse(client().Get("/cameras/front-door/scene")->body);
  EXPECT_EQ(s["editable"], false);
  EXPECT_NE(s.value("not_editable", "").find("not writable"), std::string::npos) << s.dump();
  EXPECT_EQ(put({{"zones", json::array()}})->status, 409);
  server_.reset();
  start(/*token=*/false);
  set_editor(true);
  EXPECT_EQ(json::parse(client(false).Get("/cameras/front-door/scene")->body)["editable"], false);
  EXPECT_EQ(put({{"zones", json::array()}}, false)->status, 403);
  EXPECT_EQ(saves_, 0);
}

}  // namespace
}  // namespace ev
