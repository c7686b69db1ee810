// /metrics of the server in front of the real service metric families (one camera with
// observations, a sink, events) must pass `promtool check metrics` (Debian `prometheus`).
#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>

#include "edgevision/server.hpp"
#include "pipeline/metrics.hpp"
#include "server/fake_service.hpp"
#include "support/test_support.hpp"

namespace ev {
namespace {
namespace fs = std::filesystem;

// The fake's cameras and events with the pipeline's real metric families.
class ServiceWithRealMetrics : public test::FakeService {
 public:
  ServiceWithRealMetrics() {
    camera_ = metrics_.add_camera("front-door", "yolox-nano");
    camera_->frames_in->Increment(120);
    camera_->frames_out->Increment(118);
    camera_->fps_in->Set(10);
    camera_->fps_out->Set(9.8);
    camera_->up->Set(1);
    for (double ms : {12.0, 18.5, 40.0}) {
      camera_->latency->Observe(ms / 1000);
      camera_->inference->Observe(ms / 2000);
      camera_->stage_detect->Observe(ms / 2000);
    }
    metrics_.count_event("front-door", "object_appeared");
    metrics_.rss.Set(1.5e8);
  }
  prometheus::Registry& metrics() override { return *metrics_.registry; }

 private:
  ServiceMetrics metrics_;
  std::shared_ptr<CameraMetrics> camera_;
};

TEST(MetricsPromtool, ScrapePassesPromtoolCheckMetrics) {
  ASSERT_EQ(std::system("command -v promtool >/dev/null 2>&1"), 0)
      << "promtool missing: install Debian package 'prometheus' (scripts/install_deps.sh)";
  ServiceWithRealMetrics service;
  ServerParams p;
  p.port = 0;
  auto server = Server::start(p, service);
  ASSERT_TRUE(server.ok()) << server.error();
  httplib::Client c("127.0.0.1", (*server)->port());
  c.Get("/cameras");
  auto r = c.Get("/metrics");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  const std::string& body = r->body;
  // Both the service and the server export the process RSS: it must appear once.
  size_t helps = 0;
  for (size_t pos = 0;
       (pos = body.find("# HELP process_resident_memory_bytes ", pos)) != std::string::npos; ++pos)
    ++helps;
  EXPECT_EQ(helps, 1u) << body;
  EXPECT_NE(body.find("edgevision_frame_latency_seconds"), std::string::npos) << body;

  const fs::path dir = test::temp_dir("promtool");
  { std::ofstream(dir / "metrics.txt") << body; }
  auto check = test::run_command("promtool check metrics < " + (dir / "metrics.txt").string());
  EXPECT_EQ(check.exit_code, 0) << "promtool:\n"
                                << check.out << check.err << "\nmetrics:\n"
                                << body;
  EXPECT_EQ(check.out + check.err, "") << "promtool lint findings";
}

}  // namespace
}  // namespace ev
