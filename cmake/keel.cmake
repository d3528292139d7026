# Helpers that give every library, service and test the same shape (see STYLE.md).

option(KEEL_SANITIZE "Build with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)
if(KEEL_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()
add_compile_options(-Wall -Wextra -Wno-missing-field-initializers)
# Asio: no deprecated APIs, and one place where the io_uring/epoll choice is made.
add_compile_definitions(BOOST_ASIO_NO_DEPRECATED BOOST_BEAST_USE_STD_STRING_VIEW)

# keel_add_library(<name> DEPS <targets...> PRIVATE_DEPS <targets...>)
# Builds libs/<name>/src/*.cpp (minus *_test.cpp) as keel_<name>, alias keel::<name>;
# every src/*_test.cpp becomes a gtest binary labelled by its suffix.
function(keel_add_library name)
  cmake_parse_arguments(ARG "" "" "DEPS;PRIVATE_DEPS" ${ARGN})
  file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/src/*.cpp)
  list(FILTER sources EXCLUDE REGEX "_(test|pgtest|redistest|natstest)\\.cpp$")
  add_library(keel_${name} STATIC ${sources})
  add_library(keel::${name} ALIAS keel_${name})
  target_include_directories(keel_${name}
    PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include
    PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_link_libraries(keel_${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  keel_add_tests(keel_${name} ${CMAKE_CURRENT_SOURCE_DIR}/src)
endfunction()

# keel_add_tests(<target-under-test> <dir>): one gtest binary per test suffix found in <dir>.
# The suffix says what a test needs and becomes its ctest label:
#   _test -> unit, _pgtest -> pg, _redistest -> redis.
function(keel_add_tests target dir)
  foreach(kind test pgtest redistest)
    file(GLOB tests CONFIGURE_DEPENDS ${dir}/*_${kind}.cpp)
    if(NOT tests)
      continue()
    endif()
    set(label unit)
    if(kind STREQUAL "pgtest")
      set(label pg)
    elseif(kind STREQUAL "redistest")
      set(label redis)
    endif()
    set(exe ${target}_${kind})
    add_executable(${exe} ${tests})
    target_include_directories(${exe} PRIVATE ${dir})
    target_compile_definitions(${exe} PRIVATE KEEL_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
    target_link_libraries(${exe} PRIVATE ${target} keel::testing GTest::gtest_main)
    add_test(NAME ${exe} COMMAND ${exe})
    set_tests_properties(${exe} PROPERTIES LABELS ${label} TIMEOUT 300)
  endforeach()
endfunction()

# keel_embed_migrations(<target> <dir> <namespace>)
# Compiles migrations/NNNN_name.sql into the binary so a deployed service carries its schema.
function(keel_embed_migrations target dir ns)
  file(GLOB files CONFIGURE_DEPENDS ${dir}/*.sql)
  list(SORT files)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${target}_migrations.cpp)
  set(body "#include <keel/pg/migrations.hpp>\nnamespace ${ns} {\nstd::span<const keel::pg::Migration> Migrations() {\n    static const keel::pg::Migration kMigrations[] = {\n")
  foreach(f ${files})
    get_filename_component(fname ${f} NAME_WE)
    string(REGEX MATCH "^[0-9]+" version ${fname})
    math(EXPR version "${version} + 0")
    file(READ ${f} sql)
    string(APPEND body "        {${version}, \"${fname}\", R\"keelsql(${sql})keelsql\"},\n")
  endforeach()
  string(APPEND body "    };\n    return kMigrations;\n}\n}  // namespace ${ns}\n")
  file(CONFIGURE OUTPUT ${out} CONTENT "${body}" @ONLY)
  target_sources(${target} PRIVATE ${out})
endfunction()

# keel_add_service(<name> [NAMESPACE ns] DEPS ...): services/<name>/src/*.cpp as a
# library that the binary keel-<name> and the service's tests both link; migrations
# embedded as <ns>::Migrations() (default keel::<name>).
function(keel_add_service name)
  cmake_parse_arguments(ARG "" "NAMESPACE" "DEPS" ${ARGN})
  if(NOT ARG_NAMESPACE)
    set(ARG_NAMESPACE keel::${name})
  endif()
  file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/src/*.cpp)
  list(FILTER sources EXCLUDE REGEX "_(test|pgtest|redistest|natstest)\\.cpp$")
  set(lib ${name}_service)
  add_library(${lib} STATIC ${sources})
  target_include_directories(${lib} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_link_libraries(${lib} PUBLIC ${ARG_DEPS})
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/migrations)
    keel_embed_migrations(${lib} ${CMAKE_CURRENT_SOURCE_DIR}/migrations ${ARG_NAMESPACE})
  endif()
  add_executable(keel-${name} ${CMAKE_CURRENT_SOURCE_DIR}/main.cpp)
  target_link_libraries(keel-${name} PRIVATE ${lib})
  keel_add_tests(${lib} ${CMAKE_CURRENT_SOURCE_DIR}/src)
endfunction()
