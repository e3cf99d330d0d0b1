#include "batch_stream.h"

#include <algorithm>
#include <charconv>

namespace docsync {

std::string frame_header(std::uint64_t size) {
    return "F " + std::to_string(size) + "\n";
}

std::string error_frame(const std::string& reason) {
    std::string clean;
    for (char c : reason.substr(0, 200)) clean += (c == '\n' || c == '\r') ? ' ' : c;
    return "E " + clean + "\n";
}

bool BatchDecoder::header_done() {
    if (index_ >= expected_.size()) {
        error_ = "more frames than requested files";
        return false;
    }
    if (header_.size() >= 2 && header_[0] == 'E' && header_[1] == ' ') {
        sink_.unavailable(index_, header_.substr(2));
        ++index_;
        header_.clear();
        return true;
    }
    std::uint64_t size = 0;
    const char* b = header_.data() + 2;
    const char* e = header_.data() + header_.size();
    if (header_.size() < 3 || header_[0] != 'F' || header_[1] != ' ' || *b < '0' || *b > '9') {
        error_ = "bad frame header";
        return false;
    }
    auto r = std::from_chars(b, e, size);
    if (r.ec != std::errc() || r.ptr != e) {
        error_ = "bad frame size";
        return false;
    }
    if (size > expected_[index_]) {
        error_ = "frame larger than the manifest size";
        return false;
    }
    header_.clear();
    if (!sink_.begin(index_, size)) {
        error_ = "sink refused file";
        return false;
    }
    remaining_ = size;
    in_body_ = true;
    return remaining_ != 0 || end_file();
}

bool BatchDecoder::end_file() {
    in_body_ = false;
    ++index_;
    if (sink_.end()) return true;
    error_ = "sink refused end";
    return false;
}

bool BatchDecoder::feed(const char* p, std::size_t n) {
    if (!error_.empty()) return false;
    while (n) {
        if (in_body_) {
            std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, n));
            if (!sink_.data(p, take)) {
                error_ = "sink refused data";
                return false;
            }
            p += take;
            n -= take;
            remaining_ -= take;
            if (remaining_ == 0 && !end_file()) return false;
            continue;
        }
        char c = *p++;
        --n;
        if (c == '\n') {
            if (!header_done()) return false;
            continue;
        }
        header_ += c;
        if (header_.size() > kMaxFrameHeaderBytes) {
            error_ = "frame header too long";
            return false;
        }
    }
    return true;
}

}  // namespace docsync
