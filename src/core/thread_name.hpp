// Names the calling thread for `top -H`, `ps -L`, gdb and `perf --sort comm`, so a user can
// see which stage of which camera takes the CPU.
#pragma once

#include <string_view>

namespace ev {

// Linux keeps 15 bytes of a thread's name; a longer one is cut, keeping its end (a camera id
// tells threads apart more than a stage prefix does). No-op where threads cannot be named.
void set_thread_name(std::string_view prefix, std::string_view id = {});

}  // namespace ev
