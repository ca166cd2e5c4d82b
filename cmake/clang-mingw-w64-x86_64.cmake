# Cross-compiling the Winsock servers for 64-bit Windows with Debian's clang
# (--target=x86_64-w64-windows-gnu) on the same mingw-w64 headers and libraries
# as the gcc toolchain: a second compiler family, so code that only gcc accepts
# fails here. The sysroot keeps clang to the mingw-w64 tree (without it, clang
# also searches the build machine's /usr/include). lld links (Debian's lld; its
# MinGW mode reads those libraries). libgcc (compiler support routines) is the
# mingw gcc's own: clang 14 does not find it by itself, because Debian names
# its folder after the thread model (12-win32), which clang cannot read as a
# gcc version.
include(${CMAKE_CURRENT_LIST_DIR}/mingw-w64-target.cmake)
set(CMAKE_C_COMPILER clang)
set(CMAKE_C_COMPILER_TARGET x86_64-w64-windows-gnu)
set(CMAKE_SYSROOT /usr/${MINGW_TRIPLET})

execute_process(COMMAND ${MINGW_TRIPLET}-gcc -print-libgcc-file-name
                OUTPUT_VARIABLE mingw_libgcc OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE mingw_gcc_failed)
if(mingw_gcc_failed OR NOT EXISTS "${mingw_libgcc}")
  message(FATAL_ERROR "clang-mingw needs the mingw-w64 gcc's libgcc: ${MINGW_TRIPLET}-gcc not found "
                      "(Debian: apt-get install gcc-mingw-w64-x86-64, or run scripts/setup.sh)")
endif()
get_filename_component(mingw_libgcc_dir "${mingw_libgcc}" DIRECTORY)
set(CMAKE_EXE_LINKER_FLAGS_INIT "-fuse-ld=lld -L${mingw_libgcc_dir}")
