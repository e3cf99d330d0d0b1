# Finds httpd and APR through apxs (override with -DAPXS=/path/to/apxs) and defines
# suite_add_httpd_module(<name> SOURCES ...) which builds mod_<name>.so as an httpd DSO.
find_program(APXS NAMES apxs apxs2 PATHS /usr/bin /usr/sbin DOC "Apache httpd apxs")

function(_apxs_query out var)
    execute_process(COMMAND ${APXS} -q ${var} OUTPUT_VARIABLE value
                    OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
        message(FATAL_ERROR "apxs -q ${var} failed (APXS=${APXS})")
    endif()
    set(${out} "${value}" PARENT_SCOPE)
endfunction()

if(SUITE_BUILD_MODULES)
    if(NOT APXS)
        message(FATAL_ERROR "apxs not found: install apache2-dev or pass -DAPXS=/path/to/apxs")
    endif()
    _apxs_query(HTTPD_INCLUDE_DIR INCLUDEDIR)
    _apxs_query(APR_INCLUDE_DIR APR_INCLUDEDIR)
    _apxs_query(APU_INCLUDE_DIR APU_INCLUDEDIR)
    _apxs_query(HTTPD_MODULE_DIR LIBEXECDIR)
    _apxs_query(HTTPD_SYSCONF_DIR SYSCONFDIR)
    _apxs_query(HTTPD_SBIN_DIR SBINDIR)
    _apxs_query(HTTPD_TARGET TARGET)
    _apxs_query(APR_CONFIG APR_CONFIG)
    if(APR_CONFIG)
        execute_process(COMMAND ${APR_CONFIG} --cppflags OUTPUT_VARIABLE APR_CPPFLAGS
                        OUTPUT_STRIP_TRAILING_WHITESPACE)
        separate_arguments(APR_CPPFLAGS UNIX_COMMAND "${APR_CPPFLAGS}")
    endif()
    set(HTTPD_BINARY "${HTTPD_SBIN_DIR}/${HTTPD_TARGET}" CACHE FILEPATH "httpd binary used by tests")
    message(STATUS "httpd: ${HTTPD_BINARY}, modules in ${HTTPD_MODULE_DIR}, headers in ${HTTPD_INCLUDE_DIR}")

    add_library(httpd_headers INTERFACE)
    target_include_directories(httpd_headers SYSTEM INTERFACE
        ${HTTPD_INCLUDE_DIR} ${APR_INCLUDE_DIR} ${APU_INCLUDE_DIR})
    target_compile_options(httpd_headers INTERFACE ${APR_CPPFLAGS})
endif()

# Builds mod_<name>.so and installs it with a Debian-style <name>.load file (and <name>.conf
# when CONF_FILE is given); DEPENDS lists modules a2enmod enables with it.
function(suite_add_httpd_module name)
    cmake_parse_arguments(ARG "" "CONF_FILE" "SOURCES;LIBRARIES;DEPENDS" ${ARGN})
    add_library(mod_${name} MODULE ${ARG_SOURCES})
    set_target_properties(mod_${name} PROPERTIES PREFIX "" OUTPUT_NAME mod_${name}
                          LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/modules)
    target_link_libraries(mod_${name} PRIVATE httpd_headers ${ARG_LIBRARIES})
    # httpd resolves ap_*/apr_* and mod_proxy's exports when it loads the module.
    target_link_options(mod_${name} PRIVATE -Wl,--allow-shlib-undefined)
    # AP_INIT_* in C++ needs a cast of each handler to cmd_func.
    target_compile_options(mod_${name} PRIVATE -Wno-cast-function-type)
    install(TARGETS mod_${name} LIBRARY DESTINATION ${HTTPD_MODULE_DIR})
    set(load_file ${CMAKE_BINARY_DIR}/conf/${name}.load)
    set(depends "")
    if(ARG_DEPENDS)
        string(REPLACE ";" " " depends_list "${ARG_DEPENDS}")
        set(depends "# Depends: ${depends_list}\n")
    endif()
    file(WRITE ${load_file}
         "${depends}LoadModule ${name}_module ${HTTPD_MODULE_DIR}/mod_${name}.so\n")
    install(FILES ${load_file} DESTINATION ${HTTPD_SYSCONF_DIR}/mods-available)
    if(ARG_CONF_FILE)
        install(FILES ${ARG_CONF_FILE} DESTINATION ${HTTPD_SYSCONF_DIR}/mods-available
                RENAME ${name}.conf)
    endif()
endfunction()
