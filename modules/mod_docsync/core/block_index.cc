#include "block_index.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string_view>

namespace docsync {

namespace {

// librsync's delta format (its prototab.h): a magic, then commands, each an opcode byte and
// big-endian operands. We only ever emit the 8-byte forms.
constexpr std::uint32_t kDeltaMagic = 0x72730236;  // RS_DELTA_MAGIC
constexpr unsigned char kOpEnd = 0x00;
constexpr unsigned char kOpLiteralN8 = 0x44;
constexpr unsigned char kOpCopyN8N8 = 0x54;
// Literal bytes are read and sent in pieces of this size; one LITERAL command covers at most
// this much, so the patcher never waits for a long literal to arrive whole.
constexpr std::size_t kLiteralChunkBytes = 256 * 1024;

std::uint64_t digest_of(const char* data, std::size_t len) {
    return std::hash<std::string_view>()(std::string_view(data, len));
}

void put_be(std::string& out, std::uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::uint64_t block_size(const BlockIndex& index, std::size_t i) {
    const std::uint64_t start = static_cast<std::uint64_t>(i) * kIndexBlockBytes;
    return std::min<std::uint64_t>(kIndexBlockBytes, index.size - start);
}

// Block i of `current` is at the same offset, with the same length and digest, in `basis`.
bool same_block(const BlockIndex& basis, const BlockIndex& current, std::size_t i) {
    return i < basis.blocks.size() && basis.blocks[i] == current.blocks[i] &&
           block_size(basis, i) == block_size(current, i);
}

bool send_literal(int fd, std::uint64_t offset, std::uint64_t len, const ByteSink& sink,
                  std::string* error) {
    std::string buf;
    while (len > 0) {
        const std::size_t piece =
            static_cast<std::size_t>(std::min<std::uint64_t>(len, kLiteralChunkBytes));
        buf.clear();
        buf.push_back(static_cast<char>(kOpLiteralN8));
        put_be(buf, piece, 8);
        const std::size_t head = buf.size();
        buf.resize(head + piece);
        for (std::size_t got = 0; got < piece;) {
            ssize_t n =
                ::pread(fd, &buf[head + got], piece - got, static_cast<off_t>(offset + got));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                *error = "file shorter than its block index";
                return false;
            }
            got += static_cast<std::size_t>(n);
        }
        if (!sink(buf.data(), buf.size())) {
            *error = "output refused";
            return false;
        }
        offset += piece;
        len -= piece;
    }
    return true;
}

}  // namespace

void BlockHasher::update(const char* data, std::size_t len) {
    if (!partial_.empty()) {
        const std::size_t take = std::min(len, kIndexBlockBytes - partial_.size());
        partial_.append(data, take);
        data += take;
        len -= take;
        if (partial_.size() < kIndexBlockBytes) return;
        blocks_.push_back(digest_of(partial_.data(), partial_.size()));
        partial_.clear();
    }
    for (; len >= kIndexBlockBytes; data += kIndexBlockBytes, len -= kIndexBlockBytes)
        blocks_.push_back(digest_of(data, kIndexBlockBytes));
    partial_.assign(data, len);
}

std::vector<std::uint64_t> BlockHasher::finish() {
    if (!partial_.empty()) blocks_.push_back(digest_of(partial_.data(), partial_.size()));
    partial_.clear();
    return std::move(blocks_);
}

bool consistent(const BlockIndex& index) {
    return index.blocks.size() == (index.size + kIndexBlockBytes - 1) / kIndexBlockBytes;
}

std::uint64_t literal_bytes(const BlockIndex& basis, const BlockIndex& current) {
    if (!consistent(basis) || !consistent(current)) return current.size;
    std::uint64_t literal = 0;
    for (std::size_t i = 0; i < current.blocks.size(); ++i)
        if (!same_block(basis, current, i)) literal += block_size(current, i);
    return literal;
}

bool write_block_delta(const BlockIndex& basis, const BlockIndex& current, int fd,
                       const ByteSink& sink, std::string* error) {
    if (!consistent(basis) || !consistent(current)) {
        *error = "block index does not match its size";
        return false;
    }
    std::string out;
    put_be(out, kDeltaMagic, 4);
    const std::size_t n = current.blocks.size();
    for (std::size_t i = 0; i < n;) {
        // One run of blocks that are all copied, or all literal.
        const bool copy = same_block(basis, current, i);
        std::size_t j = i + 1;
        while (j < n && same_block(basis, current, j) == copy) ++j;
        const std::uint64_t offset = static_cast<std::uint64_t>(i) * kIndexBlockBytes;
        const std::uint64_t len = std::min<std::uint64_t>(
            static_cast<std::uint64_t>(j - i) * kIndexBlockBytes, current.size - offset);
        if (copy) {
            out.push_back(static_cast<char>(kOpCopyN8N8));
            put_be(out, offset, 8);
            put_be(out, len, 8);
        } else {
            if (!out.empty() && !sink(out.data(), out.size())) {
                *error = "output refused";
                return false;
            }
            out.clear();
            if (!send_literal(fd, offset, len, sink, error)) return false;
        }
        i = j;
    }
    out.push_back(static_cast<char>(kOpEnd));
    if (!sink(out.data(), out.size())) {
        *error = "output refused";
        return false;
    }
    return true;
}

std::size_t BlockIndexStore::blocks_of(const Versions& v) {
    return (v.current ? v.current->blocks.size() : 0) +
           (v.previous ? v.previous->blocks.size() : 0);
}

void BlockIndexStore::put(const std::string& path, BlockIndex index) {
    std::lock_guard<std::mutex> lock(mutex_);
    Versions& v = paths_[path];
    blocks_ -= blocks_of(v);
    if (v.current && v.current->sha256 == index.sha256) {
        v.current.reset();  // the same content again (touched): not a version of its own
    } else if (v.current) {
        v.previous = std::move(v.current);
    }
    if (blocks_ + blocks_of(v) + index.blocks.size() <= max_blocks_)
        v.current = std::make_shared<const BlockIndex>(std::move(index));
    blocks_ += blocks_of(v);
    if (!v.current && !v.previous) paths_.erase(path);
}

std::shared_ptr<const BlockIndex> BlockIndexStore::current(const std::string& path) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = paths_.find(path);
    return it == paths_.end() ? nullptr : it->second.current;
}

std::shared_ptr<const BlockIndex> BlockIndexStore::find(const std::string& path,
                                                        const std::string& sha256) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = paths_.find(path);
    if (it == paths_.end()) return nullptr;
    for (const auto& v : {it->second.current, it->second.previous})
        if (v && v->sha256 == sha256) return v;
    return nullptr;
}

void BlockIndexStore::retain(const std::function<bool(const std::string&)>& keep) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = paths_.begin(); it != paths_.end();) {
        if (keep(it->first)) {
            ++it;
        } else {
            blocks_ -= blocks_of(it->second);
            it = paths_.erase(it);
        }
    }
}

std::size_t BlockIndexStore::stored_blocks() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return blocks_;
}

}  // namespace docsync
