#include "request_auth.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>

#include "crypto.h"
#include "safe_fs.h"

namespace docsync {

std::int64_t SystemWallClock::now_seconds() const {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string canonical_request(std::string_view method, std::string_view path_and_query,
                              std::string_view time, std::string_view nonce) {
    std::string s;
    s.reserve(method.size() + path_and_query.size() + time.size() + nonce.size() + 3);
    s.append(method)
        .append("\n")
        .append(path_and_query)
        .append("\n")
        .append(time)
        .append("\n")
        .append(nonce);
    return s;
}

SignedHeaders sign_request(std::string_view secret, std::string_view method,
                           std::string_view path_and_query, const WallClock& clock) {
    SignedHeaders h;
    h.time = std::to_string(clock.now_seconds());
    h.nonce = random_hex(kNonceBytes);
    h.signature =
        hmac_sha256_hex(secret, canonical_request(method, path_and_query, h.time, h.nonce));
    return h;
}

const char* to_string(AuthResult r) {
    switch (r) {
        case AuthResult::kOk:
            return "ok";
        case AuthResult::kMissing:
            return "unsigned request";
        case AuthResult::kMalformed:
            return "malformed signature headers";
        case AuthResult::kStale:
            return "stale or future timestamp";
        case AuthResult::kBadSignature:
            return "bad signature";
        case AuthResult::kReplayed:
            return "replayed nonce";
        case AuthResult::kOverloaded:
            return "too many recent requests";
    }
    return "?";
}

void RequestVerifier::expire(std::int64_t now) {
    // A nonce only needs remembering while its timestamp could still be accepted.
    const std::int64_t horizon = now - 2 * max_skew_.count();
    while (!order_.empty() && order_.front().first < horizon) {
        seen_.erase(order_.front().second);
        order_.pop_front();
    }
}

AuthResult RequestVerifier::verify(std::string_view method, std::string_view path_and_query,
                                   const char* time, const char* nonce, const char* signature) {
    if (!time || !nonce || !signature) return AuthResult::kMissing;
    std::string_view t(time), n(nonce), sig(signature);
    std::int64_t ts = 0;
    auto r = std::from_chars(t.data(), t.data() + t.size(), ts);
    if (t.empty() || t.size() > 20 || r.ec != std::errc() || r.ptr != t.data() + t.size())
        return AuthResult::kMalformed;
    if (n.size() != 2 * kNonceBytes || !is_lower_hex(n)) return AuthResult::kMalformed;
    if (sig.size() != kSha256HexChars || !is_lower_hex(sig)) return AuthResult::kMalformed;
    // The MAC is checked before the clock so an unauthenticated peer learns nothing about it.
    std::string expected =
        hmac_sha256_hex(secret_, canonical_request(method, path_and_query, t, n));
    if (!constant_time_equal(expected, sig)) return AuthResult::kBadSignature;
    const std::int64_t now = clock_.now_seconds();
    if (ts < now - max_skew_.count() || ts > now + max_skew_.count()) return AuthResult::kStale;
    if (shared_) {
        switch (shared_->remember(n, now, now - 2 * max_skew_.count())) {
            case NonceResult::kFresh:
                return AuthResult::kOk;
            case NonceResult::kReplayed:
                return AuthResult::kReplayed;
            case NonceResult::kFull:
                return AuthResult::kOverloaded;
        }
    }
    std::lock_guard<std::mutex> lock(mutex_);
    expire(now);
    if (seen_.count(std::string(n))) return AuthResult::kReplayed;
    if (seen_.size() >= kMaxRememberedNonces) return AuthResult::kOverloaded;
    seen_.insert(std::string(n));
    order_.emplace_back(now, std::string(n));
    return AuthResult::kOk;
}

std::string load_secret_file(const std::string& path, std::string* error) {
    auto fail = [&](const std::string& why) {
        if (error) *error = path + ": " + why;
        return std::string();
    };
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) return fail(errno_text(errno));
    struct stat st;
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return fail("not a regular file");
    if (st.st_mode & (S_IROTH | S_IWOTH))
        return fail("readable or writable by others (chmod o-rwx, e.g. 0600 or 0640)");
    if (st.st_uid != ::geteuid() && st.st_uid != 0) return fail("not owned by this user or root");
    if (st.st_size > static_cast<off_t>(kMaxSecretBytes)) return fail("longer than 4096 bytes");
    std::string secret(static_cast<std::size_t>(st.st_size), '\0');
    ssize_t n = ::read(fd.get(), secret.data(), secret.size());
    if (n != st.st_size) return fail("short read");
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
    if (secret.size() < kMinSecretBytes) return fail("secret shorter than 16 bytes");
    return secret;
}

}  // namespace docsync
