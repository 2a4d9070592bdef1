# Code generation from .proto files with protoc-c.
#
# aw_protoc_c(<out_var> IMPORT_DIRS <dir>... PROTOS <relative path>...)
#   Runs protoc-c over each PROTOS entry (a path relative to one of IMPORT_DIRS) and
#   appends the generated .pb-c.c files to <out_var>. Output lands in
#   ${AW_GEN_DIR}/<same relative path>, so generated includes resolve against
#   AW_GEN_DIR alone.
#
# aw_descriptor_set(<out_file> IMPORT_DIRS <dir>... PROTOS <relative path>...)
#   Writes a FileDescriptorSet of PROTOS and everything they import.

find_program(AW_PROTOC protoc REQUIRED)
find_program(AW_PROTOC_C protoc-c REQUIRED)

function(_aw_find_proto out rel)
  foreach(dir ${ARGN})
    if(EXISTS "${dir}/${rel}")
      set(${out} "${dir}/${rel}" PARENT_SCOPE)
      return()
    endif()
  endforeach()
  message(FATAL_ERROR "${rel} not found under: ${ARGN}")
endfunction()

function(aw_protoc_c out_var)
  cmake_parse_arguments(A "" "" "IMPORT_DIRS;PROTOS" ${ARGN})
  set(include_args)
  foreach(dir ${A_IMPORT_DIRS})
    list(APPEND include_args "-I${dir}")
  endforeach()
  set(srcs ${${out_var}})
  foreach(rel ${A_PROTOS})
    _aw_find_proto(abs "${rel}" ${A_IMPORT_DIRS})
    string(REGEX REPLACE "\\.proto$" "" stem "${rel}")
    set(c "${AW_GEN_DIR}/${stem}.pb-c.c")
    set(h "${AW_GEN_DIR}/${stem}.pb-c.h")
    add_custom_command(
      OUTPUT "${c}" "${h}"
      COMMAND ${CMAKE_COMMAND} -E make_directory "${AW_GEN_DIR}"
      COMMAND ${AW_PROTOC_C} ${include_args} "--c_out=${AW_GEN_DIR}" "${rel}"
      DEPENDS "${abs}"
      COMMENT "protoc-c ${rel}"
      VERBATIM)
    list(APPEND srcs "${c}")
  endforeach()
  set(${out_var} ${srcs} PARENT_SCOPE)
endfunction()

function(aw_descriptor_set out_file)
  cmake_parse_arguments(A "" "" "IMPORT_DIRS;PROTOS" ${ARGN})
  set(include_args)
  set(deps)
  foreach(dir ${A_IMPORT_DIRS})
    list(APPEND include_args "-I${dir}")
  endforeach()
  foreach(rel ${A_PROTOS})
    _aw_find_proto(abs "${rel}" ${A_IMPORT_DIRS})
    list(APPEND deps "${abs}")
  endforeach()
  add_custom_command(
    OUTPUT "${out_file}"
    COMMAND ${AW_PROTOC} ${include_args} --include_imports --include_source_info
            "--descriptor_set_out=${out_file}" ${A_PROTOS}
    DEPENDS ${deps}
    COMMENT "descriptor set ${out_file}"
    VERBATIM)
endfunction()
