// Writes test vectors for the grid-indexed IQ types, made by llama.cpp itself: fixed
// pseudo-random rows quantised with ggml_quantize_chunk (a uniform importance matrix, which the
// types that require one accept and the others ignore — llama.cpp quantises those without one
// the same way), then dequantised by ggml's own to_float, plus blocks of random bytes and ggml's
// floats for them. Not part of the default build: make.sh builds it against the libggml-base.so
// of node-llama-cpp (tests/interop/setup.sh) with the headers of the bundled llama.cpp source.
//
// One file per type, <dir>/<type>.bin, little-endian:
//   "SLIQ", u32 ggml type id, u32 values per row, u32 rows quantised from floats, u32 rows of
//   random bytes, then for each row: the source floats (quantised rows only), the blocks, and
//   ggml's dequantised floats.
#include <cstdint>
#include <cstdio>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "ggml.h"

namespace {

constexpr int64_t kValues = 512;       // per row: two super-blocks
constexpr int kQuantisedRows = 4;
constexpr int kRandomRows = 2;

// xorshift64*: the same numbers on every machine.
struct Rng {
    uint64_t s;
    uint64_t next() {
        s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
        return s * 0x2545F4914F6CDD1DULL;
    }
    float uniform() { return float(next() >> 40) / float(1 << 24); }  // [0, 1)
};

// Rows with a different scale per 32 values, some heavy-tailed values and one all-zero group.
std::vector<float> source_rows(uint64_t seed) {
    Rng rng{seed};
    std::vector<float> x(size_t(kQuantisedRows * kValues));
    for (size_t g = 0; g < x.size() / 32; ++g) {
        const float scale = 0.01f + 2.0f * rng.uniform();
        for (size_t j = 0; j < 32; ++j) {
            float v = (rng.uniform() + rng.uniform() + rng.uniform() - 1.5f) * scale;
            if (rng.next() % 29 == 0) v *= 6.0f;
            x[32 * g + j] = g == 5 ? 0.0f : v;
        }
    }
    return x;
}

void write(FILE* f, const void* p, size_t n) {
    if (fwrite(p, 1, n, f) != n) {
        perror("make_iq_vectors: write");
        std::exit(1);
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: make_iq_vectors OUT_DIR\n");
        return 2;
    }
    const ggml_type types[] = {GGML_TYPE_IQ2_XXS, GGML_TYPE_IQ2_XS, GGML_TYPE_IQ2_S, GGML_TYPE_IQ3_XXS,
                               GGML_TYPE_IQ3_S,   GGML_TYPE_IQ1_S,  GGML_TYPE_IQ1_M};
    const std::vector<float> uniform_imatrix(size_t(kValues), 1.0f);
    for (ggml_type t : types) {
        const size_t row_size = ggml_row_size(t, kValues);
        const std::vector<float> x = source_rows(1000 + uint64_t(t));
        std::vector<uint8_t> blocks(row_size * (kQuantisedRows + kRandomRows));
        ggml_quantize_chunk(t, x.data(), blocks.data(), 0, kQuantisedRows, kValues, uniform_imatrix.data());
        Rng rng{77 + uint64_t(t)};
        for (size_t i = row_size * kQuantisedRows; i < blocks.size(); ++i) blocks[i] = uint8_t(rng.next() >> 56);
        // A random half-precision scale can be infinite or NaN; keep the random rows finite so
        // the files compare with memcmp (NaN payloads are not what is under test).
        const ggml_type_traits* traits = ggml_get_type_traits(t);
        std::vector<float> y(size_t(kValues) * (kQuantisedRows + kRandomRows));
        for (int r = 0; r < kQuantisedRows + kRandomRows; ++r) {
            uint8_t* row = blocks.data() + size_t(r) * row_size;
            for (;;) {
                traits->to_float(row, y.data() + size_t(r) * kValues, kValues);
                bool finite = true;
                for (int64_t i = 0; i < kValues; ++i) finite &= std::isfinite(y[size_t(r * kValues + i)]) != 0;
                if (finite || r < kQuantisedRows) break;
                for (size_t i = 0; i < row_size; ++i) row[i] = uint8_t(rng.next() >> 56);
            }
        }
        const std::string path = std::string(argv[1]) + "/" + ggml_type_name(t) + ".bin";
        FILE* f = std::fopen(path.c_str(), "wb");
        if (!f) {
            perror(path.c_str());
            return 1;
        }
        const uint32_t header[4] = {uint32_t(t), uint32_t(kValues), kQuantisedRows, kRandomRows};
        write(f, "SLIQ", 4);
        write(f, header, sizeof header);
        for (int r = 0; r < kQuantisedRows + kRandomRows; ++r) {
            if (r < kQuantisedRows) write(f, x.data() + size_t(r) * kValues, kValues * 4);
            write(f, blocks.data() + size_t(r) * row_size, row_size);
            write(f, y.data() + size_t(r) * kValues, kValues * 4);
        }
        std::fclose(f);
        std::printf("%s: %zu bytes per row\n", path.c_str(), row_size);
    }
    return 0;
}
