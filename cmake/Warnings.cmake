# Strict warnings for project code only; third-party headers are included as
# SYSTEM so their warnings never fail our build.
function(perturbgen_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                                           -Wcast-align -Wunused -Woverloaded-virtual
                                           -Wimplicit-fallthrough)
  # GCC 12 reports false -Wrestrict positives inside std::string concatenation (GCC bug 105329).
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(${target} PRIVATE -Wno-restrict)
  endif()
  if(PERTURBGEN_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
