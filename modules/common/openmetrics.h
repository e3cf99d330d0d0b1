// The one metrics exposition writer of the suite: the Prometheus text format (version 0.0.4),
// or OpenMetrics 1.0 when the scraper asks for it in Accept. Status pages answer `?metrics` with
// it. A family is declared once (HELP, TYPE, UNIT) and its samples follow; the writer adds the
// suffixes each format wants (`_total` for counters, `_info` for info), escapes label values and
// help text, and ends an OpenMetrics page with `# EOF`.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

namespace suite {

enum class MetricsFormat { kPrometheusText, kOpenMetrics };
enum class MetricType { kGauge, kCounter, kInfo };

// What a status handler answers with: none (the page's own HTML or JSON), or metrics in a
// format. `query` is the request's query string (may be null), `accept` its Accept header (may
// be null). `?metrics` (also `metrics=` and among other parameters) asks for metrics, and so
// does an Accept that names application/openmetrics-text (with a non-zero q), which also
// selects that format.
enum class MetricsRequest { kNone, kPrometheusText, kOpenMetrics };
MetricsRequest metrics_request(const char* query, const char* accept);
MetricsFormat format_of(MetricsRequest request);

// The Content-Type of a page in `format`.
const char* metrics_content_type(MetricsFormat format);

// A label value as it goes between the quotes: backslash, double quote and line feed escaped;
// bytes that are not UTF-8 become U+FFFD (OpenMetrics label values are UTF-8).
std::string escape_label_value(std::string_view value);

struct MetricLabel {
    std::string_view name;
    std::string_view value;
};

class MetricsWriter {
  public:
    explicit MetricsWriter(MetricsFormat format) : format_(format) {}

    // Starts a family. `name` is the family name: snake case with its unit as last word
    // (`..._bytes`, `..._seconds`) and, for counters and info, without `_total` / `_info`,
    // which the writer appends to the samples (and to the TYPE line in the Prometheus format).
    // `unit` is that last word, or empty for a unitless family.
    void family(std::string_view name, MetricType type, std::string_view help,
                std::string_view unit = {});
    // A sample of the current family.
    void sample(std::initializer_list<MetricLabel> labels, double value);
    void sample(double value) { sample({}, value); }
    // The page, ended by `# EOF` in OpenMetrics.
    std::string finish();

  private:
    MetricsFormat format_;
    std::string out_;
    std::string sample_name_;
};

// A sample value: integers without a fraction, other numbers with enough digits to round trip,
// NaN and infinities as the formats spell them.
std::string metric_value(double value);

}  // namespace suite
