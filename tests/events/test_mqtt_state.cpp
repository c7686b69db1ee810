// MQTT beside the events, against real mosquitto brokers: availability with a last will (also
// when the process is killed), retained per-camera counts, stats, the events' device id, Home
// Assistant discovery payloads, username/password and a two-broker bridge (box -> central).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "edgevision/events.hpp"
#include "events/mqtt_test_util.hpp"
#include "support/test_support.hpp"

namespace ev {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using test::wait_until;

EventsConfig mqtt_config(const fs::path& dir, int port, const std::string& device) {
  EventsConfig c;
  c.spool_dir = dir / "spool";
  c.device_id = device;
  c.mqtt.enabled = true;
  c.mqtt.port = port;
  c.mqtt.topic_prefix = "evtest";
  c.mqtt.client_id = "edgevision-" + device;
  c.mqtt.spool.dir = dir / "spool/mqtt";
  c.mqtt.stats_interval_s = 1;
  return c;
}

json event(int n, const std::string& camera) {
  json e = make_event("object_appeared", camera);
  e["n"] = n;
  e["class"] = "person";
  return e;
}

TEST(HaDiscovery, CountSensorPayload) {
  MqttConfig m;
  m.topic_prefix = "ev";
  const auto msgs = ha_discovery_messages(m, "box 1", "front-door", "count", "person");
  ASSERT_EQ(msgs.size(), 1u);
  // Node and object ids: [a-zA-Z0-9_-] only.
  EXPECT_EQ(msgs[0].topic, "homeassistant/sensor/edgevision_box_1/front-door_person_count/config");
  EXPECT_TRUE(msgs[0].retain);
  const json c = json::parse(msgs[0].payload);
  EXPECT_EQ(c["state_topic"], "ev/front-door/counts");
  EXPECT_EQ(c["value_template"], "{{ value_json.objects['person'] | default(0) }}");
  EXPECT_EQ(c["unique_id"], "edgevision_box_1_front-door_person_count");
  EXPECT_EQ(c["availability_topic"], "ev/available");
  EXPECT_EQ(c["payload_available"], "online");
  EXPECT_EQ(c["payload_not_available"], "offline");
  EXPECT_EQ(c["state_class"], "measurement");
  EXPECT_EQ(c["device"]["identifiers"][0], "edgevision_box_1");
  EXPECT_EQ(c["device"]["name"], "edgevision box 1");

  const auto plate = ha_discovery_messages(m, "b", "gate", "last_plate", "");
  ASSERT_EQ(plate.size(), 1u);
  EXPECT_EQ(json::parse(plate[0].payload)["state_topic"], "ev/gate/last_plate");
  const auto zone = ha_discovery_messages(m, "b", "gate", "zone", "drive way");
  ASSERT_EQ(zone.size(), 1u);
  EXPECT_EQ(zone[0].topic,
            "homeassistant/sensor/edgevision_b/gate_zone_drive_way_occupancy/config");
  EXPECT_EQ(json::parse(zone[0].payload)["value_template"],
            "{{ value_json.zones['drive way'] | default(0) }}");
  EXPECT_TRUE(ha_discovery_messages(m, "b", "gate", "nonsense", "").empty());
}

TEST(MqttState, AvailabilityCountsStatsDeviceAndDiscoveryOnARealBroker) {
  const fs::path dir = test::temp_dir("mqtt_state");
  test::MosquittoBroker broker(dir / "broker");
  ASSERT_TRUE(broker.start());
  test::Subscriber sub(broker.port(), "#", "ev-test-all");
  ASSERT_TRUE(sub.wait_subscribed(5));
  EventsConfig cfg = mqtt_config(dir, broker.port(), "box-a");
  cfg.mqtt.ha_discovery = true;
  auto router = EventRouter::create(cfg);
  ASSERT_TRUE(router) << router.error();
  MqttState* state = (*router)->mqtt_state();
  ASSERT_NE(state, nullptr);
  EXPECT_EQ(state->device_id(), "box-a");

  ASSERT_TRUE(wait_until([&] { return sub.last("evtest/available") == "online"; }, 10));
  state->set_counts("door", {{"person", 2}, {"car", 1}});
  json plate = make_event("plate_read", "door");
  plate["plate"] = "AB123CD";
  (*router)->publish(event(1, "door"));
  (*router)->publish(plate);
  json zone = make_event("zone_occupancy", "door");
  zone["zone"] = "porch";
  zone["occupancy"] = 3;
  (*router)->publish(zone);
  state->set_stats(nlohmann::ordered_json{{"device", "box-a"}, {"uptime_s", 1}});

  ASSERT_TRUE(wait_until([&] { return sub.event_count() >= 3; }, 10));
  for (const auto& m : sub.event_messages())
    EXPECT_EQ(json::parse(m.payload)["device"], "box-a") << m.topic << " " << m.payload;
  ASSERT_TRUE(wait_until(
      [&] {
        const std::string c = sub.last("evtest/door/counts");
        return !c.empty() && json::parse(c)["zones"].contains("porch");
      },
      10));
  const json counts = json::parse(sub.last("evtest/door/counts"));
  EXPECT_EQ(counts["objects"]["person"], 2);
  EXPECT_EQ(counts["objects"]["car"], 1);
  EXPECT_EQ(counts["zones"]["porch"], 3);
  EXPECT_EQ(counts["device"], "box-a");
  EXPECT_EQ(json::parse(sub.last("evtest/door/last_plate"))["plate"], "AB123CD");
  EXPECT_EQ(json::parse(sub.last("evtest/door/last_event"))["type"], "zone_occupancy");
  ASSERT_TRUE(wait_until([&] { return !sub.last("evtest/stats").empty(); }, 5));
  EXPECT_EQ(json::parse(sub.last("evtest/stats"))["device"], "box-a");
  for (const char* t : {"homeassistant/sensor/edgevision_box-a/door_person_count/config",
                        "homeassistant/sensor/edgevision_box-a/door_car_count/config",
                        "homeassistant/sensor/edgevision_box-a/door_last_event/config",
                        "homeassistant/sensor/edgevision_box-a/door_last_plate/config",
                        "homeassistant/sensor/edgevision_box-a/door_zone_porch_occupancy/config"}) {
    const std::string p = sub.last(t);
    ASSERT_FALSE(p.empty()) << t;
    EXPECT_EQ(json::parse(p)["availability_topic"], "evtest/available") << t;
  }
  // A count that goes to 0 is published as 0 (not dropped), and only when it changes.
  state->set_counts("door", {{"person", 1}});
  ASSERT_TRUE(wait_until(
      [&] { return json::parse(sub.last("evtest/door/counts"))["objects"]["person"] == 1; }, 5));
  EXPECT_EQ(json::parse(sub.last("evtest/door/counts"))["objects"]["car"], 0);

  // Retained: a client that subscribes later gets availability, counts and discovery at once.
  test::Subscriber late(broker.port(), "#", "ev-test-late");
  ASSERT_TRUE(wait_until([&] { return late.last("evtest/available") == "online"; }, 5));
  EXPECT_FALSE(late.last("evtest/door/counts").empty());
  EXPECT_FALSE(late.last("homeassistant/sensor/edgevision_box-a/door_person_count/config").empty());

  // A clean stop says offline.
  (*router)->stop(2000);
  ASSERT_TRUE(wait_until([&] { return sub.last("evtest/available") == "offline"; }, 5));
}

TEST(MqttState, DiscoveryIsOffByDefault) {
  const fs::path dir = test::temp_dir("mqtt_no_discovery");
  test::MosquittoBroker broker(dir / "broker");
  ASSERT_TRUE(broker.start());
  test::Subscriber sub(broker.port(), "#", "ev-test-nodisc");
  ASSERT_TRUE(sub.wait_subscribed(5));
  auto router = EventRouter::create(mqtt_config(dir, broker.port(), "box-b"));
  ASSERT_TRUE(router) << router.error();
  (*router)->mqtt_state()->set_counts("door", {{"person", 1}});
  ASSERT_TRUE(wait_until([&] { return !sub.last("evtest/door/counts").empty(); }, 10));
  for (const auto& m : sub.messages()) EXPECT_NE(m.topic.rfind("homeassistant/", 0), 0u) << m.topic;
}

// The broker publishes the last will when the process dies without a clean DISCONNECT.
TEST(MqttState, LastWillSaysOfflineWhenTheProcessIsKilled) {
  const fs::path dir = test::temp_dir("mqtt_will");
  test::MosquittoBroker broker(dir / "broker");
  ASSERT_TRUE(broker.start());
  const EventsConfig cfg = mqtt_config(dir, broker.port(), "box-k");
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    auto router = EventRouter::create(cfg);
    if (!router) ::_exit(3);
    for (;;) ::pause();
  }
  test::Subscriber sub(broker.port(), "evtest/available", "ev-test-will");
  ASSERT_TRUE(sub.wait_subscribed(5));
  const bool online = wait_until([&] { return sub.last("evtest/available") == "online"; }, 10);
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(online);
  ASSERT_TRUE(WIFSIGNALED(status));
  ASSERT_TRUE(wait_until([&] { return sub.last("evtest/available") == "offline"; }, 10))
      << "no last will after kill -9";
  // Retained: someone who looks later also sees offline.
  test::Subscriber late(broker.port(), "evtest/available", "ev-test-will-late");
  ASSERT_TRUE(wait_until([&] { return late.last("evtest/available") == "offline"; }, 5));
}

TEST(MqttState, UsernameAndPasswordFromAFile) {
  const fs::path dir = test::temp_dir("mqtt_auth");
  fs::create_directories(dir / "broker");
  const fs::path pw = dir / "broker" / "passwd";
  ASSERT_EQ(test::run_command("mosquitto_passwd -b -c " + pw.string() + " edge s3cret").exit_code,
            0);
  test::MosquittoBroker broker(dir / "broker", "password_file " + pw.string() + "\n");
  ASSERT_TRUE(broker.start());

  // The config loader reads password_file; here the resolved password goes in directly.
  EventsConfig cfg = mqtt_config(dir, broker.port(), "box-p");
  cfg.mqtt.username = "edge";
  cfg.mqtt.password = "wrong";
  auto t = make_mqtt_transport(cfg.mqtt);
  const Status refused = t->connect();
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("refused"), std::string::npos) << refused.message();
  t->disconnect();

  cfg.mqtt.password = "s3cret";
  auto ok = make_mqtt_transport(cfg.mqtt);
  const Status st = ok->connect();
  EXPECT_TRUE(st.ok()) << st.message();
  ok->disconnect();
}

// TLS with the broker's certificate checked against our CA (and its IP SAN), plus a password.
TEST(MqttState, TlsWithCaAndPassword) {
  const fs::path dir = test::temp_dir("mqtt_tls");
  const fs::path b = dir / "broker";
  fs::create_directories(b);
  const std::string d = b.string();
  const std::string script =
      "set -e; cd " + d +
      "; openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 "
      "-subj /CN=evtest-ca 2>/dev/null"
      "; openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr "
      "-subj /CN=127.0.0.1 2>/dev/null"
      "; printf 'subjectAltName=IP:127.0.0.1' > san.ext"
      "; openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
      "-out server.crt -days 2 -extfile san.ext 2>/dev/null"
      "; openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.crt -days 2 "
      "-subj /CN=other-ca 2>/dev/null"
      "; mosquitto_passwd -b -c passwd edge s3cret; chmod 644 server.key passwd";
  const auto gen = test::run_command(script);
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  test::MosquittoBroker broker(b, "cafile " + d + "/ca.crt\ncertfile " + d +
                                      "/server.crt\nkeyfile " + d +
                                      "/server.key\n"
                                      "password_file " +
                                      d + "/passwd\n");
  ASSERT_TRUE(broker.start());

  EventsConfig cfg = mqtt_config(dir, broker.port(), "box-t");
  cfg.mqtt.username = "edge";
  cfg.mqtt.password = "s3cret";
  cfg.mqtt.tls = true;
  cfg.mqtt.ca_file = b / "ca.crt";
  auto ok = make_mqtt_transport(cfg.mqtt);
  const Status st = ok->connect();
  EXPECT_TRUE(st.ok()) << st.message();
  ok->disconnect();

  // A broker certificate from another CA is refused.
  cfg.mqtt.ca_file = b / "other.crt";
  auto bad = make_mqtt_transport(cfg.mqtt);
  EXPECT_FALSE(bad->connect().ok());
  bad->disconnect();

  // Plain MQTT to the TLS listener does not connect either.
  cfg.mqtt.tls = false;
  auto plain = make_mqtt_transport(cfg.mqtt);
  EXPECT_FALSE(plain->connect().ok());
  plain->disconnect();
}

// A fleet: each box's broker bridges its topics to a central broker under fleet/<device>/.
// The bridge stanza is the one in docs/mqtt.md.
TEST(MqttBridge, BoxBrokerForwardsEventsAndAvailabilityToCentral) {
  const fs::path dir = test::temp_dir("mqtt_bridge");
  test::MosquittoBroker central(dir / "central");
  ASSERT_TRUE(central.start());
  const std::string bridge =
      "connection box-a-to-central\n"
      "address 127.0.0.1:" +
      std::to_string(central.port()) +
      "\n"
      "topic # out 1 evtest/ fleet/box-a/evtest/\n"
      "cleansession false\n"
      "bridge_protocol_version mqttv311\n";
  test::MosquittoBroker box(dir / "box", "", bridge);
  ASSERT_TRUE(box.start());
  test::Subscriber sub(central.port(), "fleet/#", "ev-test-central");
  ASSERT_TRUE(sub.wait_subscribed(5));

  auto router = EventRouter::create(mqtt_config(dir, box.port(), "box-a"));
  ASSERT_TRUE(router) << router.error();
  ASSERT_TRUE(wait_until([&] { return sub.last("fleet/box-a/evtest/available") == "online"; }, 15))
      << "bridge did not forward availability";
  for (int i = 0; i < 5; ++i) (*router)->publish(event(i, "door"));
  ASSERT_TRUE(wait_until([&] { return sub.event_count() >= 5; }, 15));
  std::vector<int> ns;
  for (const auto& m : sub.event_messages()) {
    EXPECT_EQ(m.topic, "fleet/box-a/evtest/door/object_appeared");
    const json e = json::parse(m.payload);
    EXPECT_EQ(e["device"], "box-a");
    ns.push_back(e["n"].get<int>());
  }
  EXPECT_EQ(ns, (std::vector<int>{0, 1, 2, 3, 4}));
}

}  // namespace
}  // namespace ev
