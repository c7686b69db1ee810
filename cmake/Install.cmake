# `cmake --install` and CPack (.deb): bin/edgevision with ONNX Runtime beside it in lib/ (found
# through RPATH $ORIGIN/../lib, so the tree can be moved), share/edgevision/ (dashboard,
# example config, optional bundled models), a systemd unit. Included from the top CMakeLists.
include(GNUInstallDirs)

set(EDGEVISION_BUNDLE_MODELS "" CACHE STRING
    "Model files (;-separated) installed into share/edgevision/models, found there by file name")

set_target_properties(edgevision PROPERTIES INSTALL_RPATH "$ORIGIN/../${CMAKE_INSTALL_LIBDIR}")
install(TARGETS edgevision RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# The library and its soname links (libonnxruntime.so -> .so.1 -> .so.1.x.y).
get_filename_component(_ev_ort_dir "${ONNXRUNTIME_LIBRARY}" DIRECTORY)
file(GLOB _ev_ort_libs "${_ev_ort_dir}/libonnxruntime.so*")
install(FILES ${_ev_ort_libs} DESTINATION ${CMAKE_INSTALL_LIBDIR})

install(DIRECTORY "${CMAKE_SOURCE_DIR}/web/" DESTINATION ${CMAKE_INSTALL_DATADIR}/edgevision/web)
install(FILES "${CMAKE_SOURCE_DIR}/examples/edgevision.yaml"
        DESTINATION ${CMAKE_INSTALL_DATADIR}/edgevision/examples)
install(FILES "${CMAKE_SOURCE_DIR}/docs/configuration.md" "${CMAKE_SOURCE_DIR}/docs/mqtt.md"
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
if(EDGEVISION_BUNDLE_MODELS)
  install(FILES ${EDGEVISION_BUNDLE_MODELS} DESTINATION ${CMAKE_INSTALL_DATADIR}/edgevision/models)
endif()

# The unit names the prefix it is installed to (/usr for the .deb, whatever --prefix says for
# cmake --install), so it is written at install time, not configure time.
install(CODE "
  set(EV_BIN_DIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}\")
  set(EV_DOC_DIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_DOCDIR}\")
  set(EV_MODELS_DIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_DATADIR}/edgevision/models\")
  configure_file(\"${CMAKE_SOURCE_DIR}/packaging/edgevision.service.in\"
                 \"${CMAKE_BINARY_DIR}/edgevision.service\" @ONLY)")
install(FILES "${CMAKE_BINARY_DIR}/edgevision.service" DESTINATION lib/systemd/system)

set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "edgevision")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_CONTACT "edgevision maintainers <edgevision@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Privacy-first video analytics for edge devices")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION "video")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# ONNX Runtime ships inside the package: dpkg-shlibdeps must not look for a Debian package of it.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS "${_ev_ort_dir}")
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${CMAKE_SOURCE_DIR}/packaging/postinst;${CMAKE_SOURCE_DIR}/packaging/prerm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
include(CPack)
