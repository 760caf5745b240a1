# Install rules: `make install` (cmake --install build/release) or, to stage a package,
# `DESTDIR=/tmp/stage cmake --install BUILD_DIR`. Included at the end of the top-level
# CMakeLists.txt, once every target exists. docs/operations.md describes the installed service.
include(GNUInstallDirs)

install(TARGETS ssdcached RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(TARGET ssdcache-bench)
  # OPTIONAL: a tree where only ssdcached was built still installs.
  install(TARGETS ssdcache-bench RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} OPTIONAL)
endif()

# The unit names /usr/local/bin/ssdcached (and the docs under /usr/local/share); with another
# prefix it names the installed files.
# systemd also reads units from /usr/local/lib/systemd/system, the default destination.
set(SSDCACHE_SYSTEMD_UNIT_DIR "lib/systemd/system" CACHE STRING
    "Where the systemd unit goes (relative to CMAKE_INSTALL_PREFIX, or absolute)")
file(READ ${PROJECT_SOURCE_DIR}/tools/ssdcached.service SSDCACHE_UNIT_TEXT)
string(REPLACE "/usr/local/bin/ssdcached" "${CMAKE_INSTALL_FULL_BINDIR}/ssdcached"
       SSDCACHE_UNIT_TEXT "${SSDCACHE_UNIT_TEXT}")
string(REPLACE "/usr/local/share/doc/ssdcache" "${CMAKE_INSTALL_FULL_DOCDIR}"
       SSDCACHE_UNIT_TEXT "${SSDCACHE_UNIT_TEXT}")
file(CONFIGURE OUTPUT ${PROJECT_BINARY_DIR}/ssdcached.service CONTENT "${SSDCACHE_UNIT_TEXT}" @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/ssdcached.service DESTINATION ${SSDCACHE_SYSTEMD_UNIT_DIR})

# /etc/default/ssdcached holds the administrator's flags: installed when missing, never
# overwritten (the shipped version is always there as share/doc/ssdcache/ssdcached.default).
install(FILES ${PROJECT_SOURCE_DIR}/tools/ssdcached.default DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(CODE "
  set(_ssdc_default \"\$ENV{DESTDIR}/etc/default/ssdcached\")
  if(EXISTS \"\${_ssdc_default}\")
    message(STATUS \"Keeping: \${_ssdc_default} (the shipped one is in ${CMAKE_INSTALL_FULL_DOCDIR})\")
  else()
    # file(INSTALL) puts DESTDIR in front of the absolute destination itself.
    file(INSTALL DESTINATION /etc/default TYPE FILE
         RENAME ssdcached FILES \"${PROJECT_SOURCE_DIR}/tools/ssdcached.default\")
  endif()")
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/docs/design.md
              ${PROJECT_SOURCE_DIR}/docs/protocol.md ${PROJECT_SOURCE_DIR}/docs/operations.md
              ${PROJECT_SOURCE_DIR}/docs/cluster.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
# The man page the build generated (src/CMakeLists.txt: ssdcached --help-man).
install(FILES ${PROJECT_BINARY_DIR}/ssdcached.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
