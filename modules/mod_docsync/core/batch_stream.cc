#include "batch_stream.h"

#include <algorithm>
#include <charconv>

#include "crypto.h"

namespace docsync {

std::string file_header(std::uint64_t size, const std::string& sha256) {
    return "F " + std::to_string(size) + " " + sha256 + "\n";
}

std::string error_header(const std::string& reason) {
    std::string clean;
    for (char c : reason.substr(0, 200)) clean += (c == '\n' || c == '\r') ? ' ' : c;
    return "E " + clean + "\n";
}

bool BatchDecoder::header(std::string_view line) {
    if (index_ >= expected_.size()) return fail("more files than requested");
    if (line.size() >= 2 && line[0] == 'E' && line[1] == ' ') {
        sink_.unavailable(index_, std::string(line.substr(2)));
        ++index_;
        return true;
    }
    // "F <size> <sha256>"
    std::uint64_t size = 0;
    if (line.size() < 4 || line[0] != 'F' || line[1] != ' ') return fail("bad file header");
    const char* b = line.data() + 2;
    const char* e = line.data() + line.size();
    auto r = std::from_chars(b, e, size);
    if (r.ec != std::errc() || r.ptr == b || r.ptr == e || *r.ptr != ' ')
        return fail("bad file size");
    std::string_view sha(r.ptr + 1, static_cast<std::size_t>(e - r.ptr - 1));
    if (sha.size() != kSha256HexChars || !is_lower_hex(sha)) return fail("bad file hash");
    const ExpectedFile& want = expected_[index_];
    bool skip = sha != want.sha256;
    if (!skip && size != want.size) return fail("file size differs from the manifest");
    if (skip) sink_.unavailable(index_, "changed on the primary since its manifest");
    frame_raw_ += size;
    pending_.push_back({index_, size, skip});
    ++index_;
    return true;
}

// Begins (and, if empty, ends) the files at the front of the queue.
bool BatchDecoder::start_ready() {
    while (!pending_.empty()) {
        Pending& f = pending_.front();
        if (!f.begun && !f.skip) {
            if (!sink_.begin(f.index, f.left)) return fail("sink refused file");
        }
        f.begun = true;
        if (f.left) return true;
        if (!f.skip && !sink_.end()) return fail("sink refused end");
        pending_.pop_front();
    }
    return true;
}

bool BatchDecoder::frame(std::string_view auth, std::uint64_t raw_len, bool last) {
    if (!error_.empty()) return false;
    if (last_) return fail("frame after the last one");
    if (!pending_.empty()) return fail("frame before the previous content ended");
    frame_raw_ = 0;
    std::size_t start = 0;
    while (start < auth.size()) {
        std::size_t end = auth.find('\n', start);
        if (end == std::string_view::npos) return fail("file header lacks a newline");
        if (!header(auth.substr(start, end - start))) return false;
        start = end + 1;
    }
    if (frame_raw_ != raw_len) return fail("frame content length differs from its headers");
    last_ = last;
    if (last && index_ != expected_.size()) return fail("batch ended before every file");
    return start_ready();
}

bool BatchDecoder::raw(const char* p, std::size_t n) {
    if (!error_.empty()) return false;
    while (n) {
        if (pending_.empty()) return fail("content beyond the announced files");
        Pending& f = pending_.front();
        std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(n, f.left));
        if (!f.skip && !sink_.data(p, take)) return fail("sink refused data");
        p += take;
        n -= take;
        f.left -= take;
        if (f.left == 0) {
            if (!f.skip && !sink_.end()) return fail("sink refused end");
            pending_.pop_front();
            if (!start_ready()) return false;
        }
    }
    return true;
}

}  // namespace docsync
