# lagscale/version.h: the project version and the git revision it was built from.
execute_process(COMMAND git rev-parse --short=12 HEAD
                WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}
                OUTPUT_VARIABLE LAGSCALE_REVISION OUTPUT_STRIP_TRAILING_WHITESPACE
                ERROR_QUIET)
if(NOT LAGSCALE_REVISION)
  set(LAGSCALE_REVISION unknown)
endif()
configure_file(${CMAKE_SOURCE_DIR}/cmake/version.h.in
               ${CMAKE_BINARY_DIR}/generated/lagscale/version.h @ONLY)
add_library(lagscale_version INTERFACE)
target_include_directories(lagscale_version INTERFACE ${CMAKE_BINARY_DIR}/generated)
