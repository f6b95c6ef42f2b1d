# Script mode: install (find_package mode) then configure, build and run the consumer project.
function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "command failed (${rc}): ${ARGV}\n${out}\n${err}")
  endif()
endfunction()

file(REMOVE_RECURSE ${WORK})
if(MODE STREQUAL "find_package")
  file(REMOVE_RECURSE ${PREFIX})
  run(${CMAKE_COMMAND} --install ${RECBLOCKS_BINARY_DIR} --prefix ${PREFIX})
  if(NOT EXISTS ${PREFIX}/share/pkgconfig/recblocks.pc)
    message(FATAL_ERROR "recblocks.pc was not installed")
  endif()
  run(${CMAKE_COMMAND} -S ${RECBLOCKS_SOURCE_DIR}/tests/consumer_test/project -B ${WORK}
      -DCMAKE_PREFIX_PATH=${PREFIX} -DCONSUMER_MODE=find_package)
else()
  run(${CMAKE_COMMAND} -S ${RECBLOCKS_SOURCE_DIR}/tests/consumer_test/project -B ${WORK}
      -DRECBLOCKS_DIR=${RECBLOCKS_SOURCE_DIR} -DCONSUMER_MODE=add_subdirectory)
endif()
run(${CMAKE_COMMAND} --build ${WORK})
run(${WORK}/consumer)
