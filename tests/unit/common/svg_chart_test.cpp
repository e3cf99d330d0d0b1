#include "svg_chart.h"

#include <catch2/catch.hpp>

using namespace suite;

namespace {
constexpr ChartNanos kSecond = 1'000'000'000;

std::size_t count(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
    return n;
}
}  // namespace

TEST_CASE("a timeline draws the spans inside its window, clipped, with their labels") {
    ChartFrame frame{1000 * kSecond, 60 * kSecond, "timeline", "states", 600, 60};
    std::vector<TimelineSpan> spans = {
        {900 * kSecond, 930 * kSecond, "BACKUP", "#1f77b4"},   // wholly before the window
        {930 * kSecond, 970 * kSecond, "BACKUP", "#1f77b4"},   // clipped at the left edge
        {970 * kSecond, 1000 * kSecond, "MASTER", "#2ca02c"},  // up to now
    };
    std::string svg = svg_timeline(frame, spans);
    CHECK(svg.rfind("<svg class=\"timeline\"", 0) == 0);
    CHECK(count(svg, "class=\"span\"") == 2);
    CHECK(svg.find("x=\"0.0\"") != std::string::npos);  // the clipped span starts at the edge
    CHECK(svg.find("<title>MASTER</title>") != std::string::npos);
    CHECK(svg.find("x=\"300.0\"") != std::string::npos);  // 970 s is half-way through the window
    CHECK(svg.find("</svg>") == svg.size() - 6);
}

TEST_CASE("an event chart scales bars by value and keeps small events visible") {
    ChartFrame frame{100 * kSecond, 100 * kSecond, "sync-events", "syncs", 500, 60};
    std::vector<EventMark> events = {
        {10 * kSecond, 1000, "#2ca02c", "ok: 1000 bytes"},
        {50 * kSecond, 0, "#d62728", "error"},
        {200 * kSecond, 5, "#2ca02c", "in the future: not drawn"},
    };
    std::string svg = svg_events(frame, events);
    CHECK(count(svg, "class=\"event\"") == 2);
    CHECK(svg.find("height=\"44.0\"") != std::string::npos);  // the largest: the full plot
    CHECK(svg.find("height=\"11.0\"") != std::string::npos);  // zero: a quarter of it
}

TEST_CASE("chart text is escaped") {
    CHECK(xml_escape("<a href=\"x\">&'</a>") == "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
    CHECK(xml_escape(std::string("a\x01"
                                 "b")) == "ab");
    ChartFrame frame{kSecond, kSecond, "c\"lass", "<label>", 100, 40};
    std::string svg = svg_timeline(frame, {{0, kSecond, "<script>", "red"}});
    CHECK(svg.find("<script>") == std::string::npos);
    CHECK(svg.find("&lt;script&gt;") != std::string::npos);
}

TEST_CASE("a line chart draws each series' points inside its window, scaled to the plot") {
    ChartFrame frame{1000 * kSecond, 60 * kSecond, "lines", "shares", 600, 116};
    LineSeries share{{{900 * kSecond, 0.5}, {970 * kSecond, 1.0}, {1000 * kSecond, 0.0}},
                     "#1f77b4",
                     "share",
                     false,
                     2};
    LineSeries target{{{970 * kSecond, 7.0}}, "#1f77b4", "target", true, 1};
    std::string svg = svg_lines(frame, {share, target});
    CHECK(svg.rfind("<svg class=\"lines\"", 0) == 0);
    // The plot is 100 px high under a 1 px margin: 1.0 is at the top, 0.0 at the bottom; the
    // point at 900 s lies before the window and is left out.
    CHECK(svg.find("points=\"300.0,1.0 600.0,101.0\"") != std::string::npos);
    // Values above 1 are clamped to the top.
    CHECK(svg.find("class=\"target\" points=\"300.0,1.0\"") != std::string::npos);
    CHECK(count(svg, "stroke-dasharray") == 1);
    CHECK(svg.find("stroke-width=\"2.0\"") != std::string::npos);
    CHECK(svg.find(">100%</text>") != std::string::npos);
}
