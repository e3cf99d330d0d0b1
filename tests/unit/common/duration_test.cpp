#include "duration.h"

#include <catch2/catch.hpp>

using namespace std::chrono;
using suite::parse_duration;
using suite::parse_size;

TEST_CASE("durations take the units an administrator writes") {
    CHECK(*parse_duration("100ms", seconds(1)).value == milliseconds(100));
    CHECK(*parse_duration("10s", seconds(1)).value == seconds(10));
    CHECK(*parse_duration("1.5s", seconds(1)).value == milliseconds(1500));
    CHECK(*parse_duration("2m", seconds(1)).value == minutes(2));
    CHECK(*parse_duration("1h", seconds(1)).value == hours(1));
    CHECK(*parse_duration("250us", seconds(1)).value == microseconds(250));
    CHECK(*parse_duration("3", seconds(1)).value == seconds(3));
    CHECK(*parse_duration("3", milliseconds(1)).value == milliseconds(3));
}

TEST_CASE("bad durations are refused with a reason") {
    for (const char* bad : {"", "s", "-1s", "10 s", "10sec", "1e3s", "abc", "1..2s", "9999999h"}) {
        INFO(bad);
        auto parsed = parse_duration(bad, seconds(1));
        CHECK_FALSE(parsed);
        CHECK_FALSE(parsed.error.empty());
    }
}

TEST_CASE("sizes take k, M and G") {
    CHECK(*parse_size("512").value == 512);
    CHECK(*parse_size("64k").value == 64 * 1024);
    CHECK(*parse_size("64KB").value == 64 * 1024);
    CHECK(*parse_size("2M").value == 2 * 1024 * 1024);
    CHECK(*parse_size("1G").value == 1024ull * 1024 * 1024);
    CHECK_FALSE(parse_size("12X"));
    CHECK_FALSE(parse_size("-5k"));
}

TEST_CASE("durations print back the way they are written") {
    CHECK(suite::format_duration(seconds(10)) == "10s");
    CHECK(suite::format_duration(seconds(90)) == "90s");
    CHECK(suite::format_duration(minutes(2)) == "2m");
    CHECK(suite::format_duration(hours(24)) == "24h");
    CHECK(suite::format_duration(milliseconds(250)) == "250ms");
    CHECK(suite::format_duration(microseconds(5)) == "5us");
}
