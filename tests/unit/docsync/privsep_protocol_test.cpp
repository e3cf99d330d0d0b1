#include "privsep_protocol.h"

#include <catch2/catch.hpp>
#include <string>

using namespace docsync;

TEST_CASE("a swap request round-trips and is the only thing the helper accepts") {
    SwapRequest r{3, 42};
    std::string m = format_swap_request(r);
    CHECK(m == "swap source 3 generation 42");
    auto parsed = parse_swap_request(m);
    REQUIRE(parsed);
    CHECK(parsed->source_index == 3);
    CHECK(parsed->generation == 42);
    auto big = parse_swap_request(format_swap_request({9999, 18446744073709551615ull}));
    REQUIRE(big);
    CHECK(big->generation == 18446744073709551615ull);
}

TEST_CASE("hostile or malformed messages to the privileged helper are refused whole") {
    const char* hostile[] = {
        "",
        "swap",
        "swap source",
        "swap source 1",
        "swap source 1 generation",
        "swap source 1 generation ",
        "swap source 1 generation 0",   // generations start at 1
        "swap source 01 generation 1",  // not canonical
        "swap source 1 generation 01",
        "swap source -1 generation 1",
        "swap source +1 generation 1",
        "swap source 1 generation -1",
        "swap source 10000 generation 1",                 // more digits than any index
        "swap source 1 generation 18446744073709551616",  // overflows uint64
        "swap source 1 generation 99999999999999999999",
        "swap source 1 generation 1\n",
        "swap source 1 generation 1 ",
        " swap source 1 generation 1",
        "swap  source 1 generation 1",
        "swap source 1  generation 1",
        "SWAP source 1 generation 1",
        "swap source 1 generation 1 path /etc",
        "swap source ../../etc generation 1",
        "swap source /etc/apache2 generation 1",
        "swap source 0x1 generation 1",
        "swap source 1 generation 1e3",
        "restart",
        "swapped 1",
    };
    for (const char* m : hostile) {
        INFO(m);
        CHECK_FALSE(parse_swap_request(m));
    }
    std::string with_nul("swap source 1 generation 1\0", 27);
    CHECK_FALSE(parse_swap_request(with_nul));
    std::string with_nul_inside("swap source 1\0 generation 1", 27);
    CHECK_FALSE(parse_swap_request(with_nul_inside));
    std::string long_message = "swap source 1 generation " + std::string(100, '1');
    CHECK_FALSE(parse_swap_request(long_message));
}

TEST_CASE("the helper's replies round-trip; anything else is not a reply") {
    for (HelperReply r : {HelperReply{HelperReplyKind::kSwapped, 7, 0},
                          HelperReply{HelperReplyKind::kRefused, 8, 13},
                          HelperReply{HelperReplyKind::kRestarted, 0, 0}}) {
        auto parsed = parse_helper_reply(format_helper_reply(r));
        REQUIRE(parsed);
        CHECK(parsed->kind == r.kind);
        CHECK(parsed->generation == r.generation);
        CHECK(parsed->error == r.error);
    }
    for (const char* m : {"", "swapped", "swapped x", "refused 1", "refused 1 99999", "restarted 1",
                          "swapped 1 2", "ok"}) {
        INFO(m);
        CHECK_FALSE(parse_helper_reply(m));
    }
}

TEST_CASE("the helper carries out only swaps of restart=graceful sources, each generation once") {
    const std::vector<bool> graceful = {true, false, true};
    auto decide = [&](const std::string& m, std::uint64_t last) {
        return decide_swap(m, m.size(), graceful, last);
    };
    SwapDecision ok = decide("swap source 2 generation 5", 4);
    REQUIRE(ok.request);
    CHECK(ok.refusal == nullptr);
    CHECK(ok.request->source_index == 2);

    CHECK(std::string(decide("swap source 3 generation 5", 4).refusal) == "no such source");
    CHECK(std::string(decide("swap source 9999 generation 5", 4).refusal) == "no such source");
    CHECK(std::string(decide("swap source 1 generation 5", 4).refusal) ==
          "source is not restart=graceful");
    // A replayed or reordered request is refused.
    CHECK(std::string(decide("swap source 0 generation 4", 4).refusal) ==
          "generation not newer than the last");
    CHECK(std::string(decide("swap source 0 generation 3", 4).refusal) ==
          "generation not newer than the last");
    CHECK(std::string(decide("swap source 0 generation 1 ", 0).refusal) == "not a swap request");
    // A datagram longer than the buffer (recv with MSG_TRUNC reports its real length) is
    // refused even if its first bytes parse.
    std::string m = "swap source 0 generation 1";
    CHECK_FALSE(decide_swap(m, m.size() + 100, graceful, 0).request);
    CHECK_FALSE(decide_swap(m, 0, graceful, 0).request);
    CHECK_FALSE(decide_swap("", 0, {}, 0).request);
}
