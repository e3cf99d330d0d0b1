#include "svg_chart.h"

#include <algorithm>
#include <cstdio>

namespace suite {
namespace {

constexpr int kAxisHeight = 14;  // room under the plot for the time labels
constexpr double kMinimumBandWidth = 1.0;
constexpr double kBarWidth = 3.0;

std::string format(const char* fmt, double a, double b, double c, double d) {
    char buf[160];
    std::snprintf(buf, sizeof buf, fmt, a, b, c, d);
    return buf;
}

std::string open_svg(const ChartFrame& f) {
    return "<svg class=\"" + xml_escape(f.css_class) + "\" width=\"" + std::to_string(f.width) +
           "\" height=\"" + std::to_string(f.height) + "\" role=\"img\" aria-label=\"" +
           xml_escape(f.label) + "\" font-family=\"sans-serif\" font-size=\"10\">" +
           "<rect width=\"" + std::to_string(f.width) + "\" height=\"" +
           std::to_string(f.height - kAxisHeight) + "\" fill=\"#fafafa\" stroke=\"#ccc\"/>";
}

std::string close_svg(const ChartFrame& f) {
    const double seconds = static_cast<double>(f.span) / 1e9;
    char buf[64];
    std::snprintf(buf, sizeof buf, "-%.0f s", seconds);
    return "<text x=\"2\" y=\"" + std::to_string(f.height - 3) + "\">" + buf + "</text><text x=\"" +
           std::to_string(f.width - 24) + "\" y=\"" + std::to_string(f.height - 3) +
           "\">now</text></svg>";
}

double x_of(const ChartFrame& f, ChartNanos t) {
    const double from_start = static_cast<double>(t - (f.now - f.span));
    return std::clamp(from_start / static_cast<double>(f.span), 0.0, 1.0) * f.width;
}

double y_of(const ChartFrame& f, double value) {
    const double plot = f.height - kAxisHeight - 2;
    return 1 + plot * (1 - std::clamp(value, 0.0, 1.0));
}

}  // namespace

std::string xml_escape(const std::string& text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '&':
                out += "&amp;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                // Control characters have no place in markup.
                if (static_cast<unsigned char>(c) >= 0x20 || c == '\t') out += c;
        }
    }
    return out;
}

std::string svg_timeline(const ChartFrame& f, const std::vector<TimelineSpan>& spans) {
    std::string out = open_svg(f);
    const double band = f.height - kAxisHeight - 2;
    for (const TimelineSpan& s : spans) {
        if (s.end < f.now - f.span || s.start > f.now) continue;
        const double x0 = x_of(f, s.start), x1 = x_of(f, std::min(s.end, f.now));
        out += format("<rect class=\"span\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"",
                      x0, 1.0, std::max(kMinimumBandWidth, x1 - x0), band);
        out += " fill=\"" + xml_escape(s.color) + "\"><title>" + xml_escape(s.label) +
               "</title></rect>";
    }
    return out + close_svg(f);
}

std::string svg_events(const ChartFrame& f, const std::vector<EventMark>& events) {
    std::string out = open_svg(f);
    double largest = 0;
    for (const EventMark& e : events) largest = std::max(largest, e.value);
    const double plot = f.height - kAxisHeight - 2;
    for (const EventMark& e : events) {
        if (e.time < f.now - f.span || e.time > f.now) continue;
        // Every event stays visible: a quarter of the height at least, the rest by value.
        const double h = plot * (0.25 + 0.75 * (largest > 0 ? e.value / largest : 0));
        out += format("<rect class=\"event\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"",
                      x_of(f, e.time) - kBarWidth / 2, 1 + plot - h, kBarWidth, h);
        out += " fill=\"" + xml_escape(e.color) + "\"><title>" + xml_escape(e.title) +
               "</title></rect>";
    }
    return out + close_svg(f);
}

std::string svg_lines(const ChartFrame& f, const std::vector<LineSeries>& series) {
    std::string out = open_svg(f);
    for (double level : {0.5, 1.0})
        out +=
            format("<text x=\"2\" y=\"%.1f\">%.0f%%</text>", y_of(f, level) + 9, level * 100, 0, 0);
    for (const LineSeries& s : series) {
        std::string points;
        for (const LinePoint& p : s.points) {
            if (p.time < f.now - f.span || p.time > f.now) continue;
            points += format("%.1f,%.1f ", x_of(f, p.time), y_of(f, p.value), 0, 0);
        }
        if (!points.empty()) points.pop_back();
        out += "<polyline class=\"" + xml_escape(s.css_class) + "\" points=\"" + points +
               "\" fill=\"none\" stroke=\"" + xml_escape(s.color) + "\"";
        if (s.dashed) out += " stroke-dasharray=\"4 3\"";
        out += format(" stroke-width=\"%.1f\"/>", s.stroke_width, 0, 0, 0);
    }
    return out + close_svg(f);
}

}  // namespace suite
