#include "directive_glue.h"

#include <string>

#include "duration.h"
#include "httpd_glue.h"

namespace suite {

const char* set_duration(cmd_parms* cmd, const char* arg, const DurationLimits& limits,
                         std::chrono::nanoseconds* out) {
    if (limits.off_word && !strcasecmp(arg, limits.off_word)) {
        *out = std::chrono::nanoseconds{0};
        return nullptr;
    }
    auto parsed = parse_duration(arg, limits.bare_unit);
    if (!parsed) return directive_error(cmd, parsed.error);
    if (*parsed.value < limits.minimum || *parsed.value > limits.maximum) {
        std::string range = "must be between " + format_duration(limits.minimum) + " and " +
                            format_duration(limits.maximum);
        if (limits.off_word) range += std::string(", or '") + limits.off_word + "'";
        return directive_error(cmd, range);
    }
    *out = *parsed.value;
    return nullptr;
}

}  // namespace suite
