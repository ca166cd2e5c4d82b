# Cross-compiling the Winsock servers for 64-bit Windows with Debian's
# gcc-mingw-w64-x86-64; the tests run them under Wine (scripts/wine-run).
include(${CMAKE_CURRENT_LIST_DIR}/mingw-w64-target.cmake)
set(CMAKE_C_COMPILER ${MINGW_TRIPLET}-gcc)
