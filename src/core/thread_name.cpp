#include "core/thread_name.hpp"

#include <pthread.h>

#include <string>

namespace ev {

void set_thread_name(std::string_view prefix, std::string_view id) {
  constexpr size_t kMax = 15;  // TASK_COMM_LEN - 1
  std::string name(prefix);
  if (!id.empty()) {
    const size_t room = kMax > name.size() ? kMax - name.size() : 0;
    name.append(id.size() > room ? id.substr(id.size() - room) : id);
  }
  if (name.size() > kMax) name.resize(kMax);
#if defined(__linux__)
  pthread_setname_np(pthread_self(), name.c_str());
#endif
}

}  // namespace ev
