#include "handover_request.h"

#include <catch2/catch.hpp>
#include <string>

using namespace ha_heartbeat;

namespace {
const std::string kNonce = "00112233445566778899aabbccddeeff";
const std::string kForm = "action=handover&nonce=" + kNonce;
}  // namespace

TEST_CASE("the page's own form (same origin, right nonce) may hand over") {
    CHECK(handover_refusal(kForm, kNonce, "10.0.0.1:8080", "http://10.0.0.1:8080", nullptr) == "");
    CHECK(handover_refusal(kForm, kNonce, "ha.example", "HTTPS://HA.example", nullptr) == "");
    // The scheme's default port, left out of Origin, in the Host header.
    CHECK(handover_refusal(kForm, kNonce, "ha.example:443", "https://ha.example", nullptr) == "");
    CHECK(handover_refusal(kForm, kNonce, "ha.example:80", "http://ha.example", nullptr) == "");
    CHECK(handover_refusal(kForm, kNonce, "ha.example:80", "https://ha.example", nullptr) != "");
    CHECK(handover_refusal(kForm, kNonce, "ha.example:8443", "https://ha.example", nullptr) != "");
    // Without Origin (older browsers), the Referer decides.
    CHECK(handover_refusal(kForm, kNonce, "ha.example", nullptr,
                           "https://ha.example/ha-status?x#y") == "");
}

TEST_CASE("a cross-site POST is refused, whatever it carries") {
    CHECK(handover_refusal(kForm, kNonce, "ha.example", "http://evil.example", nullptr)
              .find("cross-site") != std::string::npos);
    // Origin wins over a forged-looking same-site Referer.
    CHECK(handover_refusal(kForm, kNonce, "ha.example", "http://evil.example",
                           "http://ha.example/ha-status") != "");
    CHECK(handover_refusal(kForm, kNonce, "ha.example", "null", nullptr) != "");
    CHECK(handover_refusal(kForm, kNonce, "ha.example", nullptr, "http://evil.example/ha.example")
              .find("cross-site") != std::string::npos);
    // A host that merely starts like ours, user info, other schemes.
    CHECK(handover_refusal(kForm, kNonce, "ha.example", "http://ha.example.evil", nullptr) != "");
    CHECK(handover_refusal(kForm, kNonce, "ha.example", nullptr, "http://ha.example@evil/") != "");
    CHECK(handover_refusal(kForm, kNonce, "ha.example", "file://ha.example", nullptr) != "");
    CHECK(handover_refusal(kForm, kNonce, "ha.example", nullptr, nullptr) ==
          "neither Origin nor Referer");
    CHECK(handover_refusal(kForm, kNonce, nullptr, "http://ha.example", nullptr) ==
          "no Host header");
}

TEST_CASE("a same-origin POST without the page's nonce is refused") {
    const char* host = "ha.example";
    const char* origin = "http://ha.example";
    CHECK(handover_refusal("action=handover", kNonce, host, origin, nullptr) == "no nonce");
    CHECK(handover_refusal("action=handover&nonce=", kNonce, host, origin, nullptr) == "no nonce");
    std::string wrong = kNonce;
    wrong[5] = wrong[5] == 'a' ? 'b' : 'a';
    CHECK(handover_refusal("action=handover&nonce=" + wrong, kNonce, host, origin, nullptr) ==
          "wrong nonce");
    CHECK(handover_refusal("action=handover&nonce=" + kNonce + "0", kNonce, host, origin,
                           nullptr) == "wrong nonce");
    // No nonce was ever drawn (no randomness at start): nothing matches, not even "".
    CHECK(handover_refusal("action=handover&nonce=", "", host, origin, nullptr) != "");
}

TEST_CASE("form fields are found by exact name") {
    std::string_view v;
    REQUIRE(form_field("a=1&action=handover&nonce=xy", "action", &v));
    CHECK(v == "handover");
    REQUIRE(form_field("a=1&action=handover&nonce=xy", "nonce", &v));
    CHECK(v == "xy");
    CHECK_FALSE(form_field("xnonce=1&noncex=2", "nonce", &v));
    REQUIRE(form_field("flag", "flag", &v));
    CHECK(v.empty());
}
