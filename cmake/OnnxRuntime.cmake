# ONNX Runtime: a user's own install via -DONNXRUNTIME_ROOT=..., otherwise the official Linux
# x64 build from the npm package com.github.asus4.onnxruntime (fetched, hash-checked and
# unpacked into a cache by scripts/fetch_onnxruntime.sh).
set(ONNXRUNTIME_ROOT "" CACHE PATH "ONNX Runtime install prefix (include/ and lib/)")

if(NOT ONNXRUNTIME_ROOT)
  execute_process(
    COMMAND bash "${CMAKE_SOURCE_DIR}/scripts/fetch_onnxruntime.sh"
    OUTPUT_VARIABLE _ort_root
    RESULT_VARIABLE _ort_rc
    OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT _ort_rc EQUAL 0)
    message(FATAL_ERROR "Could not fetch ONNX Runtime (scripts/fetch_onnxruntime.sh failed). "
                        "Install it yourself and pass -DONNXRUNTIME_ROOT=<prefix>.")
  endif()
  set(ONNXRUNTIME_ROOT "${_ort_root}" CACHE PATH "" FORCE)
endif()

find_path(ONNXRUNTIME_INCLUDE_DIR onnxruntime_cxx_api.h
  PATHS "${ONNXRUNTIME_ROOT}/include" "${ONNXRUNTIME_ROOT}/include/onnxruntime"
        "${ONNXRUNTIME_ROOT}/include/onnxruntime/core/session"
  NO_DEFAULT_PATH)
find_library(ONNXRUNTIME_LIBRARY onnxruntime PATHS "${ONNXRUNTIME_ROOT}/lib" "${ONNXRUNTIME_ROOT}/lib64"
  NO_DEFAULT_PATH)
if(NOT ONNXRUNTIME_INCLUDE_DIR OR NOT ONNXRUNTIME_LIBRARY)
  message(FATAL_ERROR "ONNX Runtime not found under ONNXRUNTIME_ROOT=${ONNXRUNTIME_ROOT}")
endif()
message(STATUS "ONNX Runtime: ${ONNXRUNTIME_LIBRARY}")

add_library(onnxruntime::onnxruntime SHARED IMPORTED GLOBAL)
set_target_properties(onnxruntime::onnxruntime PROPERTIES
  IMPORTED_LOCATION "${ONNXRUNTIME_LIBRARY}"
  IMPORTED_NO_SONAME FALSE
  INTERFACE_INCLUDE_DIRECTORIES "${ONNXRUNTIME_INCLUDE_DIR}")
get_filename_component(_ort_libdir "${ONNXRUNTIME_LIBRARY}" DIRECTORY)
set(CMAKE_BUILD_RPATH "${_ort_libdir}")
set(CMAKE_INSTALL_RPATH "${_ort_libdir}")
