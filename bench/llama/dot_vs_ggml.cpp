// Per-block cost of sluice's dot kernels against llama.cpp's own (ggml_vec_dot_<type>_q8_K from
// node-llama-cpp's libggml-cpu-<variant>.so, the same release as the interop peer), one thread,
// 64 rows × 2048 columns held in L2, in thread CPU time: on a shared VM that counts only the
// time this thread ran, so both engines are timed alike while other jobs load the machine. The
// two results of the last row are printed too (they are equal: the same integer sums). Where a
// type has a rows kernel (decode's matvec takes kMaxRows rows a call), that one is timed too. Then
// the interleaved layouts (kernels/repack.h) beside sluice's row kernel, on the same rows.
// Not part of the build:
//
//   L=tests/interop/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
//   g++ -std=c++20 -O2 -Isrc bench/llama/dot_vs_ggml.cpp -o /tmp/dot_vs_ggml
//       build/libsluice_kernels.a build/libsluice_quant.a build/libsluice_util.a -lfmt -ldl   (one line)
//   LD_LIBRARY_PATH=$L /tmp/dot_vs_ggml $PWD/$L/libggml-cpu-zen4.so      (or -icelake, -sapphirerapids …)
#include <dlfcn.h>
#include <time.h>

#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/dot.h"
#include "kernels/repack.h"
#include "quant/types.h"

using namespace sluice;

namespace {

double thread_seconds() {
    timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

using GgmlVecDot = void (*)(int n, float* s, size_t bs, const void* x, size_t bx, const void* y, size_t by, int nrc);

// Rows of type t: quantised random values, or for the types sluice does not write random bytes
// with the half-precision scale (IQ1_M: its four nibbles) set to 2^-7.
std::vector<uint8_t> weight_rows(GgmlType t, int64_t rows, int64_t cols, std::mt19937_64& rng) {
    const size_t rb = row_bytes(t, cols), block = type_info(t).block_bytes;
    std::vector<uint8_t> w(rb * size_t(rows));
    if (can_quantize(t)) {
        std::vector<float> r(static_cast<size_t>(cols));
        for (int64_t i = 0; i < rows; ++i) {
            for (auto& v : r) v = float(rng() % 1000) / 500 - 1;
            quantize_row_ref(t, r.data(), w.data() + size_t(i) * rb, cols);
        }
        return w;
    }
    const uint16_t d = 0x2000;
    for (auto& b : w) b = uint8_t(rng());
    for (size_t b = 0; b < w.size(); b += block) {
        if (t != GgmlType::IQ1_M) std::memcpy(&w[b], &d, 2);
        else for (int k = 0; k < 4; ++k) w[b + 49 + 2 * k] = uint8_t((w[b + 49 + 2 * k] & 0x0F) | ((d >> (4 * k)) & 0xF) << 4);
    }
    return w;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: dot_vs_ggml LIBGGML_CPU.so\n");
        return 2;
    }
    void* lib = dlopen(argv[1], RTLD_NOW);
    if (!lib) {
        std::fprintf(stderr, "%s\n", dlerror());
        return 1;
    }
    reinterpret_cast<void (*)()>(dlsym(lib, "ggml_cpu_init"))();
    const int64_t cols = 2048, rows = 64;
    const int iterations = 200;
    const struct {
        GgmlType type;
        const char* ggml;
    } cases[] = {{GgmlType::Q4_K, "q4_K"},      {GgmlType::Q6_K, "q6_K"},   {GgmlType::IQ4_XS, "iq4_xs"},
                 {GgmlType::IQ2_XXS, "iq2_xxs"}, {GgmlType::IQ2_XS, "iq2_xs"}, {GgmlType::IQ2_S, "iq2_s"},
                 {GgmlType::IQ3_XXS, "iq3_xxs"}, {GgmlType::IQ3_S, "iq3_s"},   {GgmlType::IQ1_S, "iq1_s"},
                 {GgmlType::IQ1_M, "iq1_m"}};
    const kernels::KernelSet& ks = kernels::active_kernels();
    std::mt19937_64 rng(1);
    std::vector<float> x(static_cast<size_t>(cols));
    for (auto& v : x) v = float(rng() % 1000) / 500 - 1;
    std::vector<uint8_t> xq(row_bytes(GgmlType::Q8_K, cols));
    ks.quantize_q8_k(x.data(), xq.data(), cols);
    std::printf("sluice kernels: %s\n", kernels::isa_name(ks.isa));
    for (const auto& c : cases) {
        auto ggml = reinterpret_cast<GgmlVecDot>(dlsym(lib, (std::string("ggml_vec_dot_") + c.ggml + "_q8_K").c_str()));
        const size_t rb = row_bytes(c.type, cols);
        const std::vector<uint8_t> w = weight_rows(c.type, rows, cols, rng);
        const kernels::DotRowsFn dot_rows = ks[c.type].dot_rows;
        double best[3] = {1e9, 1e9, 1e9};
        float ours = 0, theirs = 0, rows_out[kernels::kMaxRows];
        for (int rep = 0; rep < 7; ++rep) {
            for (int engine = 0; engine < (dot_rows ? 3 : 2); ++engine) {
                const double t0 = thread_seconds();
                for (int it = 0; it < iterations; ++it) {
                    if (engine == 2) {
                        for (int64_t r = 0; r < rows; r += kernels::kMaxRows)
                            dot_rows(cols, w.data() + size_t(r) * rb, rb, kernels::kMaxRows, xq.data(), rows_out);
                        continue;
                    }
                    for (int64_t r = 0; r < rows; ++r) {
                        if (engine == 0) ks[c.type].dot(cols, w.data() + size_t(r) * rb, xq.data(), 0, 1, &ours);
                        else ggml(int(cols), &theirs, 0, w.data() + size_t(r) * rb, 0, xq.data(), 0, 1);
                    }
                }
                best[engine] = std::min(best[engine], thread_seconds() - t0);
            }
        }
        const double blocks = double(iterations) * double(rows * cols / 256), bytes = double(iterations) * double(rows) * double(rb);
        std::printf("%-8s sluice %5.2f ns/block (%5.1f GB/s)   llama.cpp %5.2f ns/block (%5.1f GB/s)   dot %g vs %g\n",
                    type_name(c.type), best[0] * 1e9 / blocks, bytes / best[0] / 1e9, best[1] * 1e9 / blocks,
                    bytes / best[1] / 1e9, ours, theirs);
        if (dot_rows)
            std::printf("%-8s sluice %d rows a call %5.2f ns/block (%5.1f GB/s)\n", type_name(c.type), kernels::kMaxRows,
                        best[2] * 1e9 / blocks, bytes / best[2] / 1e9);
    }
    // The interleaved kernels against the row kernel of the same type, alternated.
    for (GgmlType t : {GgmlType::Q4_K, GgmlType::Q6_K}) {
        const size_t rb = row_bytes(t, cols);
        const std::vector<uint8_t> w = weight_rows(t, rows, cols, rng);
        std::vector<uint8_t> packed(w.size());
        kernels::repack(Weight{t, w.data(), rows, cols}, packed.data());
        double best[2] = {1e9, 1e9};
        float y[8];
        for (int rep = 0; rep < 7; ++rep)
            for (int layout = 0; layout < 2; ++layout) {
                const double t0 = thread_seconds();
                for (int it = 0; it < iterations; ++it) {
                    if (layout == 0)
                        for (int64_t r = 0; r < rows; ++r) ks[t].dot(cols, w.data() + size_t(r) * rb, xq.data(), 0, 1, y);
                    else
                        for (int64_t g = 0; g < rows; g += 8) ks[t].dot_x8(cols, packed.data() + size_t(g) * rb, xq.data(), 0, 1, y);
                }
                best[layout] = std::min(best[layout], thread_seconds() - t0);
            }
        const double blocks = double(iterations) * double(rows * cols / 256), bytes = double(iterations) * double(rows) * double(rb);
        std::printf("%-8s sluice rows %5.2f ns/block (%5.1f GB/s)   interleaved x8 %5.2f ns/block (%5.1f GB/s)\n", type_name(t),
                    best[0] * 1e9 / blocks, bytes / best[0] / 1e9, best[1] * 1e9 / blocks, bytes / best[1] / 1e9);
    }
    return 0;
}
