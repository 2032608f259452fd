# Every dependency is a Debian package (see README.md for the list).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
pkg_check_modules(OPENSSL REQUIRED IMPORTED_TARGET libcrypto>=3.0)
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET libzstd)
pkg_check_modules(URING REQUIRED IMPORTED_TARGET liburing)
pkg_check_modules(ARCHIVE REQUIRED IMPORTED_TARGET libarchive)
pkg_check_modules(KEYUTILS REQUIRED IMPORTED_TARGET libkeyutils)
pkg_check_modules(SQLITE REQUIRED IMPORTED_TARGET sqlite3)
pkg_check_modules(SYSTEMD REQUIRED IMPORTED_TARGET libsystemd)
pkg_check_modules(CMOCKA IMPORTED_TARGET cmocka)
# Debian's librsync-dev ships no pkg-config file.
find_path(LIBRSYNC_INCLUDE_DIR librsync.h REQUIRED)
find_library(LIBRSYNC_LIBRARY rsync REQUIRED)
add_library(Coffer::librsync UNKNOWN IMPORTED)
set_target_properties(Coffer::librsync PROPERTIES
  IMPORTED_LOCATION ${LIBRSYNC_LIBRARY}
  INTERFACE_INCLUDE_DIRECTORIES ${LIBRSYNC_INCLUDE_DIR})

# coffer_module(NAME DEPS...) builds core/NAME/*.c into static library
# coffer_NAME. Sources are globbed so a new file in a module needs no edit here.
function(coffer_module name)
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${name}/*.c)
  if(srcs)
    add_library(coffer_${name} STATIC ${srcs})
    target_include_directories(coffer_${name} PUBLIC ${PROJECT_SOURCE_DIR}/core)
    target_link_libraries(coffer_${name} PUBLIC ${ARGN})
  else() # a module whose sources are not written yet
    add_library(coffer_${name} INTERFACE)
    target_include_directories(coffer_${name} INTERFACE ${PROJECT_SOURCE_DIR}/core)
    target_link_libraries(coffer_${name} INTERFACE ${ARGN})
  endif()
endfunction()
