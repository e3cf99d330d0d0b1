#include "openmetrics.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <string>

using suite::MetricsFormat;
using suite::MetricsRequest;
using suite::MetricsWriter;
using suite::MetricType;

TEST_CASE("label values escape backslash, double quote and line feed") {
    CHECK(suite::escape_label_value("plain") == "plain");
    CHECK(suite::escape_label_value("a\"b") == "a\\\"b");
    CHECK(suite::escape_label_value("C:\\x\\") == "C:\\\\x\\\\");
    CHECK(suite::escape_label_value("two\nlines") == "two\\nlines");
    CHECK(suite::escape_label_value("tab\tstays") == "tab\tstays");
}

TEST_CASE("label values keep UTF-8 and replace other bytes with U+FFFD") {
    CHECK(suite::escape_label_value("gr\xC3\xBC\xC3\x9F") == "gr\xC3\xBC\xC3\x9F");
    CHECK(suite::escape_label_value("bad\xFFx") == "bad\xEF\xBF\xBDx");
    CHECK(suite::escape_label_value("\xC0\xAF") == "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong '/'
    CHECK(suite::escape_label_value("cut\xE2\x82") == "cut\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST_CASE("a Prometheus text page names counters with _total in TYPE and has no EOF") {
    MetricsWriter w(MetricsFormat::kPrometheusText);
    w.family("httpd_x_bytes", MetricType::kCounter, "Bytes \"both\" ways\\in", "bytes");
    w.sample({{"member", "a\"b"}}, 42);
    w.family("httpd_x_ratio", MetricType::kGauge, "Share", "ratio");
    w.sample(0.25);
    CHECK(w.finish() ==
          "# HELP httpd_x_bytes_total Bytes \"both\" ways\\\\in\n"
          "# TYPE httpd_x_bytes_total counter\n"
          "httpd_x_bytes_total{member=\"a\\\"b\"} 42\n"
          "# HELP httpd_x_ratio Share\n"
          "# TYPE httpd_x_ratio gauge\n"
          "httpd_x_ratio 0.25\n");
}

TEST_CASE("an OpenMetrics page names families bare, declares units and ends with EOF") {
    MetricsWriter w(MetricsFormat::kOpenMetrics);
    w.family("httpd_x_bytes", MetricType::kCounter, "Bytes \"both\"\nways", "bytes");
    w.sample({{"a", "1"}, {"b", "2"}}, 7);
    w.family("httpd_x_build", MetricType::kInfo, "Build");
    w.sample({{"version", "1.0"}}, 1);
    CHECK(w.finish() ==
          "# HELP httpd_x_bytes Bytes \\\"both\\\"\\nways\n"
          "# TYPE httpd_x_bytes counter\n"
          "# UNIT httpd_x_bytes bytes\n"
          "httpd_x_bytes_total{a=\"1\",b=\"2\"} 7\n"
          "# HELP httpd_x_build Build\n"
          "# TYPE httpd_x_build info\n"
          "httpd_x_build_info{version=\"1.0\"} 1\n"
          "# EOF\n");
}

TEST_CASE("info families are gauges named _info in the Prometheus text format") {
    MetricsWriter w(MetricsFormat::kPrometheusText);
    w.family("httpd_x_build", MetricType::kInfo, "Build");
    w.sample(1);
    CHECK(w.finish() ==
          "# HELP httpd_x_build_info Build\n# TYPE httpd_x_build_info gauge\n"
          "httpd_x_build_info 1\n");
}

TEST_CASE("sample values: integers plain, fractions round trip, NaN and infinities spelled") {
    CHECK(suite::metric_value(0) == "0");
    CHECK(suite::metric_value(18446744073709.0) == "18446744073709");
    CHECK(suite::metric_value(-3) == "-3");
    CHECK(suite::metric_value(0.1) == "0.1");
    CHECK(std::stod(suite::metric_value(1.0 / 3)) == 1.0 / 3);
    CHECK(suite::metric_value(std::nan("")) == "NaN");
    CHECK(suite::metric_value(INFINITY) == "+Inf");
    CHECK(suite::metric_value(-INFINITY) == "-Inf");
}

TEST_CASE("?metrics asks for the Prometheus text format, OpenMetrics in Accept for that") {
    using suite::metrics_request;
    CHECK(metrics_request(nullptr, nullptr) == MetricsRequest::kNone);
    CHECK(metrics_request("json", nullptr) == MetricsRequest::kNone);
    CHECK(metrics_request("metricsx", nullptr) == MetricsRequest::kNone);
    CHECK(metrics_request("metrics", nullptr) == MetricsRequest::kPrometheusText);
    CHECK(metrics_request("metrics=", nullptr) == MetricsRequest::kPrometheusText);
    CHECK(metrics_request("a=1&metrics", "text/html,*/*;q=0.8") == MetricsRequest::kPrometheusText);
    CHECK(metrics_request(nullptr, "application/openmetrics-text") == MetricsRequest::kOpenMetrics);
    // What Prometheus 2.x sends.
    CHECK(metrics_request("metrics=",
                          "application/openmetrics-text;version=1.0.0,application/"
                          "openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,"
                          "*/*;q=0.1") == MetricsRequest::kOpenMetrics);
    CHECK(metrics_request("metrics",
                          "text/plain;version=0.0.4, application/openmetrics-text;q=0.5") ==
          MetricsRequest::kPrometheusText);
    CHECK(metrics_request(nullptr, "Application/OpenMetrics-Text; q=0") == MetricsRequest::kNone);
    CHECK(suite::format_of(MetricsRequest::kOpenMetrics) == MetricsFormat::kOpenMetrics);
    CHECK(std::string(suite::metrics_content_type(MetricsFormat::kPrometheusText)) ==
          "text/plain; version=0.0.4; charset=utf-8");
    CHECK(std::string(suite::metrics_content_type(MetricsFormat::kOpenMetrics)) ==
          "application/openmetrics-text; version=1.0.0; charset=utf-8");
}
