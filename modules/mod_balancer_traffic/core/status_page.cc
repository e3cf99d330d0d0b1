#include "status_page.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>

#include "json_string.h"
#include "svg_chart.h"

namespace balancer_traffic {
namespace {

constexpr double kNanosPerSecond = 1e9;
constexpr double kNanosPerMilli = 1e6;
constexpr MonoNanos kChartSpan = (kHistorySamples - 1) * kHistoryInterval;
constexpr int kChartWidth = 600, kChartHeight = 160;
constexpr int kBarWidth = 200, kBarHeight = 12;
const char* const kMemberColors[kHistoryMembers] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                                    "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};

// printf onto the end of `out`: the page is mostly numbers in fixed formats.
void appendf(std::string& out, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void appendf(std::string& out, const char* fmt, ...) {
    char buf[512];
    va_list args;
    va_start(args, fmt);
    const int n = std::vsnprintf(buf, sizeof buf, fmt, args);
    va_end(args);
    if (n > 0) out.append(buf, std::min<std::size_t>(n, sizeof buf - 1));
}

double seconds(nanoseconds d) {
    return d.count() / kNanosPerSecond;
}

const char* json_bool(bool b) {
    return b ? "true" : "false";
}

std::string html(const std::string& text) {
    return suite::xml_escape(text);
}

void member_json(std::string& out, const MemberStatus& member) {
    const MemberReport& m = member.report;
    out += "{\"name\":" + suite::json_string(member.name);
    appendf(out, ",\"loadfactor\":%.2f,\"lbset\":%d", member.loadfactor, member.lbset);
    out += ",\"state\":" + suite::json_string(member.state);
    appendf(out,
            ",\"eligible\":%s,\"window_bytes\":%.0f,\"window_requests\":%.2f,"
            "\"byte_share\":%.4f,\"request_share\":%.4f,\"target_share\":%.4f,"
            "\"slow_start\":%.3f,\"inflight\":%u,\"picks_total\":%llu,\"bytes_total\":%llu",
            json_bool(m.eligible), m.window_bytes, m.window_requests, m.byte_share, m.request_share,
            m.target_share, m.slow_start, m.inflight,
            static_cast<unsigned long long>(m.picks_total),
            static_cast<unsigned long long>(m.bytes_total));
    // bylatency's estimate of time to first byte; null before the first sample.
    if (m.latency_age_ns >= 0)
        appendf(out, ",\"latency_ms\":%.3f,\"latency_age_ms\":%.1f}", m.latency_ns / kNanosPerMilli,
                m.latency_age_ns / kNanosPerMilli);
    else
        out += ",\"latency_ms\":null,\"latency_age_ms\":null}";
}

void balancer_json(std::string& out, const BalancerStatus& b) {
    out += "{\"name\":" + suite::json_string(b.name) +
           ",\"lbmethod\":" + suite::json_string(b.lbmethod) +
           ",\"managed\":" + json_bool(b.our_lbmethod) + ",";
    if (!b.managed) {
        out += "\"members\":[]}";
        return;
    }
    appendf(out,
            "\"latency_decay_seconds\":%.3f,\"window_seconds\":%.3f,"
            "\"slow_start_seconds\":%.3f,\"members\":[",
            seconds(b.config.latency_decay), seconds(b.config.window),
            seconds(b.config.slow_start));
    for (std::size_t i = 0; i < b.members.size(); ++i) {
        if (i) out += ',';
        member_json(out, b.members[i]);
    }
    out += "]}";
}

// A bar of the member's share with a tick at its target, drawn inline: no scripts, no fonts.
void share_bar(std::string& out, double share, double target) {
    appendf(out,
            "<svg width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"share %.1f%% of "
            "target %.1f%%\"><rect width=\"%d\" height=\"%d\" fill=\"#eee\"/>"
            "<rect width=\"%.1f\" height=\"%d\" fill=\"#4a7\"/>"
            "<rect x=\"%.1f\" width=\"2\" height=\"%d\" fill=\"#c33\"/></svg>",
            kBarWidth, kBarHeight, share * 100, target * 100, kBarWidth, kBarHeight,
            share * kBarWidth, kBarHeight, std::min(target * kBarWidth, kBarWidth - 2.0),
            kBarHeight);
}

void member_row(std::string& out, const MemberStatus& member) {
    const MemberReport& m = member.report;
    out += "<tr><td>" + html(member.name) + "</td>";
    appendf(out, "<td>%.2f</td><td>%d</td>", member.loadfactor, member.lbset);
    out += "<td>" + html(member.state) + "</td>";
    appendf(out, "<td>%.0f</td><td>%.1f</td><td>%.1f%%</td><td>%.1f%%</td><td>%.1f%%</td><td>",
            m.window_bytes, m.window_requests, m.byte_share * 100, m.request_share * 100,
            m.target_share * 100);
    share_bar(out, m.byte_share, m.target_share);
    appendf(out, "</td><td>%u</td><td>%.0f%%</td><td>%llu</td>", m.inflight, m.slow_start * 100,
            static_cast<unsigned long long>(m.picks_total));
    if (m.latency_age_ns >= 0)
        appendf(out, "<td>%.2f ms</td></tr>\n", m.latency_ns / kNanosPerMilli);
    else
        out += "<td>-</td></tr>\n";
}

// The last minute per member: its byte share per second (solid) against its target (dashed).
// Inline SVG with generic fonts only, so it renders offline and degrades to its text in lynx.
void history_chart(std::string& out, const BalancerStatus& b, MonoNanos now) {
    std::vector<suite::LineSeries> lines;
    const std::size_t charted = std::min(b.history.size(), b.members.size());
    for (std::size_t m = 0; m < charted; ++m) {
        suite::LineSeries share{{}, kMemberColors[m], "share", false, 2};
        suite::LineSeries target{{}, kMemberColors[m], "target", true, 1};
        for (const SharePoint& p : b.history[m]) {
            target.points.push_back({p.time, p.target});
            if (p.share >= 0) share.points.push_back({p.time, p.share});
        }
        lines.push_back(std::move(target));
        lines.push_back(std::move(share));
    }
    const suite::ChartFrame frame{
        now,         kChartSpan,  "share-history", "byte share per member over the last minute",
        kChartWidth, kChartHeight};
    out += "<figure>" + suite::svg_lines(frame, lines) +
           "<figcaption>Byte share per second over the last minute (solid) against the target "
           "share (dashed): ";
    for (std::size_t m = 0; m < charted; ++m)
        out += std::string(m ? ", " : "") + "<span style=\"color:" + kMemberColors[m] +
               "\">&#9632;</span> " + html(b.members[m].name);
    out += "</figcaption></figure>\n";
}

void balancer_html(std::string& out, const BalancerStatus& b, MonoNanos now) {
    out += "<h2>" + html(b.name) + "</h2>\n<p>lbmethod " + html(b.lbmethod);
    if (!b.managed) {
        out += " (not managed by mod_balancer_traffic)</p>\n";
        return;
    }
    if (b.config.cumulative())
        out += ", cumulative traffic (no decay)";
    else
        appendf(out, ", traffic window %.1f s", seconds(b.config.window));
    if (b.config.slow_start.count())
        appendf(out, ", slow start %.1f s", seconds(b.config.slow_start));
    if (b.by_latency) appendf(out, ", latency decay %.3f s", seconds(b.config.latency_decay));
    out +=
        "</p>\n<table><tr><th>Member</th><th>Load factor</th><th>Set</th><th>State</th>"
        "<th>Window bytes</th><th>Window requests</th><th>Byte share</th>"
        "<th>Request share</th><th>Target</th><th>Share vs target</th>"
        "<th>In flight</th><th>Ramp</th><th>Picks</th><th>Latency</th></tr>\n";
    for (const MemberStatus& member : b.members) member_row(out, member);
    out += "</table>\n";
    history_chart(out, b, now);
}

}  // namespace

std::vector<std::vector<SharePoint>> share_lines(const ShareHistory& history, std::size_t members) {
    std::vector<std::vector<SharePoint>> lines(std::min(members, kHistoryMembers));
    SharePoint points[kHistorySamples];
    for (std::size_t m = 0; m < lines.size(); ++m)
        lines[m].assign(points, points + history_points(history, m, points));
    return lines;
}

std::string status_json(const TrafficStatus& status) {
    std::string out = "{\"balancers\":[";
    for (std::size_t i = 0; i < status.balancers.size(); ++i) {
        if (i) out += ',';
        balancer_json(out, status.balancers[i]);
    }
    return out + "]}\n";
}

std::string status_html(const TrafficStatus& status) {
    std::string out =
        "<!DOCTYPE html>\n<html><head><title>Balancer traffic</title><style>"
        "body{font-family:sans-serif}table{border-collapse:collapse}"
        "td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}"
        "td:first-child,th:first-child{text-align:left}</style></head><body>\n"
        "<h1>Balancer traffic</h1>\n";
    for (const BalancerStatus& b : status.balancers) balancer_html(out, b, status.now);
    return out + "</body></html>\n";
}

}  // namespace balancer_traffic
