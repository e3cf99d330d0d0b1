#include "status_metrics.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "exposition_lines.h"
#include "fake_balancer.h"

using namespace balancer_traffic;
using namespace balancer_traffic::testing;

namespace {

// A managed balancer whose members' reports come from report_members over a real run.
BalancerStatus status_of(FakeBalancer& b, const std::vector<std::string>& names) {
    BalancerStatus s;
    s.name = "balancer://web";
    s.lbmethod = "bytraffic";
    s.managed = true;
    s.config = b.config;
    std::vector<MemberReport> reports(b.inputs.size());
    report_members(b.config, b.view(), b.inputs.data(), b.inputs.size(), b.now, reports.data());
    for (std::size_t i = 0; i < b.inputs.size(); ++i)
        s.members.push_back({names[i], reports[i], b.inputs[i].loadfactor / 100.0,
                             b.inputs[i].usable, b.served_requests[i], "Ok", 0});
    return s;
}

}  // namespace

TEST_CASE("balancer metrics carry the status report's numbers per member") {
    FakeBalancer b({1, 3});
    b.run(400, 4 * kSecond, [](int) { return 1000; });
    const BalancerStatus s = status_of(b, {"http://a:80", "http://b:80"});
    const std::string page = render_metrics({s}, suite::MetricsFormat::kPrometheusText);
    const std::string a = "{balancer=\"balancer://web\",member=\"http://a:80\"}";
    const std::string bm = "{balancer=\"balancer://web\",member=\"http://b:80\"}";
    CHECK(has_line(page, "httpd_balancer_traffic_member_picks_total" + a + " " +
                             suite::metric_value(s.members[0].report.picks_total)));
    CHECK(has_line(page, "httpd_balancer_traffic_member_bytes_total" + bm + " " +
                             suite::metric_value(s.members[1].report.bytes_total)));
    CHECK(has_line(page, "httpd_balancer_traffic_member_requests_total" + a + " " +
                             suite::metric_value(b.served_requests[0])));
    CHECK(has_line(page, "httpd_balancer_traffic_member_target_share_ratio" + bm + " 0.75"));
    CHECK(has_line(page, "httpd_balancer_traffic_member_byte_share_ratio" + bm + " " +
                             suite::metric_value(s.members[1].report.byte_share)));
    CHECK(s.members[1].report.byte_share == Approx(0.75).margin(0.05));
    CHECK(has_line(page, "httpd_balancer_traffic_member_window_bytes" + a + " " +
                             suite::metric_value(s.members[0].report.window_bytes)));
    CHECK(has_line(page, "httpd_balancer_traffic_member_eligible" + a + " 1"));
    CHECK(has_line(page, "httpd_balancer_traffic_member_loadfactor" + bm + " 3"));
    CHECK(has_line(page, "httpd_balancer_traffic_member_slow_start_ratio" + a + " 1"));
    CHECK(has_line(page, "httpd_balancer_traffic_member_in_flight_requests" + a + " 0"));
    CHECK(has_line(page, "httpd_balancer_traffic_usable_members{balancer=\"balancer://web\"} 2"));
    CHECK(has_line(page, "httpd_balancer_traffic_window_seconds{balancer=\"balancer://web\"} " +
                             suite::metric_value(b.config.window.count() / 1e9)));
    CHECK(has_line(page,
                   "httpd_balancer_traffic_balancer_info{balancer=\"balancer://web\","
                   "lbmethod=\"bytraffic\",managed=\"true\"} 1"));
    CHECK(has_line(page, "# TYPE httpd_balancer_traffic_member_picks_total counter"));
    // bytraffic keeps no latency estimate: no sample rather than a made-up zero.
    CHECK(page.find("httpd_balancer_traffic_member_latency_seconds{") == std::string::npos);
}

TEST_CASE("an unusable member counts against the balancer's usable members") {
    FakeBalancer b({1, 1});
    b.inputs[0].usable = false;
    b.run(10, kSecond, [](int) { return 100; });
    const std::string page =
        render_metrics({status_of(b, {"m0", "m1"})}, suite::MetricsFormat::kPrometheusText);
    CHECK(has_line(page, "httpd_balancer_traffic_usable_members{balancer=\"balancer://web\"} 1"));
    CHECK(has_line(page,
                   "httpd_balancer_traffic_member_usable{balancer=\"balancer://web\","
                   "member=\"m0\"} 0"));
}

TEST_CASE("bylatency members show their latency estimate in seconds") {
    FakeBalancer b({1, 1}, {}, Algorithm::kByLatency);
    for (int i = 0; i < 50; ++i) {
        b.inputs[0].usable = i >= 10;  // the slow member gets samples too
        const int m = b.pick();
        b.now += kMillisecond;
        b.answer(static_cast<std::size_t>(m), (m ? 20 : 2) * kMillisecond);
    }
    BalancerStatus s = status_of(b, {"fast", "slow"});
    s.lbmethod = "bylatency";
    const std::string page = render_metrics({s}, suite::MetricsFormat::kOpenMetrics);
    CHECK(has_line(page,
                   "httpd_balancer_traffic_member_latency_seconds{balancer=\"balancer://"
                   "web\",member=\"slow\"} " +
                       suite::metric_value(s.members[1].report.latency_ns / 1e9)));
    CHECK(s.members[1].report.latency_ns / 1e9 == Approx(0.020).epsilon(0.3));
    CHECK(has_line(page, "# UNIT httpd_balancer_traffic_member_latency_seconds seconds"));
    CHECK(has_line(page, "# TYPE httpd_balancer_traffic_member_picks counter"));
    CHECK(page.size() > 6);
    CHECK(page.substr(page.size() - 6) == "# EOF\n");
}

TEST_CASE("balancer and member names with quotes, backslashes and newlines are escaped") {
    FakeBalancer b({1});
    b.run(5, kSecond, [](int) { return 10; });
    BalancerStatus s = status_of(b, {"http://x/\"q\"\\b\nc"});
    s.name = "balancer://a\\\"b";
    const std::string page = render_metrics({s}, suite::MetricsFormat::kPrometheusText);
    CHECK(has_line(page,
                   "httpd_balancer_traffic_member_usable{balancer=\"balancer://a\\\\\\\"b\","
                   "member=\"http://x/\\\"q\\\"\\\\b\\nc\"} 1"));
}

TEST_CASE("a balancer not managed by the module lists only its info and usable members") {
    BalancerStatus s;
    s.name = "balancer://other";
    s.lbmethod = "byrequests";
    s.members.push_back({"http://z", {}, 1, true, 5, "Ok", 0});
    const std::string page = render_metrics({s}, suite::MetricsFormat::kPrometheusText);
    CHECK(has_line(page, "httpd_balancer_traffic_usable_members{balancer=\"balancer://other\"} 1"));
    CHECK(has_line(page,
                   "httpd_balancer_traffic_balancer_info{balancer=\"balancer://other\","
                   "lbmethod=\"byrequests\",managed=\"false\"} 1"));
    CHECK(page.find("member=\"http://z\"") == std::string::npos);
}
