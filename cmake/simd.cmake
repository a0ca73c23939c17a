# Kernels are compiled for several instruction sets in separate files and picked at run time
# (quant/cpu_features.h), so one binary runs on any x86-64 and uses AVX-512 where present.
# A file named *_avx2.cpp gets AVX2+FMA+F16C flags, *_avx512.cpp gets the AVX-512 set and
# *_avx512vbmi.cpp that set with VBMI's byte permutes and BITALG's bit shuffles (used only where
# the CPU has both).
function(sluice_simd_flags)
  file(GLOB_RECURSE avx2 CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/*_avx2.cpp)
  file(GLOB_RECURSE avx512 CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/*_avx512.cpp)
  set_source_files_properties(${avx2} PROPERTIES COMPILE_OPTIONS "-mavx2;-mfma;-mf16c;-mbmi2")
  file(GLOB_RECURSE avx512vbmi CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/*_avx512vbmi.cpp)
  set(avx512_flags "-mavx512f;-mavx512bw;-mavx512dq;-mavx512vl;-mavx512vnni;-mavx512bf16;-mavx2;-mfma;-mf16c;-mbmi2")
  set_source_files_properties(${avx512} PROPERTIES COMPILE_OPTIONS "${avx512_flags}")
  set_source_files_properties(${avx512vbmi} PROPERTIES COMPILE_OPTIONS "${avx512_flags};-mavx512vbmi;-mavx512bitalg")
endfunction()
sluice_simd_flags()
