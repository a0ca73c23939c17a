# The test fixtures: tests/data/fixtures/fixtures.tar.xz, rewritten by tools/fixtures/fixture_codec
# so that xz finds what the files share, is unpacked and decoded into ${SLUICE_FIXTURES_DIR} at
# build time and every file checked against SHA256SUMS (see tests/data/fixtures/README.md).
set(SLUICE_FIXTURES_DIR ${CMAKE_BINARY_DIR}/fixtures)
set(fixture_archive ${CMAKE_SOURCE_DIR}/tests/data/fixtures/fixtures.tar.xz)
set(fixture_sums ${CMAKE_SOURCE_DIR}/tests/data/fixtures/SHA256SUMS)
set(fixture_stamp ${CMAKE_BINARY_DIR}/fixtures.unpacked)

add_executable(fixture_codec ${CMAKE_SOURCE_DIR}/tools/fixtures/fixture_codec.cpp)
target_link_libraries(fixture_codec PRIVATE sluice_format)

add_custom_command(
  OUTPUT ${fixture_stamp}
  COMMAND ${CMAKE_COMMAND} -DARCHIVE=${fixture_archive} -DSUMS=${fixture_sums}
          -DCODEC=$<TARGET_FILE:fixture_codec> -DOUT=${SLUICE_FIXTURES_DIR} -DSTAMP=${fixture_stamp}
          -P ${CMAKE_SOURCE_DIR}/cmake/unpack_fixtures.cmake
  DEPENDS ${fixture_archive} ${fixture_sums} fixture_codec ${CMAKE_SOURCE_DIR}/cmake/unpack_fixtures.cmake
  COMMENT "Unpacking the test fixtures into ${SLUICE_FIXTURES_DIR}"
  VERBATIM)
add_custom_target(fixtures DEPENDS ${fixture_stamp})
