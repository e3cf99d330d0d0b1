# Helpers every module uses, so that each core and its unit tests are also built and run under
# AddressSanitizer + UndefinedBehaviorSanitizer in the same ctest run.
set(SUITE_SANITIZE_FLAGS -fsanitize=address,undefined -fno-omit-frame-pointer
                         -fno-sanitize-recover=all)

# suite_add_core(<name> SOURCES ... [INCLUDE_DIRS ...] [LIBRARIES ...])
# Defines <name> and, with SUITE_SANITIZER_TESTS, <name>_asan built with sanitizers.
# LIBRARIES that are themselves suite cores are linked as <lib>_asan in the sanitizer variant.
function(suite_add_core name)
    cmake_parse_arguments(ARG "" "" "SOURCES;INCLUDE_DIRS;LIBRARIES;SYSTEM_LIBRARIES" ${ARGN})
    set(variants "${name}")
    if(SUITE_SANITIZER_TESTS)
        list(APPEND variants "${name}_asan")
    endif()
    foreach(target ${variants})
        add_library(${target} STATIC ${ARG_SOURCES})
        target_include_directories(${target} PUBLIC ${ARG_INCLUDE_DIRS})
        target_link_libraries(${target} PUBLIC ${ARG_SYSTEM_LIBRARIES})
        if(target MATCHES "_asan$")
            target_compile_options(${target} PUBLIC ${SUITE_SANITIZE_FLAGS})
            target_link_options(${target} PUBLIC -fsanitize=address,undefined)
            foreach(lib ${ARG_LIBRARIES})
                target_link_libraries(${target} PUBLIC ${lib}_asan)
            endforeach()
        else()
            target_link_libraries(${target} PUBLIC ${ARG_LIBRARIES})
        endif()
    endforeach()
endfunction()

# suite_add_unit_tests(<name> SOURCES ... CORES ...)
# A Catch2 executable per variant, registered with ctest as "unit: ..." and "asan: ...".
function(suite_add_unit_tests name)
    cmake_parse_arguments(ARG "" "" "SOURCES;CORES;LIBRARIES" ${ARGN})
    include(Catch)
    add_executable(${name} ${ARG_SOURCES})
    target_link_libraries(${name} PRIVATE ${ARG_CORES} ${ARG_LIBRARIES} suite_catch_main)
    catch_discover_tests(${name} TEST_PREFIX "unit: ${name}: ")
    if(SUITE_SANITIZER_TESTS)
        add_executable(${name}_asan ${ARG_SOURCES})
        set(cores)
        foreach(core ${ARG_CORES})
            list(APPEND cores ${core}_asan)
        endforeach()
        target_link_libraries(${name}_asan PRIVATE ${cores} ${ARG_LIBRARIES} suite_catch_main)
        # One ctest case for the whole binary: the sanitizer run is about memory, not names.
        add_test(NAME "asan: ${name}" COMMAND ${name}_asan)
        set_tests_properties("asan: ${name}" PROPERTIES
            ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
    endif()
endfunction()
