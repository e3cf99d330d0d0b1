#include <catch2/catch.hpp>
#include <ctime>

#include "status_report.h"
#include "sync_engine.h"

using namespace docsync;

TEST_CASE("DocSyncSource arguments parse into options, errors name the argument") {
    SourceOptions s;
    std::string error;
    REQUIRE(
        parse_source_args({"https://primary/.docsync/conf/", "/etc/apache2/common/", "delete=off",
                           "restart=graceful", "exclude=*.swp", "exclude=local/*"},
                          &s, &error));
    CHECK(s.url == "https://primary/.docsync/conf");
    CHECK(s.local_dir == "/etc/apache2/common");
    CHECK_FALSE(s.delete_extraneous);
    CHECK(s.restart_graceful);
    CHECK(s.excludes == std::vector<std::string>{"*.swp", "local/*"});

    CHECK_FALSE(parse_source_args({"http://h/x"}, &s, &error));
    CHECK_FALSE(parse_source_args({"file:///etc", "/tmp/x"}, &s, &error));
    CHECK_FALSE(parse_source_args({"http://h/x", "relative"}, &s, &error));
    CHECK_FALSE(parse_source_args({"http://h/x", "/"}, &s, &error));
    CHECK_FALSE(parse_source_args({"http://h/x", "/tmp/x", "restart=now"}, &s, &error));
    CHECK(error.find("restart=now") != std::string::npos);
    CHECK_FALSE(parse_source_args({"http://h/x", "/tmp/x", "exclude="}, &s, &error));
}

TEST_CASE("the status file round-trips and renders escaped HTML and JSON") {
    SourceStatus a;
    a.url = "http://primary/.docsync/<conf>";
    a.local_dir = "/etc/apache2/common";
    a.result = "config-rejected";
    a.rounds = 3;
    a.bytes_received = 12345;
    a.restart_graceful = true;
    a.last_error = "line 1\n\"quoted\" & <b>";
    a.config_check_output = "AH00526: Syntax error on line 2";
    SourceStatus b;
    b.url = "http://primary/.docsync/site";
    std::int64_t pid = 0;
    auto parsed = parse_status(serialise_status({a, b}, 4242), &pid);
    REQUIRE(parsed.size() == 2);
    CHECK(pid == 4242);
    CHECK(parsed[0].url == a.url);
    CHECK(parsed[0].last_error == a.last_error);
    CHECK(parsed[0].rounds == 3);
    CHECK(parsed[0].bytes_received == 12345);
    CHECK(parsed[0].restart_graceful);
    CHECK(parsed[1].result == "pending");

    std::string html = render_status_html(parsed, pid, true);
    CHECK(html.find("<conf>") == std::string::npos);
    CHECK(html.find("&lt;conf&gt;") != std::string::npos);
    CHECK(html.find("&lt;b&gt;") != std::string::npos);
    std::string json = render_status_json(parsed, pid, true);
    CHECK(json.find("\\\"quoted\\\"") != std::string::npos);
    CHECK(json.find("\\n") != std::string::npos);
    CHECK(json.find("\"rounds\":3") != std::string::npos);
    CHECK(json.find("\"sync_child_running\":true") != std::string::npos);

    // A damaged file yields empty fields, not a crash.
    CHECK(parse_status("source 0\nurl %zz\nrounds x\n\x01\n", &pid).size() == 1);
}

TEST_CASE("the config check replaces the synced directory only where it is a whole path") {
    const std::string text =
        "Include /etc/apache2/common/*.conf\n"
        "IncludeOptional \"/etc/apache2/common\"\n"
        "Alias /x /etc/apache2/common-extra/x\n"
        "DocumentRoot /etc/apache2/common";
    CHECK(replace_dir_path(text, "/etc/apache2/common", "/etc/apache2/.docsync-stage.common") ==
          "Include /etc/apache2/.docsync-stage.common/*.conf\n"
          "IncludeOptional \"/etc/apache2/.docsync-stage.common\"\n"
          "Alias /x /etc/apache2/common-extra/x\n"
          "DocumentRoot /etc/apache2/.docsync-stage.common");
    CHECK(staging_dir_for("/etc/apache2/common") == "/etc/apache2/.docsync-stage.common");
}

TEST_CASE("the status keeps the recent sync events, bounded, and draws them") {
    SourceStatus s;
    s.url = "http://primary/.docsync/site";
    for (int i = 0; i < static_cast<int>(kMaxSyncEvents) + 5; ++i)
        note_sync_event(s, 1000 + i, i % 3 ? "ok" : "error", i, 100 * i);
    auto events = parse_sync_events(s.events);
    REQUIRE(events.size() == kMaxSyncEvents);
    CHECK(events.front().unix_time == 1005);  // the oldest five were dropped
    CHECK(events.back().result == "ok");
    CHECK(events.back().bytes == 100 * (kMaxSyncEvents + 4));
    // The events survive the status board's text form.
    std::int64_t pid = 0;
    auto parsed = parse_status(serialise_status({s}, 7), &pid);
    REQUIRE(parsed.size() == 1);
    CHECK(parsed[0].events == s.events);
    // Garbage in the field is skipped, not trusted.
    CHECK(parse_sync_events("x y z;12 ok 1 2;;-;3").size() == 1);
    s.events.clear();
    note_sync_event(s, std::time(nullptr), "config-rejected", 1, 10);
    const std::string html = render_status_html({s}, 7, true);
    CHECK(html.find("<svg class=\"sync-events\"") != std::string::npos);
    CHECK(html.find("#ff7f0e") != std::string::npos);  // a refused configuration is orange
}
