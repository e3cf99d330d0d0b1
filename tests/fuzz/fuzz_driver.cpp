// Runs LLVMFuzzerTestOneInput without libFuzzer: each file named on the command line, then
// kRandomInputs seeded random inputs of random sizes (some starting with a valid magic).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <random>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {
constexpr int kRandomInputs = 100000;
constexpr std::size_t kMaxInputBytes = 256;
constexpr std::uint64_t kSeed = 694;
const std::uint8_t kMagicAndVersion[] = {'H', 'A', 'H', 'B', 1};
}  // namespace

int main(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        std::ifstream in(argv[i], std::ios::binary);
        std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), {});
        LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
    }
    std::mt19937_64 rng(kSeed);
    for (int i = 0; i < kRandomInputs; ++i) {
        std::vector<std::uint8_t> bytes(rng() % (kMaxInputBytes + 1));
        for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
        if (i % 2 == 0)
            for (std::size_t j = 0; j < sizeof kMagicAndVersion && j < bytes.size(); ++j)
                bytes[j] = kMagicAndVersion[j];
        LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
    }
    std::printf("%d random inputs, none accepted\n", kRandomInputs);
    return 0;
}
