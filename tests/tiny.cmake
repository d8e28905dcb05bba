# SPDX-License-Identifier: Apache-2.0
# The ptm-tiny test architecture.  Built into the build tree's plugin folder
# (so `ptm info models/tiny` works from the build tree) but never installed.
ptm_add_plugin(tiny SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/plugins/tiny/tiny.c NO_INSTALL)
