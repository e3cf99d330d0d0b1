// Runs LLVMFuzzerTestOneInput without libFuzzer: each file named on the command line, then
// kRandomInputs seeded random inputs: a quarter of exactly a datagram's size, a quarter short
// (a few edits for the target's third part), the rest of random sizes up to two datagrams;
// half of them start with a valid magic and version.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <random>
#include <vector>

#include "wire_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {
constexpr int kRandomInputs = 100000;
constexpr std::size_t kMaxInputBytes = 2 * ha_heartbeat::kWireSize;
constexpr std::size_t kMaxShortInputBytes = 16;
constexpr std::uint64_t kSeed = 694;
const std::uint8_t kMagicAndVersion[] = {'H', 'A', 'H', 'B', ha_heartbeat::kWireVersion};
}  // namespace

int main(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        std::ifstream in(argv[i], std::ios::binary);
        std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), {});
        LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
    }
    std::mt19937_64 rng(kSeed);
    for (int i = 0; i < kRandomInputs; ++i) {
        const std::size_t size = i % 4 == 0   ? ha_heartbeat::kWireSize
                                 : i % 4 == 1 ? 1 + rng() % kMaxShortInputBytes
                                              : rng() % (kMaxInputBytes + 1);
        std::vector<std::uint8_t> bytes(size);
        for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
        if (i % 2 == 0)
            for (std::size_t j = 0; j < sizeof kMagicAndVersion && j < bytes.size(); ++j)
                bytes[j] = kMagicAndVersion[j];
        LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
    }
    std::printf("%d random inputs, none accepted\n", kRandomInputs);
    return 0;
}
