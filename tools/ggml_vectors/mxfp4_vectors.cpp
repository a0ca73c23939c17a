// Writes MXFP4 test vectors with llama.cpp's own ggml (the libggml-base.so node-llama-cpp ships):
// 1024 float inputs, ggml's quantize_mxfp4 blocks of them, and ggml's dequantize_row_mxfp4 of
// those blocks, concatenated (float32 little-endian, then 32 × 17 bytes, then float32), so the
// test (tests/quant/mxfp4_vectors_test.cpp) checks sluice's bytes without llama.cpp installed.
// Build and run with tools/ggml_vectors/make_mxfp4_vectors.sh.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

extern "C" size_t quantize_mxfp4(const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix);
extern "C" void dequantize_row_mxfp4(const void* src, float* dst, int64_t k);

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s OUT.bin\n", argv[0]);
        return 2;
    }
    const int n = 1024;
    std::vector<float> x(n);
    uint64_t s = 0x2545F4914F6CDD1Dull;
    auto uniform = [&] {   // xorshift64*, in [0, 1)
        s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
        return double((s * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
    };
    for (int b = 0; b < n / 32; ++b) {
        const double scale = std::exp2(-20.0 + 40.0 * uniform());
        for (int j = 0; j < 32; ++j) {
            float& v = x[size_t(32 * b + j)];
            switch (b % 8) {
                case 0: v = 0.0f; break;                                                  // all zero
                case 1: v = float((int(uniform() * 49) - 24) * 0.25 * scale); break;     // ties between codes
                case 2: v = float(j == 5 ? 30 * scale : (uniform() - 0.5) * scale); break;   // one outlier
                case 3: v = float(std::exp2(double(j % 9 - 4)) * (j % 2 ? -1 : 1)); break;     // exact powers of two
                default: v = float((uniform() * 2 - 1) * scale); break;
            }
        }
    }
    std::vector<uint8_t> blocks(size_t(n / 32) * 17);
    quantize_mxfp4(x.data(), blocks.data(), 1, n, nullptr);
    std::vector<float> y(n);
    dequantize_row_mxfp4(blocks.data(), y.data(), n);
    FILE* f = std::fopen(argv[1], "wb");
    if (!f) return 1;
    std::fwrite(x.data(), 4, x.size(), f);
    std::fwrite(blocks.data(), 1, blocks.size(), f);
    std::fwrite(y.data(), 4, y.size(), f);
    return std::fclose(f) == 0 ? 0 : 1;
}
