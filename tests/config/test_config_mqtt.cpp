// events.mqtt secrets (environment / file), TLS, stats, Home Assistant discovery and
// events.device_id.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>

#include "edgevision/config.hpp"
#include "support/test_support.hpp"

namespace ev {
namespace {

Result<Config> parse_mqtt(const std::string& mqtt_body, const std::string& base = "/base",
                          const std::string& events_extra = "") {
  return parse_config("cameras:\n  - id: door\n    source: video.avi\nevents:\n" + events_extra +
                          "  mqtt:\n" + mqtt_body,
                      "cfg.yaml", base);
}

TEST(ConfigMqtt, Defaults) {
  auto cfg = parse_mqtt("    host: broker\n");
  ASSERT_TRUE(cfg) << cfg.error();
  const MqttConfig& m = cfg->events.mqtt;
  EXPECT_FALSE(m.tls);
  EXPECT_FALSE(m.ha_discovery);
  EXPECT_EQ(m.ha_discovery_prefix, "homeassistant");
  EXPECT_EQ(m.stats_interval_s, 30);
  EXPECT_TRUE(cfg->events.device_id.empty());  // the host name, chosen at run time
}

TEST(ConfigMqtt, PasswordFromEnvironment) {
  ::setenv("EV_TEST_MQTT_PW", "from-env", 1);
  auto cfg = parse_mqtt("    username: u\n    password_env: EV_TEST_MQTT_PW\n");
  ASSERT_TRUE(cfg) << cfg.error();
  EXPECT_EQ(cfg->events.mqtt.password, "from-env");
  ::unsetenv("EV_TEST_MQTT_PW");
  auto missing = parse_mqtt("    username: u\n    password_env: EV_TEST_MQTT_PW\n");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().find("EV_TEST_MQTT_PW is not set"), std::string::npos)
      << missing.error();
}

TEST(ConfigMqtt, PasswordFromFileRelativeToTheConfig) {
  const auto dir = test::temp_dir("config_mqtt_pw");
  std::ofstream(dir / "pw") << "from-file\n";
  auto cfg = parse_mqtt("    username: u\n    password_file: pw\n", dir.string());
  ASSERT_TRUE(cfg) << cfg.error();
  EXPECT_EQ(cfg->events.mqtt.password, "from-file");
  auto missing = parse_mqtt("    username: u\n    password_file: nope\n", dir.string());
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().find("events.mqtt.password_file"), std::string::npos)
      << missing.error();
}

TEST(ConfigMqtt, RejectsAmbiguousOrIncompleteSettings) {
  ::setenv("EV_TEST_MQTT_PW2", "x", 1);
  EXPECT_FALSE(
      parse_mqtt("    username: u\n    password: a\n    password_env: EV_TEST_MQTT_PW2\n"));
  ::unsetenv("EV_TEST_MQTT_PW2");
  EXPECT_FALSE(parse_mqtt("    password: a\n"));       // no username
  EXPECT_FALSE(parse_mqtt("    cert_file: c.pem\n"));  // key_file missing
  EXPECT_FALSE(parse_mqtt("    ha_discovery_prefix: ha/#\n"));
  EXPECT_FALSE(parse_mqtt("    stats_interval_s: -1\n"));
  EXPECT_FALSE(parse_mqtt("    host: b\n", "/base", "  device_id: bad id!\n"));
}

TEST(ConfigMqtt, TlsDiscoveryStatsAndDevice) {
  auto cfg = parse_mqtt(
      "    port: 8883\n    ca_file: certs/ca.pem\n    tls_insecure: true\n"
      "    ha_discovery: true\n    stats_interval_s: 5\n",
      "/base", "  device_id: garage-box\n");
  ASSERT_TRUE(cfg) << cfg.error();
  const MqttConfig& m = cfg->events.mqtt;
  EXPECT_TRUE(m.tls);  // implied by ca_file
  EXPECT_EQ(m.ca_file, "/base/certs/ca.pem");
  EXPECT_TRUE(m.tls_insecure);
  EXPECT_TRUE(m.ha_discovery);
  EXPECT_EQ(m.stats_interval_s, 5);
  EXPECT_EQ(cfg->events.device_id, "garage-box");
}

}  // namespace
}  // namespace ev
