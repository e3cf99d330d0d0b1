#include "long_poll_cap.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "exposition_lines.h"
#include "status_metrics.h"
#include "status_report.h"

using namespace docsync;

namespace {

// Memory as the shared segment gives it: raw, suitably aligned.
struct TableMemory {
    explicit TableMemory(std::size_t entries)
        : words((LongPollTable::bytes_needed(entries) + sizeof(std::max_align_t) - 1) /
                sizeof(std::max_align_t)),
          memory(new std::max_align_t[words]()) {}
    std::size_t bytes() const { return words * sizeof(std::max_align_t); }
    std::size_t words;
    std::unique_ptr<std::max_align_t[]> memory;
};

LongPollShare share(const std::string& text) {
    LongPollShare s;
    std::string error;
    INFO(text << ": " << error);
    REQUIRE(parse_long_poll_share(text, &s, &error));
    return s;
}

std::string share_refusal(const std::string& text) {
    LongPollShare s;
    std::string error;
    CHECK_FALSE(parse_long_poll_share(text, &s, &error));
    return error;
}

unsigned cap_of(const std::string& text, unsigned workers) {
    unsigned cap = 0;
    std::string error;
    INFO(error);
    REQUIRE(long_poll_cap(share(text), workers, &cap, &error));
    return cap;
}

}  // namespace

TEST_CASE("long polls may take a quarter of MaxRequestWorkers unless told otherwise") {
    LongPollShare def;
    CHECK(describe(def) == "25%");
    unsigned cap = 0;
    std::string error;
    REQUIRE(long_poll_cap(def, 150, &cap, &error));
    CHECK(cap == 37);  // rounds down: ordinary traffic keeps its three quarters
}

TEST_CASE("DocSyncExportMaxLongPolls takes a count or a share of MaxRequestWorkers") {
    CHECK(share("40").count == 40);
    CHECK(describe(share("40")) == "40");
    CHECK(share("10%").count == 0);
    CHECK(share("10%").percent == 10);
    CHECK(describe(share("10%")) == "10%");
    CHECK(cap_of("10%", 400) == 40);
    CHECK(cap_of("40", 400) == 40);
    CHECK(cap_of("99%", 100) == 99);
}

TEST_CASE("a share of few workers still lets one long poll wait") {
    CHECK(cap_of("25%", 3) == 1);
    CHECK(cap_of("1%", 10) == 1);
}

TEST_CASE("a cap that would leave ordinary requests no worker is refused with the reason") {
    unsigned cap = 0;
    std::string error;
    CHECK_FALSE(long_poll_cap(share("40"), 40, &cap, &error));
    CHECK(error.find("MaxRequestWorkers") != std::string::npos);
    CHECK(error.find("40") != std::string::npos);
    error.clear();
    CHECK_FALSE(long_poll_cap(share("25%"), 1, &cap, &error));  // the one worker is needed
    CHECK(error.find("MaxRequestWorkers 1") != std::string::npos);
    CHECK(cap_of("39", 40) == 39);
}

TEST_CASE("malformed or useless long-poll shares are refused") {
    for (const char* bad :
         {"", "0", "0%", "100%", "150%", "-3", "12x", "x%", "%", " 5", "5 %", "99999999999"}) {
        INFO(bad);
        CHECK_FALSE(share_refusal(bad).empty());
    }
    CHECK(share_refusal("100%").find("1% to 99%") != std::string::npos);
    CHECK(share_refusal("abc").find("abc") != std::string::npos);
}

TEST_CASE("each child process gets its own entry, and the same one when it asks again") {
    TableMemory m(4);
    LongPollTable* t = LongPollTable::create(m.memory.get(), 4);
    int a = t->claim(100), b = t->claim(200);
    CHECK(a >= 0);
    CHECK(b >= 0);
    CHECK(a != b);
    CHECK(t->claim(100) == a);
    CHECK(t->claim(300) >= 0);
    CHECK(t->claim(400) >= 0);
    CHECK(t->claim(500) == -1);  // full
    t->release(200);
    CHECK(t->claim(500) == b);  // a freed entry is taken again
}

TEST_CASE("long polls beyond the cap are refused and counted, across children") {
    TableMemory m(4);
    LongPollTable* t = LongPollTable::create(m.memory.get(), 4);
    const unsigned cap = 3;
    int a = t->claim(100), b = t->claim(200);
    CHECK(t->try_enter(a, cap));
    CHECK(t->try_enter(b, cap));
    CHECK(t->try_enter(a, cap));
    CHECK_FALSE(t->try_enter(b, cap));
    CHECK_FALSE(t->try_enter(a, cap));
    LongPollStats s = t->stats(cap);
    CHECK(s.cap == cap);
    CHECK(s.waiting == 3);
    CHECK(s.peak == 3);
    CHECK(s.admitted == 3);
    CHECK(s.refused == 2);
    t->leave(a);
    CHECK(t->stats(cap).waiting == 2);
    CHECK(t->try_enter(b, cap));  // a place came free
    t->leave(a);
    t->leave(b);
    t->leave(b);
    s = t->stats(cap);
    CHECK(s.waiting == 0);
    CHECK(s.peak == 3);  // the peak stays
    CHECK(s.admitted == 4);
    t->leave(a);  // more leaves than enters never go below zero
    CHECK(t->stats(cap).waiting == 0);
}

TEST_CASE("a child without an entry answers its long polls at once") {
    TableMemory m(1);
    LongPollTable* t = LongPollTable::create(m.memory.get(), 1);
    CHECK_FALSE(t->try_enter(-1, 10));
    CHECK(t->stats(10).refused == 1);
}

TEST_CASE("the long polls of a crashed child stop counting when the parent reports its exit") {
    TableMemory m(4);
    LongPollTable* t = LongPollTable::create(m.memory.get(), 4);
    const unsigned cap = 2;
    int crashed = t->claim(100);
    CHECK(t->try_enter(crashed, cap));
    CHECK(t->try_enter(crashed, cap));  // it dies holding both places
    int other = t->claim(200);
    CHECK_FALSE(t->try_enter(other, cap));
    t->release(100);
    CHECK(t->stats(cap).waiting == 0);
    CHECK(t->try_enter(other, cap));
    // A new child that happens to get the freed entry starts from zero.
    int next = t->claim(300);
    CHECK(t->try_enter(next, cap));
    CHECK(t->stats(cap).waiting == 2);
}

TEST_CASE("a sweep frees the entries of children nobody reported gone") {
    TableMemory m(4);
    LongPollTable* t = LongPollTable::create(m.memory.get(), 4);
    int a = t->claim(100);
    int b = t->claim(200);
    CHECK(t->try_enter(a, 5));
    CHECK(t->try_enter(b, 5));
    CHECK(t->sweep([](std::int64_t pid) { return pid != 100; }) == 1);
    CHECK(t->stats(5).waiting == 1);
    CHECK(t->claim(200) == b);
}

TEST_CASE("the table is found again in its memory after a graceful restart") {
    TableMemory m(8);
    LongPollTable* t = LongPollTable::create(m.memory.get(), 8);
    int a = t->claim(100);
    CHECK(t->try_enter(a, 5));
    LongPollTable* again = LongPollTable::attach(m.memory.get(), m.bytes());
    REQUIRE(again == t);
    CHECK(again->entries() == 8);
    CHECK(again->stats(5).waiting == 1);
    CHECK(LongPollTable::attach(m.memory.get(), LongPollTable::bytes_needed(8) - 1) == nullptr);
    TableMemory blank(8);
    CHECK(LongPollTable::attach(blank.memory.get(), blank.bytes()) == nullptr);
}

TEST_CASE("racing children never admit more long polls than the cap") {
    constexpr unsigned kCap = 3;
    constexpr int kThreads = 8;
    constexpr int kRounds = 2000;  // per thread
    TableMemory m(kThreads);
    LongPollTable* t = LongPollTable::create(m.memory.get(), kThreads);
    std::atomic<int> inside{0}, most{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i)
        threads.emplace_back([&, i] {
            int entry = t->claim(1000 + i);
            for (int round = 0; round < kRounds; ++round) {
                if (!t->try_enter(entry, kCap)) continue;
                int now = inside.fetch_add(1) + 1;
                int seen = most.load();
                while (now > seen && !most.compare_exchange_weak(seen, now)) {
                }
                inside.fetch_sub(1);
                t->leave(entry);
            }
        });
    for (auto& th : threads) th.join();
    LongPollStats s = t->stats(kCap);
    CHECK(most.load() <= static_cast<int>(kCap));
    CHECK(s.peak <= kCap);
    CHECK(s.waiting == 0);
    CHECK(s.admitted + s.refused == static_cast<std::uint64_t>(kThreads) * kRounds);
    CHECK(s.admitted > 0);
}

TEST_CASE("refusals are logged once per period, not once per refusal") {
    TableMemory m(1);
    LongPollTable* t = LongPollTable::create(m.memory.get(), 1);
    CHECK(t->refusal_worth_logging(1000, 60));
    CHECK_FALSE(t->refusal_worth_logging(1001, 60));
    CHECK_FALSE(t->refusal_worth_logging(1059, 60));
    CHECK(t->refusal_worth_logging(1060, 60));
}

TEST_CASE("the status page, JSON and metrics show the long polls, the cap and the refusals") {
    LongPollStats lp;
    lp.cap = 5;
    lp.waiting = 4;
    lp.peak = 5;
    lp.admitted = 70;
    lp.refused = 12;
    lp.client_gone = 9;
    const std::string json = render_status_json({}, 0, false, &lp);
    CHECK(json.find("\"long_polls\":{\"waiting\":4,\"cap\":5,\"peak\":5,\"admitted\":70,"
                    "\"refused\":12,\"client_gone\":9}") != std::string::npos);
    CHECK(render_status_json({}, 0, false).find("long_polls") == std::string::npos);
    const std::string html = render_status_html({}, 0, false, &lp);
    CHECK(html.find("refused at the cap (answered at once)</th><td>12<") != std::string::npos);
    CHECK(html.find("cap (DocSyncExportMaxLongPolls)</th><td>5<") != std::string::npos);
    CHECK(render_status_html({}, 0, false).find("Long polls") == std::string::npos);
    DocsyncStatus st{{}, {}, false, 1'700'000'000};
    const std::string page = render_metrics(st, suite::MetricsFormat::kPrometheusText, &lp);
    CHECK(has_line(page, "httpd_docsync_long_polls_waiting 4"));
    CHECK(has_line(page, "httpd_docsync_long_polls_cap 5"));
    CHECK(has_line(page, "httpd_docsync_long_polls_peak 5"));
    CHECK(has_line(page, "httpd_docsync_long_polls_admitted_total 70"));
    CHECK(has_line(page, "httpd_docsync_long_polls_refused_total 12"));
    CHECK(has_line(page, "httpd_docsync_long_polls_client_gone_total 9"));
    CHECK(render_metrics(st, suite::MetricsFormat::kPrometheusText).find("long_polls_cap") ==
          std::string::npos);
}
