// Names the calling thread for `top -H`, `ps -L`, gdb and `perf --sort comm`, so a user can
// see which stage of which camera takes the CPU.
#pragma once

#include <string_view>

namespace ev {

// `prefix` + `id`, within the 15 bytes Linux keeps of a thread's name: a long id keeps its end
// (camera ids often share a beginning), a prefix of 15 bytes or more is cut and the id dropped.
// No-op where threads cannot be named.
void set_thread_name(std::string_view prefix, std::string_view id = {});

}  // namespace ev
