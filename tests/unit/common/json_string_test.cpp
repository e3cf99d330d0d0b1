#include "json_string.h"

#include <catch2/catch.hpp>
#include <string>

using suite::json_string;

TEST_CASE("json_string quotes plain text unchanged") {
    CHECK(json_string("") == "\"\"");
    CHECK(json_string("balancer://web") == "\"balancer://web\"");
}

TEST_CASE("json_string escapes quotes and backslashes") {
    CHECK(json_string("a\"b") == "\"a\\\"b\"");
    CHECK(json_string("C:\\x") == "\"C:\\\\x\"");
    // A trailing backslash must not escape the closing quote.
    CHECK(json_string("end\\") == "\"end\\\\\"");
}

TEST_CASE("json_string escapes every control character") {
    CHECK(json_string("a\nb\rc\td") == "\"a\\nb\\rc\\td\"");
    CHECK(json_string(std::string("x\0y", 3)) == "\"x\\u0000y\"");
    CHECK(json_string("\x01\x1f\x7f") == "\"\\u0001\\u001f\\u007f\"");
    for (int c = 0; c < 0x20; ++c) {
        const std::string out = json_string(std::string(1, static_cast<char>(c)));
        INFO("character " << c);
        CHECK(out.size() > 3);
        CHECK(out[1] == '\\');
    }
}

TEST_CASE("json_string passes non-ASCII UTF-8 through") {
    CHECK(json_string("n\xc5\x93ud \xe2\x82\xac \xf0\x9f\x98\x80") ==
          "\"n\xc5\x93ud \xe2\x82\xac \xf0\x9f\x98\x80\"");
}

TEST_CASE("json_string replaces bytes that are not UTF-8, so the document stays valid") {
    CHECK(suite::json_string("a\xff"
                             "b") ==
          "\"a\xef\xbf\xbd"
          "b\"");
    CHECK(suite::json_string("\xc3") == "\"\xef\xbf\xbd\"");                      // truncated
    CHECK(suite::json_string("\xc0\xaf") == "\"\xef\xbf\xbd\xef\xbf\xbd\"");      // overlong
    CHECK(suite::json_string("\xed\xa0\x80").find("\xed") == std::string::npos);  // surrogate
    CHECK(suite::json_string("\xf0\x9f\x98\x80") == "\"\xf0\x9f\x98\x80\"");      // U+1F600 kept
}
