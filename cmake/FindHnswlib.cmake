# FindHnswlib: hnswlib is header-only and Debian's libhnswlib-dev ships no CMake config.
# Defines Hnswlib_FOUND and the IMPORTED INTERFACE target hnswlib::hnswlib (the upstream name, so an
# upstream-installed hnswlibConfig.cmake satisfies consumers too).
if(TARGET hnswlib::hnswlib)
  set(Hnswlib_FOUND TRUE)
  return()
endif()
find_path(Hnswlib_INCLUDE_DIR hnswlib/hnswlib.h)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Hnswlib REQUIRED_VARS Hnswlib_INCLUDE_DIR)
if(Hnswlib_FOUND)
  add_library(hnswlib::hnswlib INTERFACE IMPORTED)
  set_target_properties(hnswlib::hnswlib PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${Hnswlib_INCLUDE_DIR}")
endif()
mark_as_advanced(Hnswlib_INCLUDE_DIR)
