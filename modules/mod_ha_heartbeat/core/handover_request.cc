#include "handover_request.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cctype>

namespace ha_heartbeat {
namespace {

bool equal_nocase(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}

// Whether an http(s) URL or origin ("https://host:port/path") names `host` (a Host header).
// Browsers leave the scheme's default port out of Origin; a Host header may carry it.
bool names_host(std::string_view url, std::string_view host) {
    std::string_view rest, default_port;
    if (url.size() > 7 && equal_nocase(url.substr(0, 7), "http://")) {
        rest = url.substr(7);
        default_port = ":80";
    } else if (url.size() > 8 && equal_nocase(url.substr(0, 8), "https://")) {
        rest = url.substr(8);
        default_port = ":443";
    } else {
        return false;  // other schemes, "null"
    }
    const std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
    if (authority.empty() || authority.find('@') != std::string_view::npos) return false;
    if (equal_nocase(authority, host)) return true;
    return host.size() == authority.size() + default_port.size() &&
           equal_nocase(host.substr(0, authority.size()), authority) &&
           host.substr(authority.size()) == default_port;
}

}  // namespace

bool form_field(std::string_view form, std::string_view name, std::string_view* value) {
    std::size_t start = 0;
    while (start <= form.size()) {
        const std::size_t end = std::min(form.find('&', start), form.size());
        const std::string_view pair = form.substr(start, end - start);
        const std::size_t eq = pair.find('=');
        if (pair.substr(0, eq) == name) {
            *value = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
            return true;
        }
        start = end + 1;
    }
    return false;
}

std::string handover_refusal(std::string_view form, std::string_view expected_nonce,
                             const char* host, const char* origin, const char* referer) {
    if (!host || !*host) return "no Host header";
    if (origin) {
        if (!names_host(origin, host))
            return "cross-site request (Origin " + std::string(origin) + ", Host " + host + ")";
    } else if (referer) {
        if (!names_host(referer, host))
            return "cross-site request (Referer " + std::string(referer).substr(0, 200) +
                   ", Host " + host + ")";
    } else {
        return "neither Origin nor Referer";
    }
    std::string_view nonce;
    if (!form_field(form, "nonce", &nonce) || nonce.empty()) return "no nonce";
    // Constant time: the comparison must not tell a guesser how many characters were right.
    if (expected_nonce.empty() || nonce.size() != expected_nonce.size() ||
        CRYPTO_memcmp(nonce.data(), expected_nonce.data(), nonce.size()) != 0)
        return "wrong nonce";
    return "";
}

}  // namespace ha_heartbeat
