# SPDX-License-Identifier: Apache-2.0
# Installs ptm.pc into <libdir>/pkgconfig.  The file is written from
# sdk/ptm.pc.in at install time, not at configure time, so that it names the
# prefix the tree is really installed to: `cmake --install --prefix P` may
# differ from the CMAKE_INSTALL_PREFIX the build was configured with.  (With
# DESTDIR staging the prefix stays the final one, as it should.)
#
# Included by the top-level CMakeLists.txt after include(GNUInstallDirs).
# ptm.pc.in sees PROJECT_VERSION, CMAKE_INSTALL_PREFIX,
# CMAKE_INSTALL_FULL_LIBDIR and CMAKE_INSTALL_FULL_INCLUDEDIR, all computed
# for the install-time prefix.
install(CODE "set(_ptm_pc_in [[${CMAKE_CURRENT_LIST_DIR}/../ptm.pc.in]])
set(_ptm_pc_out [[${CMAKE_BINARY_DIR}/ptm.pc]])
set(_ptm_pc_version [[${PROJECT_VERSION}]])
set(_ptm_pc_libdir [[${CMAKE_INSTALL_LIBDIR}]])
set(_ptm_pc_includedir [[${CMAKE_INSTALL_INCLUDEDIR}]])")
install(CODE [[
function(_ptm_write_pc)
  set(PROJECT_VERSION "${_ptm_pc_version}")
  foreach(d LIBDIR INCLUDEDIR)
    string(TOLOWER ${d} v)
    if(IS_ABSOLUTE "${_ptm_pc_${v}}")
      set(CMAKE_INSTALL_FULL_${d} "${_ptm_pc_${v}}")
    else()
      set(CMAKE_INSTALL_FULL_${d} "${CMAKE_INSTALL_PREFIX}/${_ptm_pc_${v}}")
    endif()
  endforeach()
  configure_file("${_ptm_pc_in}" "${_ptm_pc_out}" @ONLY)
endfunction()
_ptm_write_pc()
]])
install(FILES ${CMAKE_BINARY_DIR}/ptm.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
