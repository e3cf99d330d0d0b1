// Small inline-SVG charts for the status pages: self-contained markup (no scripts, no external
// fonts or styles), readable in any browser; text-mode browsers show the caption next to it.
// Pure C++: the modules' status handlers pass plain data and print the string.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace suite {

using ChartNanos = std::int64_t;  // CLOCK_MONOTONIC nanoseconds, as the modules record times

// A stretch of time in one state, drawn as a colored band on a timeline.
struct TimelineSpan {
    ChartNanos start;
    ChartNanos end;
    std::string label;  // shown in the band's tooltip and the legend
    std::string color;  // CSS color, e.g. "#2ca02c"
};

// A moment something happened, drawn as a bar of height `value` (scaled to the largest).
struct EventMark {
    ChartNanos time;
    double value;
    std::string color;
    std::string title;  // tooltip
};

// A value over time, drawn as a polyline; values are fractions, 0 at the bottom, 1 at the top.
struct LinePoint {
    ChartNanos time;
    double value;
};

struct LineSeries {
    std::vector<LinePoint> points;  // oldest first
    std::string color;
    std::string css_class;  // class of the <polyline>
    bool dashed = false;
    double stroke_width = 1;
};

struct ChartFrame {
    ChartNanos now;
    ChartNanos span;        // how far back the chart reaches
    std::string css_class;  // class of the <svg>, for tests and styling
    std::string label;      // aria-label
    int width = 600;
    int height = 60;
};

// Spans are clipped to [now - span, now]; spans wholly outside are not drawn.
std::string svg_timeline(const ChartFrame& frame, const std::vector<TimelineSpan>& spans);

// Events outside [now - span, now] are not drawn.
std::string svg_events(const ChartFrame& frame, const std::vector<EventMark>& events);

// Points outside [now - span, now] are not drawn; values are clamped to [0, 1]. The left edge is
// labelled 50% and 100%.
std::string svg_lines(const ChartFrame& frame, const std::vector<LineSeries>& series);

// Escapes text for use in SVG/HTML content and attribute values.
std::string xml_escape(const std::string& text);

}  // namespace suite
