# Warnings are errors everywhere; sanitizers and fuzzing are opt-in.
add_compile_definitions(_GNU_SOURCE _FILE_OFFSET_BITS=64)
add_compile_options(-Wall -Wextra -Werror -Wshadow -Wformat=2 -Wvla
                    -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
                    -fno-strict-aliasing -fstack-protector-strong)
if(CMAKE_BUILD_TYPE MATCHES "Rel" AND NOT COFFER_SANITIZE)
  add_compile_definitions(_FORTIFY_SOURCE=2)
endif()
if(COFFER_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
if(COFFER_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "COFFER_FUZZ needs clang (CC=clang)")
  endif()
  # Instrument everything for coverage; only harnesses link the fuzzer main.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()
