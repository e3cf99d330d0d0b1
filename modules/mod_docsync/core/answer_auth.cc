#include "answer_auth.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <vector>

#include "crypto.h"
#include "safe_fs.h"

namespace docsync {

namespace {

constexpr std::string_view kAnswerLabel = "docsync-answer-v1";
constexpr std::string_view kAnswerKeyLabel = "docsync answer key v1";
constexpr std::size_t kMaxKeyFileBytes = 16 * 1024;

struct PkeyDeleter {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
struct MdCtxDeleter {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;
struct BioDeleter {
    void operator()(BIO* b) const { BIO_free(b); }
};

bool from_hex(std::string_view hex, std::vector<unsigned char>* out) {
    if (hex.size() % 2 || !is_lower_hex(hex)) return false;
    out->resize(hex.size() / 2);
    auto nib = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
    for (std::size_t i = 0; i < out->size(); ++i)
        (*out)[i] = static_cast<unsigned char>(nib(hex[2 * i]) << 4 | nib(hex[2 * i + 1]));
    return true;
}

// The answer key: a different key from the request key, so no request MAC is an answer tag.
std::string derive_answer_key(std::string_view secret) {
    std::string hex = hmac_sha256_hex(secret, kAnswerKeyLabel);
    std::vector<unsigned char> raw;
    from_hex(hex, &raw);
    return std::string(raw.begin(), raw.end());
}

class HmacSigner : public AnswerSigner {
  public:
    explicit HmacSigner(std::string_view secret) : key_(derive_answer_key(secret)) {}
    std::string tag(std::string_view m) const override { return hmac_sha256_hex(key_, m); }
    const char* mode() const override { return "hmac"; }

  private:
    std::string key_;
};

class HmacVerifier : public AnswerVerifier {
  public:
    explicit HmacVerifier(std::string_view secret) : key_(derive_answer_key(secret)) {}
    bool check(std::string_view m, std::string_view tag) const override {
        return tag.size() == kSha256HexChars && constant_time_equal(hmac_sha256_hex(key_, m), tag);
    }
    const char* mode() const override { return "hmac"; }

  private:
    std::string key_;
};

class Ed25519Signer : public AnswerSigner {
  public:
    explicit Ed25519Signer(Pkey key) : key_(std::move(key)) {}
    std::string tag(std::string_view m) const override {
        MdCtx ctx(EVP_MD_CTX_new());
        unsigned char sig[64];
        std::size_t len = sizeof sig;
        if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1 ||
            EVP_DigestSign(ctx.get(), sig, &len, reinterpret_cast<const unsigned char*>(m.data()),
                           m.size()) != 1)
            throw std::runtime_error("Ed25519 signing failed");
        return to_hex(sig, len);
    }
    const char* mode() const override { return "ed25519"; }

  private:
    Pkey key_;
};

class Ed25519Verifier : public AnswerVerifier {
  public:
    explicit Ed25519Verifier(Pkey key) : key_(std::move(key)) {}
    bool check(std::string_view m, std::string_view tag) const override {
        std::vector<unsigned char> sig;
        if (tag.size() != 128 || !from_hex(tag, &sig)) return false;
        MdCtx ctx(EVP_MD_CTX_new());
        return ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) == 1 &&
               EVP_DigestVerify(ctx.get(), sig.data(), sig.size(),
                                reinterpret_cast<const unsigned char*>(m.data()), m.size()) == 1;
    }
    const char* mode() const override { return "ed25519"; }

  private:
    Pkey key_;
};

// Reads a small PEM file through O_NOFOLLOW after checking who may change (or read) it.
std::string read_key_file(const std::string& path, bool secret, std::string* error) {
    auto fail = [&](const std::string& why) {
        *error = path + ": " + why;
        return std::string();
    };
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) return fail(errno_text(errno));
    struct stat st;
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return fail("not a regular file");
    if (st.st_uid != ::geteuid() && st.st_uid != 0) return fail("not owned by this user or root");
    if (secret && (st.st_mode & (S_IRWXG | S_IRWXO)))
        return fail("private key accessible by group or others (chmod 0600)");
    if (!secret && (st.st_mode & (S_IWGRP | S_IWOTH)))
        return fail("writable by group or others (chmod 0644)");
    if (st.st_size <= 0 || st.st_size > static_cast<off_t>(kMaxKeyFileBytes))
        return fail("empty or larger than 16 KiB");
    std::string text(static_cast<std::size_t>(st.st_size), '\0');
    if (::read(fd.get(), text.data(), text.size()) != st.st_size) return fail("short read");
    return text;
}

}  // namespace

std::string whole_body(std::string_view body) {
    return "whole " + std::to_string(body.size()) + " " + sha256_hex(body);
}

std::string answer_message(const AnswerFacts& f) {
    std::string s(kAnswerLabel);
    for (const std::string* part : {&f.nonce, &f.method, &f.path}) s.append("\n").append(*part);
    s.append("\n").append(std::to_string(f.status));
    for (const std::string* part :
         {&f.etag, &f.version, &f.manifest_kind, &f.content_type, &f.body})
        s.append("\n").append(*part);
    return s;
}

std::unique_ptr<AnswerSigner> hmac_answer_signer(std::string_view secret) {
    return std::make_unique<HmacSigner>(secret);
}

std::unique_ptr<AnswerVerifier> hmac_answer_verifier(std::string_view secret) {
    return std::make_unique<HmacVerifier>(secret);
}

std::unique_ptr<AnswerSigner> ed25519_answer_signer(std::string_view raw) {
    if (raw.size() != kEd25519KeyBytes) return nullptr;
    Pkey k(EVP_PKEY_new_raw_private_key(
        EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(raw.data()), raw.size()));
    if (!k) return nullptr;
    return std::make_unique<Ed25519Signer>(std::move(k));
}

std::unique_ptr<AnswerVerifier> ed25519_answer_verifier(std::string_view raw) {
    if (raw.size() != kEd25519KeyBytes) return nullptr;
    Pkey k(EVP_PKEY_new_raw_public_key(
        EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(raw.data()), raw.size()));
    if (!k) return nullptr;
    return std::make_unique<Ed25519Verifier>(std::move(k));
}

std::string ed25519_public_of(std::string_view raw_private) {
    Pkey k(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr,
                                        reinterpret_cast<const unsigned char*>(raw_private.data()),
                                        raw_private.size()));
    unsigned char pub[kEd25519KeyBytes];
    std::size_t len = sizeof pub;
    if (!k || EVP_PKEY_get_raw_public_key(k.get(), pub, &len) != 1) return {};
    return std::string(reinterpret_cast<char*>(pub), len);
}

std::string load_ed25519_private_key_file(const std::string& path, std::string* error) {
    std::string pem = read_key_file(path, true, error);
    if (pem.empty()) return {};
    std::unique_ptr<BIO, BioDeleter> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    Pkey k(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
    std::fill(pem.begin(), pem.end(), '\0');
    if (!k || EVP_PKEY_id(k.get()) != EVP_PKEY_ED25519) {
        *error = path + ": not a PEM Ed25519 private key (openssl genpkey -algorithm ed25519)";
        return {};
    }
    unsigned char raw[kEd25519KeyBytes];
    std::size_t len = sizeof raw;
    if (EVP_PKEY_get_raw_private_key(k.get(), raw, &len) != 1 || len != kEd25519KeyBytes) {
        *error = path + ": cannot read the Ed25519 private key";
        return {};
    }
    return std::string(reinterpret_cast<char*>(raw), len);
}

std::string load_ed25519_public_key_file(const std::string& path, std::string* error) {
    std::string pem = read_key_file(path, false, error);
    if (pem.empty()) return {};
    std::unique_ptr<BIO, BioDeleter> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    Pkey k(bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr);
    if (!k || EVP_PKEY_id(k.get()) != EVP_PKEY_ED25519) {
        *error = path + ": not a PEM Ed25519 public key (openssl pkey -pubout)";
        return {};
    }
    unsigned char raw[kEd25519KeyBytes];
    std::size_t len = sizeof raw;
    if (EVP_PKEY_get_raw_public_key(k.get(), raw, &len) != 1 || len != kEd25519KeyBytes) {
        *error = path + ": cannot read the Ed25519 public key";
        return {};
    }
    return std::string(reinterpret_cast<char*>(raw), len);
}

}  // namespace docsync
