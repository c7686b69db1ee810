#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <set>

#include "edgevision/events.hpp"
#include "events/mqtt_test_util.hpp"
#include "support/test_support.hpp"

namespace ev {
namespace {

namespace fs = std::filesystem;
using test::wait_until;

nlohmann::json event(int n, const std::string& camera = "cam1",
                     const std::string& type = "object_appeared") {
  auto e = make_event(type, camera);
  e["n"] = n;
  return e;
}

int n_of(const std::string& payload) {
  return nlohmann::json::parse(payload).at("n").get<int>();
}

// Order of first occurrence (QoS 1 is at least once: a redelivery after a reconnect may repeat
// an event, never reorder or lose one).
std::vector<int> first_occurrences(const std::vector<std::string>& payloads) {
  std::vector<int> out;
  std::set<int> seen;
  for (const auto& p : payloads) {
    const int n = n_of(p);
    if (seen.insert(n).second) out.push_back(n);
  }
  return out;
}

EventsConfig events_config(const fs::path& dir, int mqtt_port) {
  EventsConfig c;
  c.spool_dir = dir / "spool";
  c.mqtt.enabled = mqtt_port > 0;
  c.mqtt.port = mqtt_port;
  c.mqtt.topic_prefix = "evtest";
  c.mqtt.client_id = "edgevision-test";
  c.mqtt.spool.dir = dir / "spool/mqtt";
  c.jsonl.enabled = true;
  c.jsonl.path = dir / "events.jsonl";
  c.jsonl.spool.dir = dir / "spool/jsonl";
  c.webhook.spool.dir = dir / "spool/webhook";
  return c;
}

TEST(Events, SchemaAndTopic) {
  auto e = make_event("object_left", "door");
  EXPECT_EQ(e["schema"], "edgevision.event/1");
  EXPECT_EQ(e["type"], "object_left");
  EXPECT_EQ(e["camera"], "door");
  EXPECT_EQ(e["time"].get<std::string>().size(), 24u);  // 2024-01-01T00:00:00.000Z
  EXPECT_EQ(mqtt_topic("site/a", e), "site/a/door/object_left");
}

TEST(Events, TypeRegistry) {
  auto& reg = EventTypeRegistry::instance();
  EXPECT_TRUE(reg.contains("object_appeared"));
  EXPECT_TRUE(reg.contains("object_left"));
  EXPECT_TRUE(reg.add({"test_loitering", "for the test"}));
  EXPECT_TRUE(reg.contains("test_loitering"));
  EXPECT_FALSE(reg.add({"test_loitering", "again"}));
  EXPECT_FALSE(reg.add({"Bad/Name", "topic levels must stay clean"}));
}

TEST(JsonlSink, WritesInOrderAndRotates) {
  const fs::path dir = test::temp_dir("jsonl_sink");
  EventsConfig c = events_config(dir, 0);
  c.jsonl.rotate_bytes = 4096;
  c.jsonl.keep = 50;
  {
    auto router = EventRouter::create(c);
    ASSERT_TRUE(router) << router.error();
    for (int i = 0; i < 200; ++i) (*router)->publish(event(i));
    (*router)->stop(5000);
    EXPECT_EQ((*router)->stats()[0].spool.pending, 0u);
    EXPECT_EQ((*router)->stats()[0].delivered, 200u);
  }
  // Oldest rotated file has the highest number.
  std::vector<std::string> all;
  for (int k = 50; k >= 1; --k) {
    const fs::path p = dir / ("events.jsonl." + std::to_string(k));
    if (!fs::exists(p)) continue;
    EXPECT_LE(fs::file_size(p), 4096u);
    for (auto& l : test::read_lines(p)) all.push_back(l);
  }
  for (auto& l : test::read_lines(dir / "events.jsonl")) all.push_back(l);
  ASSERT_EQ(all.size(), 200u);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(n_of(all[i]), i);
}

TEST(MqttSink, DeliversOnTopicsPerCameraAndType) {
  const fs::path dir = test::temp_dir("mqtt_topics");
  test::MosquittoBroker broker(dir / "broker");
  ASSERT_TRUE(broker.start());
  test::Subscriber sub(broker.port(), "evtest/#");
  ASSERT_TRUE(sub.wait_subscribed(5));
  auto router = EventRouter::create(events_config(dir, broker.port()));
  ASSERT_TRUE(router) << router.error();
  (*router)->publish(event(0, "a", "object_appeared"));
  (*router)->publish(event(1, "b", "object_appeared"));
  (*router)->publish(event(2, "a", "object_left"));
  ASSERT_TRUE(wait_until([&] { return sub.event_count() >= 3; }, 10));
  const auto msgs = sub.event_messages();
  EXPECT_EQ(msgs[0].topic, "evtest/a/object_appeared");
  EXPECT_EQ(msgs[1].topic, "evtest/b/object_appeared");
  EXPECT_EQ(msgs[2].topic, "evtest/a/object_left");
  EXPECT_EQ(nlohmann::json::parse(msgs[2].payload)["schema"], "edgevision.event/1");
  ASSERT_TRUE(wait_until([&] { return (*router)->stats()[0].spool.pending == 0; }, 5));
}

TEST(MqttSink, BrokerRestartLosesNothingAndKeepsOrder) {
  const fs::path dir = test::temp_dir("mqtt_restart");
  test::MosquittoBroker broker(dir / "broker");
  ASSERT_TRUE(broker.start());
  auto sub = std::make_unique<test::Subscriber>(broker.port(), "evtest/#");
  ASSERT_TRUE(sub->wait_subscribed(5));
  auto router = EventRouter::create(events_config(dir, broker.port()));
  ASSERT_TRUE(router) << router.error();
  auto mqtt_stats = [&] { return (*router)->stats()[0]; };

  for (int i = 0; i < 50; ++i) (*router)->publish(event(i, i % 2 ? "a" : "b"));
  ASSERT_TRUE(wait_until([&] { return sub->event_count() >= 50; }, 10));
  broker.stop();
  for (int i = 50; i < 150; ++i) (*router)->publish(event(i, i % 2 ? "a" : "b"));
  ASSERT_TRUE(wait_until([&] { return !mqtt_stats().connected; }, 5));
  EXPECT_GE(mqtt_stats().spool.pending, 90u);  // waiting on disk while the broker is down
  ASSERT_TRUE(broker.start());
  ASSERT_TRUE(wait_until([&] { return mqtt_stats().spool.pending == 0; }, 40))
      << "pending " << mqtt_stats().spool.pending;
  ASSERT_TRUE(wait_until(
      [&] {
        return first_occurrences([&] {
                 std::vector<std::string> p;
                 for (auto& m : sub->event_messages()) p.push_back(m.payload);
                 return p;
               }())
                   .size() >= 150;
      },
      20));
  (*router)->stop(2000);
  std::vector<std::string> received;
  for (auto& m : sub->event_messages()) received.push_back(m.payload);
  const auto jsonl = test::read_lines(dir / "events.jsonl");
  ASSERT_EQ(first_occurrences(jsonl).size(), 150u);
  EXPECT_EQ(first_occurrences(received), first_occurrences(jsonl));
  std::printf(
      "[ info ] broker restart: 100 events published while the broker was down; %zu of 150 "
      "delivered in order in the end, %zu messages received (%zu duplicates)\n",
      first_occurrences(received).size(), received.size(), received.size() - 150);
}

TEST(MqttSink, SpoolSurvivesEdgevisionRestart) {
  const fs::path dir = test::temp_dir("mqtt_process_restart");
  test::MosquittoBroker broker(dir / "broker");
  // Broker down: the first "process" can only spool.
  {
    auto router = EventRouter::create(events_config(dir, broker.port()));
    ASSERT_TRUE(router) << router.error();
    for (int i = 0; i < 40; ++i) (*router)->publish(event(i));
    (*router)->stop(200);
    EXPECT_EQ((*router)->stats()[0].spool.pending, 40u);
  }
  ASSERT_TRUE(broker.start());
  test::Subscriber sub(broker.port(), "evtest/#");
  ASSERT_TRUE(sub.wait_subscribed(5));
  auto router = EventRouter::create(events_config(dir, broker.port()));
  ASSERT_TRUE(router) << router.error();
  ASSERT_TRUE(wait_until([&] { return sub.event_count() >= 40; }, 20));
  std::vector<std::string> received;
  for (auto& m : sub.event_messages()) received.push_back(m.payload);
  std::vector<int> expected(40);
  for (int i = 0; i < 40; ++i) expected[i] = i;
  EXPECT_EQ(first_occurrences(received), expected);
}

TEST(WebhookSink, RetriesUntilAcceptedInOrder) {
  const fs::path dir = test::temp_dir("webhook_sink");
  httplib::Server server;
  std::mutex mutex;
  std::vector<std::string> bodies;
  std::atomic<int> calls{0};
  server.Post("/hook", [&](const httplib::Request& req, httplib::Response& res) {
    // The first three requests fail: the sink must back off and retry, in order.
    if (calls++ < 3) {
      res.status = 503;
      return;
    }
    std::lock_guard lock(mutex);
    bodies.push_back(req.body);
    res.status = 204;
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread t([&] { server.listen_after_bind(); });
  EventsConfig c = events_config(dir, 0);
  c.jsonl.enabled = false;
  c.webhook.enabled = true;
  c.webhook.url = "http://127.0.0.1:" + std::to_string(port) + "/hook";
  c.webhook.timeout_ms = 1000;
  {
    auto router = EventRouter::create(c);
    ASSERT_TRUE(router) << router.error();
    for (int i = 0; i < 20; ++i) (*router)->publish(event(i));
    EXPECT_TRUE(wait_until(
        [&] {
          std::lock_guard lock(mutex);
          return bodies.size() >= 20;
        },
        20));
    (*router)->stop(1000);
  }
  server.stop();
  t.join();
  std::lock_guard lock(mutex);
  ASSERT_EQ(bodies.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(n_of(bodies[i]), i);
}

}  // namespace
}  // namespace ev
