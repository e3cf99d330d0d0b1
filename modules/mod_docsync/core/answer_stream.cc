#include "answer_stream.h"

#include <algorithm>
#include <charconv>

#include "crypto.h"

namespace docsync {

namespace {
constexpr std::string_view kFrameLabel = "docsync-frame-v1";
constexpr std::size_t kMaxFrameLineBytes = 64;
}  // namespace

std::string frame_message(std::string_view nonce, std::uint64_t seq, std::string_view prev_tag,
                          char kind, std::uint64_t auth_len, std::uint64_t raw_len,
                          std::string_view auth_sha256_hex) {
    std::string s(kFrameLabel);
    s.append("\n").append(nonce).append("\n").append(std::to_string(seq));
    s.append("\n").append(prev_tag).append("\n").push_back(kind);
    s.append("\n").append(std::to_string(auth_len)).append("\n").append(std::to_string(raw_len));
    s.append("\n").append(auth_sha256_hex);
    return s;
}

bool FrameWriter::frame(std::string_view auth, std::uint64_t raw_len, bool last) {
    const char kind = last ? 'Z' : 'M';
    std::string head = std::string(1, kind) + " " + std::to_string(auth.size()) + " " +
                       std::to_string(raw_len) + "\n";
    std::string tag = signer_.tag(
        frame_message(nonce_, seq_++, prev_, kind, auth.size(), raw_len, sha256_hex(auth)));
    prev_ = tag;
    tag.push_back('\n');
    return out_(head.data(), head.size()) && (auth.empty() || out_(auth.data(), auth.size())) &&
           out_(tag.data(), tag.size());
}

bool FramedByteSink::flush() {
    bool ok = writer_.frame(buffer_, 0, false);
    buffer_.clear();
    last_ = std::chrono::steady_clock::now();
    return ok;
}

ByteSink FramedByteSink::sink() {
    return [this](const char* p, std::size_t n) {
        while (n) {
            std::size_t take = std::min(n, kStreamFrameBytes - buffer_.size());
            buffer_.append(p, take);
            p += take;
            n -= take;
            if (buffer_.size() == kStreamFrameBytes && !flush()) return false;
        }
        if (!buffer_.empty() && std::chrono::steady_clock::now() - last_ >= max_hold_)
            return flush();
        return true;
    };
}

bool FramedByteSink::finish() {
    bool ok = writer_.frame(buffer_, 0, true);
    buffer_.clear();
    return ok;
}

bool FrameReader::fail(std::string e, bool auth) {
    if (error_.empty()) error_ = std::move(e);
    auth_failed_ = auth_failed_ || auth;
    state_ = State::kDone;
    return false;
}

bool FrameReader::header_done() {
    // "<kind> <auth-len> <raw-len>"
    if (line_.size() < 5 || (line_[0] != 'M' && line_[0] != 'Z') || line_[1] != ' ')
        return fail("bad frame header", true);
    const char* b = line_.data() + 2;
    const char* e = line_.data() + line_.size();
    auto r1 = std::from_chars(b, e, auth_len_);
    if (r1.ec != std::errc() || r1.ptr == e || *r1.ptr != ' ')
        return fail("bad frame header", true);
    auto r2 = std::from_chars(r1.ptr + 1, e, raw_len_);
    if (r2.ec != std::errc() || r2.ptr != e || r1.ptr + 1 == e)
        return fail("bad frame header", true);
    if (auth_len_ > kMaxFrameAuthBytes) return fail("frame too large", true);
    kind_ = line_[0];
    line_.clear();
    auth_.clear();
    state_ = auth_len_ ? State::kAuth : State::kTag;
    return true;
}

bool FrameReader::tag_done() {
    std::string expected_msg =
        frame_message(nonce_, seq_, prev_, kind_, auth_len_, raw_len_, sha256_hex(auth_));
    if (!verifier_.check(expected_msg, line_))
        return fail("frame " + std::to_string(seq_) + " fails its authentication", true);
    ++seq_;
    prev_ = line_;
    line_.clear();
    last_seen_ = kind_ == 'Z';
    if (!sink_.frame(auth_, raw_len_, last_seen_)) return fail("frame refused by its reader");
    auth_.clear();
    raw_left_ = raw_len_;
    state_ = raw_left_ ? State::kRaw : (last_seen_ ? State::kDone : State::kHeader);
    return true;
}

bool FrameReader::feed(const char* p, std::size_t n) {
    if (!error_.empty()) return false;
    while (n) {
        switch (state_) {
            case State::kDone:
                if (!error_.empty()) return false;
                return fail("bytes after the last frame", true);
            case State::kHeader:
            case State::kTag: {
                char c = *p++;
                --n;
                if (c != '\n') {
                    line_.push_back(c);
                    if (line_.size() > std::max(kMaxFrameLineBytes, kMaxAnswerTagHexChars))
                        return fail("frame line too long", true);
                    continue;
                }
                if (!(state_ == State::kHeader ? header_done() : tag_done())) return false;
                continue;
            }
            case State::kAuth: {
                std::size_t take =
                    static_cast<std::size_t>(std::min<std::uint64_t>(n, auth_len_ - auth_.size()));
                auth_.append(p, take);
                p += take;
                n -= take;
                if (auth_.size() == auth_len_) state_ = State::kTag;
                continue;
            }
            case State::kRaw: {
                std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(n, raw_left_));
                if (!sink_.raw(p, take)) return fail("content refused by its reader");
                p += take;
                n -= take;
                raw_left_ -= take;
                if (raw_left_ == 0) state_ = last_seen_ ? State::kDone : State::kHeader;
                continue;
            }
        }
    }
    return true;
}

}  // namespace docsync
