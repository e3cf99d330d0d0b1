#include "status_page.h"

#include <algorithm>
#include <catch2/catch.hpp>

#include "json_grammar.h"

using namespace balancer_traffic;

namespace {

constexpr MonoNanos kSecond = 1'000'000'000;

bool contains(const std::string& text, const std::string& what) {
    return text.find(what) != std::string::npos;
}

MemberStatus member(const std::string& name, double byte_share, double target_share) {
    MemberStatus m;
    m.name = name;
    m.state = "Ok";
    m.loadfactor = 3;
    m.lbset = 1;
    m.report.eligible = true;
    m.report.window_bytes = 12345;
    m.report.window_requests = 6.5;
    m.report.byte_share = byte_share;
    m.report.request_share = byte_share;
    m.report.target_share = target_share;
    m.report.picks_total = 42;
    m.report.bytes_total = 99999;
    m.report.inflight = 2;
    return m;
}

// Two members with a minute of history; the first one's name is hostile markup and JSON.
TrafficStatus fake_report() {
    TrafficStatus status;
    status.now = 1000 * kSecond;
    BalancerStatus b;
    b.name = "balancer://cluster";
    b.lbmethod = "bytraffic";
    b.managed = b.our_lbmethod = true;
    b.config.window = std::chrono::seconds(10);
    b.members.push_back(member("http://a/<script>\"x\\\n", 0.25, 0.3));
    b.members.push_back(member("http://b", 0.75, 0.7));
    b.members[1].report.latency_ns = 1.5e6;
    b.members[1].report.latency_age_ns = 2e8;
    b.history.resize(2);
    for (MonoNanos t = 941; t <= 1000; ++t) {
        b.history[0].push_back({t * kSecond, t == 990 ? -1.0 : 0.25, 0.3});
        b.history[1].push_back({t * kSecond, 0.75, 0.7});
    }
    status.balancers.push_back(b);
    BalancerStatus stock;
    stock.name = "balancer://stock";
    stock.lbmethod = "byrequests";
    status.balancers.push_back(stock);
    return status;
}

}  // namespace

TEST_CASE("the status JSON is valid JSON whatever the member names") {
    TrafficStatus status = fake_report();
    status.balancers[0].members[0].name += std::string("\x01\xff", 2);
    const std::string json = status_json(status);
    CHECK(test_support::JsonGrammar::valid(json));
    CHECK(contains(json, R"("name":"http://a/<script>\"x\\\n\u0001)"
                         "\xef\xbf\xbd\""));
    CHECK(test_support::JsonGrammar::valid(status_json(TrafficStatus{})));
    CHECK_FALSE(test_support::JsonGrammar::valid(R"({"a":"unterminated})"));
}

TEST_CASE("the status JSON carries the report's values") {
    const std::string json = status_json(fake_report());
    CHECK(contains(json, R"({"name":"balancer://cluster","lbmethod":"bytraffic","managed":true,)"));
    CHECK(contains(json, R"("window_seconds":10.000,"slow_start_seconds":0.000)"));
    CHECK(contains(json, R"("loadfactor":3.00,"lbset":1,"state":"Ok","eligible":true)"));
    CHECK(contains(json, R"("window_bytes":12345,"window_requests":6.50)"));
    CHECK(contains(json, R"("byte_share":0.7500,"request_share":0.7500,"target_share":0.7000)"));
    CHECK(contains(json, R"("inflight":2,"picks_total":42,"bytes_total":99999)"));
    CHECK(contains(json, R"("latency_ms":1.500,"latency_age_ms":200.0})"));
    CHECK(contains(json, R"("latency_ms":null,"latency_age_ms":null})"));
    // A balancer we keep no state for is listed without members.
    CHECK(contains(json, R"({"name":"balancer://stock","lbmethod":"byrequests","managed":false,)"
                         R"("members":[]})"));
}

TEST_CASE("the status page escapes member names and shows the report's values") {
    const std::string html = status_html(fake_report());
    CHECK_FALSE(contains(html, "<script>"));
    CHECK(contains(html, "<td>http://a/&lt;script&gt;&quot;x\\</td>"));  // the newline dropped
    CHECK(contains(html,
                   "<h2>balancer://cluster</h2>\n<p>lbmethod bytraffic, traffic window 10.0 s"));
    CHECK(contains(html,
                   "<td>3.00</td><td>1</td><td>Ok</td><td>12345</td><td>6.5</td>"
                   "<td>75.0%</td><td>75.0%</td><td>70.0%</td>"));
    CHECK(contains(html, "<td>1.50 ms</td>"));
    CHECK(contains(html, "balancer://stock</h2>\n<p>lbmethod byrequests (not managed by"));
}

TEST_CASE("the status page charts each member's share and target over the last minute") {
    const std::string html = status_html(fake_report());
    CHECK(contains(html, "class=\"share-history\""));
    CHECK(contains(html, "over the last minute"));
    // A solid share line and a dashed target line per member, in the member's color.
    std::size_t shares = 0, targets = 0;
    for (auto p = html.find("class=\"share\""); p != std::string::npos;
         p = html.find("class=\"share\"", p + 1))
        ++shares;
    for (auto p = html.find("class=\"target\""); p != std::string::npos;
         p = html.find("class=\"target\"", p + 1))
        ++targets;
    CHECK(shares == 2);
    CHECK(targets == 2);
    CHECK(contains(html, "stroke=\"#1f77b4\""));
    CHECK(contains(html, "stroke=\"#ff7f0e\""));
    // The legend names the members, escaped.
    CHECK(contains(html, "&#9632;</span> http://a/&lt;script&gt;"));
    // The interval in which nothing moved is left out of the share line, not of the target.
    const auto share_line = html.find("class=\"share\"");
    const auto line_end = html.find("/>", share_line);
    const std::string points = html.substr(share_line, line_end - share_line);
    CHECK(std::count(points.begin(), points.end(), ',') == 59);
}

TEST_CASE("share_lines takes the points of the charted members from the history") {
    ShareHistory history{};
    MemberState members[2]{};
    members[0].flags = members[1].flags = kKnown | kCandidate;
    for (int t = 0; t < 5; ++t) {
        members[0].bytes_total += 100;
        members[1].bytes_total += 300;
        sample_history(history, members, 2, t * kSecond);
    }
    const auto lines = share_lines(history, 2);
    REQUIRE(lines.size() == 2);
    REQUIRE_FALSE(lines[1].empty());
    CHECK(lines[1].back().share == Approx(0.75));
    CHECK(share_lines(history, 20).size() == kHistoryMembers);
}
