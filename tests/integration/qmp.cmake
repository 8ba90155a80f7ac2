# The qmp library against a real QEMU guest (included from tests/integration/CMakeLists.txt).
add_executable(qmp_guest_check ${CMAKE_CURRENT_LIST_DIR}/qmp_guest_check.cpp)
target_link_libraries(qmp_guest_check PRIVATE guestdump::qmp guestdump::common)

add_test(NAME integration.qmp.guest COMMAND ${GUESTDUMP_CLEAN_ON_PASS} ${CMAKE_CURRENT_LIST_DIR}/qmp_guest.sh)
set_tests_properties(integration.qmp.guest PROPERTIES
  LABELS integration TIMEOUT 1200 SKIP_RETURN_CODE 77
  ENVIRONMENT "QMP_CHECK=$<TARGET_FILE:qmp_guest_check>;GUESTDUMP=$<TARGET_FILE:guestdump>;WORK=${CMAKE_CURRENT_BINARY_DIR}/work/qmp-guest;FIXTURE_CACHE=${GUESTDUMP_FIXTURE_ROOT}/cache;FIXTURES=${PROJECT_SOURCE_DIR}/tests/fixtures")
