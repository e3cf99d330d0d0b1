#include "openmetrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "json_string.h"

namespace suite {
namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}

// The q of one media range of an Accept header ("type/sub;a=b;q=0.5"), 1 without one; the
// media type (without parameters) goes to *type.
double media_range_q(std::string_view range, std::string_view* type) {
    const std::size_t semi = range.find(';');
    *type = trim(range.substr(0, semi));
    double q = 1;
    std::size_t at = semi;
    while (at != std::string_view::npos) {
        const std::size_t next = range.find(';', at + 1);
        std::string_view param = trim(range.substr(at + 1, next - at - 1));
        if (param.size() > 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=') {
            const std::string number(param.substr(2));
            q = std::strtod(number.c_str(), nullptr);
        }
        at = next;
    }
    return q;
}

bool query_has_metrics(std::string_view query) {
    while (!query.empty()) {
        const std::size_t amp = query.find('&');
        std::string_view param = query.substr(0, amp);
        if (param == "metrics" || param.substr(0, 8) == "metrics=") return true;
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
    }
    return false;
}

// Escapes backslash and line feed, and double quotes when `quotes` (label values; help text
// in OpenMetrics); bytes that are not UTF-8 become U+FFFD.
std::string escape(std::string_view text, bool quotes) {
    std::string out;
    out.reserve(text.size());
    while (!text.empty()) {
        const char c = text[0];
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else if (c == '"' && quotes)
            out += "\\\"";
        else {
            const std::size_t n =
                static_cast<unsigned char>(c) < 0x80 ? 1 : utf8_sequence_length(text);
            if (n == 0) {
                out += "\xEF\xBF\xBD";
                text.remove_prefix(1);
            } else {
                out.append(text.data(), n);
                text.remove_prefix(n);
            }
            continue;
        }
        text.remove_prefix(1);
    }
    return out;
}

}  // namespace

MetricsRequest metrics_request(const char* query, const char* accept) {
    double openmetrics_q = 0, text_q = 0;
    if (accept) {
        std::string_view header(accept);
        while (!header.empty()) {
            const std::size_t comma = header.find(',');
            std::string_view type;
            const double q = media_range_q(header.substr(0, comma), &type);
            if (iequals(type, "application/openmetrics-text"))
                openmetrics_q = std::max(openmetrics_q, q);
            else if (iequals(type, "text/plain"))
                text_q = std::max(text_q, q);
            if (comma == std::string_view::npos) break;
            header.remove_prefix(comma + 1);
        }
    }
    if (openmetrics_q > 0 && openmetrics_q >= text_q) return MetricsRequest::kOpenMetrics;
    if (query && query_has_metrics(query)) return MetricsRequest::kPrometheusText;
    return MetricsRequest::kNone;
}

MetricsFormat format_of(MetricsRequest request) {
    return request == MetricsRequest::kOpenMetrics ? MetricsFormat::kOpenMetrics
                                                   : MetricsFormat::kPrometheusText;
}

const char* metrics_content_type(MetricsFormat format) {
    return format == MetricsFormat::kOpenMetrics
               ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
               : "text/plain; version=0.0.4; charset=utf-8";
}

std::string escape_label_value(std::string_view value) {
    return escape(value, true);
}

std::string metric_value(double value) {
    if (std::isnan(value)) return "NaN";
    if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
    char buf[32];
    // Exact integers (as counters are) print without exponent or fraction up to 2^53.
    if (value == std::floor(value) && std::fabs(value) < 9007199254740992.0)
        std::snprintf(buf, sizeof buf, "%.0f", value);
    else {
        // The shortest of 15 and 17 significant digits that reads back as the same double.
        std::snprintf(buf, sizeof buf, "%.15g", value);
        if (std::strtod(buf, nullptr) != value) std::snprintf(buf, sizeof buf, "%.17g", value);
    }
    return buf;
}

void MetricsWriter::family(std::string_view name, MetricType type, std::string_view help,
                           std::string_view unit) {
    const bool openmetrics = format_ == MetricsFormat::kOpenMetrics;
    sample_name_.assign(name);
    if (type == MetricType::kCounter) sample_name_ += "_total";
    if (type == MetricType::kInfo) sample_name_ += "_info";
    // Prometheus text names the family by its samples' name; OpenMetrics by the bare name.
    const std::string family_name = openmetrics ? std::string(name) : sample_name_;
    const char* type_name = type == MetricType::kCounter               ? "counter"
                            : type == MetricType::kInfo && openmetrics ? "info"
                                                                       : "gauge";
    out_ += "# HELP " + family_name + " " + escape(help, openmetrics) + "\n";
    out_ += "# TYPE " + family_name + " " + type_name + "\n";
    if (openmetrics && !unit.empty())
        out_ += "# UNIT " + family_name + " " + std::string(unit) + "\n";
}

void MetricsWriter::sample(std::initializer_list<MetricLabel> labels, double value) {
    out_ += sample_name_;
    if (labels.size()) {
        out_ += '{';
        bool first = true;
        for (const MetricLabel& l : labels) {
            if (!first) out_ += ',';
            first = false;
            out_.append(l.name.data(), l.name.size());
            out_ += "=\"" + escape_label_value(l.value) + "\"";
        }
        out_ += '}';
    }
    out_ += ' ' + metric_value(value) + '\n';
}

std::string MetricsWriter::finish() {
    if (format_ == MetricsFormat::kOpenMetrics) out_ += "# EOF\n";
    return std::move(out_);
}

}  // namespace suite
