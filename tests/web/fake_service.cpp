// ev_fake_service: the REST server over a fake ServiceView with two cameras, moving synthetic
// frames and a steady trickle of events. The dashboard test (tests/web) drives a browser at it.
// Prints "LISTENING <port>" on stdout once it accepts connections; runs until SIGTERM/SIGINT.
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "edgevision/server.hpp"
#include "server/fake_service.hpp"

namespace {
volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) {
  g_stop = 1;
}
}  // namespace

int main(int argc, char** argv) {
  ev::ServerParams params;
  params.port = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--port")
      params.port = std::atoi(value.c_str());
    else if (key == "--token")
      params.token = value;
    else if (key == "--web")
      params.web_dir = value;
    else {
      std::fprintf(stderr, "usage: ev_fake_service [--port N] [--token T] [--web DIR]\n");
      return 2;
    }
  }
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);

  ev::test::FakeService service;
  ev::DetectHandlers detect;
  detect.anonymize = [](cv::Mat&) -> ev::Result<int> { return 0; };
  auto server = ev::Server::start(params, service, detect);
  if (!server) {
    std::fprintf(stderr, "ev_fake_service: %s\n", server.error().c_str());
    return 1;
  }
  std::printf("LISTENING %d\n", (*server)->port());
  std::fflush(stdout);

  int n = 0;
  while (!g_stop) {
    // car-park only gets frames after a while, so the dashboard shows the "no frame yet" state
    // first.
    service.set_snapshot("front-door", ev::test::synthetic_jpeg("front-door", n));
    if (n > 3) service.set_snapshot("car-park", ev::test::synthetic_jpeg("car-park", n));
    if (n % 3 == 0)
      service.feed().publish(ev::test::synthetic_event(n % 2 ? "car-park" : "front-door", n / 3));
    auto cams = service.cameras();
    for (auto& c : cams) {
      c.frames_in += 25;
      c.frames_out += 24;
      c.fps_out = c.id == "front-door" ? 12 + (n % 5) * 0.1 : 8 + (n % 3) * 0.1;  // jitters
      service.update_camera(c);
    }
    ++n;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  (*server)->stop();
  return 0;
}
