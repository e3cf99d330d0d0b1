// A strict check of RFC 8259's grammar, for tests of documents the modules write: true when
// `text` is exactly one JSON value (surrounding white space allowed).
#pragma once

#include <cctype>
#include <cstring>
#include <string>

namespace test_support {

class JsonGrammar {
  public:
    static bool valid(const std::string& text) {
        JsonGrammar g(text);
        return g.value() && (g.skip_space(), g.pos_ == text.size());
    }

  private:
    explicit JsonGrammar(const std::string& text) : s_(text) {}

    void skip_space() {
        while (pos_ < s_.size() && std::strchr(" \t\r\n", s_[pos_])) ++pos_;
    }
    bool eat(char c) {
        skip_space();
        if (pos_ < s_.size() && s_[pos_] == c) return ++pos_, true;
        return false;
    }
    bool literal(const char* word) {
        const std::size_t n = std::strlen(word);
        if (s_.compare(pos_, n, word) != 0) return false;
        pos_ += n;
        return true;
    }
    bool digits() {
        const std::size_t start = pos_;
        while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) ++pos_;
        return pos_ > start;
    }
    bool number() {
        if (pos_ < s_.size() && s_[pos_] == '-') ++pos_;
        if (pos_ < s_.size() && s_[pos_] == '0')
            ++pos_;
        else if (!digits())
            return false;
        if (pos_ < s_.size() && s_[pos_] == '.' && (++pos_, !digits())) return false;
        if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
            ++pos_;
            if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
            if (!digits()) return false;
        }
        return true;
    }
    bool string() {
        if (!eat('"')) return false;
        while (pos_ < s_.size()) {
            const unsigned char c = s_[pos_++];
            if (c == '"') return true;
            if (c < 0x20) return false;
            if (c != '\\') continue;
            if (pos_ >= s_.size()) return false;
            const char e = s_[pos_++];
            if (e == 'u') {
                for (int i = 0; i < 4; ++i, ++pos_)
                    if (pos_ >= s_.size() || !std::isxdigit(static_cast<unsigned char>(s_[pos_])))
                        return false;
            } else if (!std::strchr("\"\\/bfnrt", e)) {
                return false;
            }
        }
        return false;
    }
    template <class Item>
    bool sequence(char close, Item item) {
        if (eat(close)) return true;
        do {
            if (!item()) return false;
        } while (eat(','));
        return eat(close);
    }
    bool value() {
        if (++depth_ > kMaxDepth) return false;
        skip_space();
        bool ok;
        if (eat('{')) {
            ok = sequence('}', [this] { return string() && eat(':') && value(); });
        } else if (eat('[')) {
            ok = sequence(']', [this] { return value(); });
        } else if (pos_ < s_.size() && s_[pos_] == '"') {
            ok = string();
        } else {
            ok = literal("true") || literal("false") || literal("null") || number();
        }
        --depth_;
        return ok;
    }

    static constexpr int kMaxDepth = 64;
    const std::string& s_;
    std::size_t pos_ = 0;
    int depth_ = 0;
};

}  // namespace test_support
