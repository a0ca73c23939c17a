// The GPU's 8-bit-activation arithmetic (src/cuda/q8_arith.h), run on the CPU: the header is the
// code the device kernels execute (dp4a emulated byte by byte), so these tests check the GPU's
// quantisers and integer dot products where no GPU exists.
//
// - Activation quantisers: bit for bit the CPU's, on every instruction set this CPU has.
// - Whole blocks (block_term: units summed in integers, scaled once per block, blocks added in
//   order; what the prefill kernel computes per output): bit for bit the portable CPU dot. The
//   IQ grid types (q8_iq_units.h) also value by value against the CPU's integer levels.
// - Units scaled one by one (unit_term; what the decode kernels compute before their
//   reduction): the integers are block_term's, only the float scaling differs. Each term
//   A − B = (x_d·w_d)·s − (x_d·w_dmin)·m has at most 4 roundings (two products each, the
//   subtraction; float(s) is exact below 2^24 and one more rounding above; an IQ term
//   (x_d·w_d)·(factor·(s + m/8)) as many: the product, the sum, float(s) and the last product,
//   the powers of two exact), and U terms added in
//   sequence add U − 1; the CPU's per-block terms (|A_block| ≤ Σ|A_u|) the same with its B blocks:
//     |Σ unit terms − CPU dot| ≤ (U + B + 8)·2^-24·Σ_u(|A_u| + |B_u|).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "cuda/q8_arith.h"
#include "error_bound.h"
#include "force_isa.h"
#include "kernels/dot.h"
#include "quant/blocks.h"
#include "quant/iq_levels.h"
#include "quant/iq_vectors.h"
#include "quant/random_iq_blocks.h"
#include "quant/test_rows.h"
#include "util/half.h"

namespace sluice {
namespace {

using kernels::Isa;

using test::supported_isas;

// Test rows plus blocks the quantisers treat specially: the largest magnitude twice with both
// signs (the first one sets the sign of d), all zero, a single non-zero value.
std::vector<float> activation_rows(int64_t n, uint64_t seed) {
    std::vector<float> x = test::quant_test_row(n, seed);
    x[3] = -2.5f;
    x[200] = 2.5f;
    for (int j = 256; j < 512 && j < n; ++j) x[size_t(j)] = 0.0f;
    if (n >= 768) x[600] = -1e-3f;
    return x;
}

TEST(CudaQ8Arith, Q8KQuantiserIsTheCpusBitForBit) {
    const int64_t n = 256 * 12;
    for (uint64_t seed : {1u, 2u, 3u}) {
        const std::vector<float> x = activation_rows(n, seed);
        std::vector<BlockQ8_K> gpu(size_t(n / 256));
        for (size_t b = 0; b < gpu.size(); ++b) q8::quantize_block_q8_k(x.data() + 256 * b, gpu[b]);
        for (Isa isa : supported_isas()) {
            std::vector<BlockQ8_K> cpu(gpu.size());
            kernels::kernel_set(isa).quantize_q8_k(x.data(), cpu.data(), n);
            for (size_t b = 0; b < gpu.size(); ++b)
                EXPECT_EQ(std::memcmp(&gpu[b], &cpu[b], sizeof(BlockQ8_K)), 0)
                    << kernels::isa_name(isa) << " seed " << seed << " block " << b;
        }
    }
}

TEST(CudaQ8Arith, Q8_0QuantiserIsTheCpusBitForBit) {
    const int64_t n = 32 * 40;
    for (uint64_t seed : {4u, 5u}) {
        const std::vector<float> x = activation_rows(n, seed);
        for (Isa isa : supported_isas()) {
            std::vector<BlockQ8_0> cpu(size_t(n / 32));
            kernels::kernel_set(isa).quantize_q8_0(x.data(), cpu.data(), n);
            for (size_t b = 0; b < cpu.size(); ++b) {
                q8::ActQ8_0 gpu;
                q8::quantize_block_q8_0(x.data() + 32 * b, gpu);
                const float cpu_d = f16_to_f32(cpu[b].d);
                EXPECT_EQ(std::memcmp(&gpu.d, &cpu_d, 4), 0) << kernels::isa_name(isa) << " block " << b;
                EXPECT_EQ(std::memcmp(gpu.qs, cpu[b].qs, 32), 0) << kernels::isa_name(isa) << " block " << b;
            }
        }
    }
}

// The Q8_0 KV cache store (attention kernels' kv_store): each head's row of D values, zero-padded
// to whole blocks and quantised as the CPU's store_row quantises it (the active kernel set's
// quantize_q8_0 of the padded row), bit for bit on every instruction set, at head sizes that
// leave a partial block (42), one (32·2) and several (128) whole ones.
TEST(CudaQ8Arith, KvCacheQ8_0BlocksAreTheCpuStoresBitForBit) {
    for (int64_t D : {42, 64, 128}) {
        const int64_t blocks = (D + 31) / 32, rows = 6;
        std::vector<float> x = activation_rows(256 * 3, uint64_t(D));
        x.resize(size_t(rows * D));
        for (int64_t d = 0; d < D; ++d) x[size_t(2 * D + d)] = 0.0f;   // an all-zero row: d = 0
        x[size_t(3 * D + D - 1)] = -3.0f;                              // the largest value in the padded block
        for (Isa isa : supported_isas()) {
            for (int64_t r = 0; r < rows; ++r) {
                std::vector<float> padded(size_t(blocks * 32), 0.0f);
                std::copy_n(x.data() + r * D, D, padded.begin());
                std::vector<BlockQ8_0> cpu(static_cast<size_t>(blocks));
                kernels::kernel_set(isa).quantize_q8_0(padded.data(), cpu.data(), blocks * 32);
                for (int64_t b = 0; b < blocks; ++b) {
                    float block[32] = {};
                    for (int64_t j = 0; j < 32 && 32 * b + j < D; ++j) block[j] = x[size_t(r * D + 32 * b + j)];
                    BlockQ8_0 gpu;
                    q8::quantize_kv_block_q8_0(block, gpu);
                    EXPECT_EQ(std::memcmp(&gpu, &cpu[size_t(b)], sizeof(BlockQ8_0)), 0)
                        << kernels::isa_name(isa) << " D " << D << " row " << r << " block " << b;
                }
            }
        }
    }
}

// Weight rows of type T and one activation row quantised by the portable CPU quantiser, in the
// CPU's format and the GPU's.
template <GgmlType T>
struct Operands {
    using Unit = q8::Q8Unit<T>;
    int64_t cols;
    std::vector<typename Unit::Block> w;       // rows × blocks
    std::vector<typename Unit::Act> x;         // the GPU's activation blocks
    std::vector<uint8_t> cpu_x;                // the CPU's (BlockQ8_K, or BlockQ8_0)
    int64_t blocks() const { return cols / Unit::kValues; }
};

template <GgmlType T>
Operands<T> make_operands(int64_t rows, int64_t cols, uint64_t seed) {
    using Unit = q8::Q8Unit<T>;
    Operands<T> o{cols, std::vector<typename Unit::Block>(size_t(rows * cols / Unit::kValues)), {}, {}};
    std::mt19937_64 rng(seed);
    if (!can_quantize(T))  // the IQ grid types sluice does not write: random valid blocks
        test::random_iq_blocks(T, reinterpret_cast<uint8_t*>(o.w.data()), o.w.size() * sizeof(o.w[0]), rng);
    for (int64_t r = 0; r < rows && can_quantize(T); ++r) {
        const std::vector<float> src = test::quant_test_row(cols, seed * 100 + uint64_t(r));
        quantize_row_ref(T, src.data(), o.w.data() + r * o.blocks(), cols);
    }
    const std::vector<float> x = activation_rows(cols, seed + 7);
    const auto& portable = kernels::portable_kernels();
    if constexpr (T == GgmlType::Q8_0) {
        o.cpu_x.resize(size_t(cols / 32) * sizeof(BlockQ8_0));
        portable.quantize_q8_0(x.data(), o.cpu_x.data(), cols);
        o.x.resize(size_t(cols / 32));
        for (size_t b = 0; b < o.x.size(); ++b) q8::quantize_block_q8_0(x.data() + 32 * b, o.x[b]);
    } else {
        o.cpu_x.resize(size_t(cols / 256) * sizeof(BlockQ8_K));
        portable.quantize_q8_k(x.data(), o.cpu_x.data(), cols);
        o.x.resize(size_t(cols / 256));
        std::memcpy(o.x.data(), o.cpu_x.data(), o.cpu_x.size());
    }
    return o;
}

template <GgmlType T>
void check_type() {
    using Unit = q8::Q8Unit<T>;
    const int64_t rows = 9;
    for (int64_t cols : {int64_t(256), int64_t(768), int64_t(2816)}) {
        const Operands<T> o = make_operands<T>(rows, cols, uint64_t(cols));
        const int64_t nb = o.blocks(), units = nb * Unit::kUnits;
        for (int64_t r = 0; r < rows; ++r) {
            const auto* w = o.w.data() + r * nb;
            float cpu = 0;
            kernels::portable_kernels()[T].dot(cols, w, o.cpu_x.data(), 0, 1, &cpu);

            float blocks = 0.0f, units_sum = 0.0f;
            double magnitude = 0;
            for (int64_t b = 0; b < nb; ++b) {
                blocks += q8::block_term<T>(w[b], o.x[size_t(b)]);
                for (int j = 0; j < Unit::kUnits; ++j) {
                    units_sum += q8::unit_term<T>(w[b], o.x[size_t(b)], j);
                    const q8::UnitSums s = Unit::sums(w[b], o.x[size_t(b)], j);
                    // |A_u| + |B_u| from the unit's integers and its float factors, in double
                    // (the IQ types: A = d_x·d_w·factor·scaled, B = d_x·d_w·factor·deltas/8).
                    const double xd = std::fabs(double(o.x[size_t(b)].d));
                    if constexpr (requires { Unit::kFactor; }) {
                        const double wd = std::fabs(double(Unit::d(w[b]))) * Unit::kFactor;
                        magnitude += xd * wd * (std::fabs(double(s.scaled)) + std::fabs(double(s.mins)) / 8);
                    } else {
                        double wd = 0, wmin = 0;
                        wd = f16_to_f32(w[b].d);
                        if constexpr (T == GgmlType::Q4_K || T == GgmlType::Q5_K) wmin = f16_to_f32(w[b].dmin);
                        magnitude += xd * (std::fabs(wd) * std::fabs(double(s.scaled)) + std::fabs(wmin) * std::fabs(double(s.mins)));
                    }
                }
            }
            EXPECT_EQ(std::memcmp(&blocks, &cpu, 4), 0)
                << type_name(T) << " cols " << cols << " row " << r << ": " << blocks << " vs " << cpu;
            const double bound = double(units + nb + 8) * std::ldexp(1.0, -24) * magnitude;
            EXPECT_LE(std::fabs(double(units_sum) - double(cpu)), bound) << type_name(T) << " cols " << cols << " row " << r;
        }
    }
}

TEST(CudaQ8Arith, Q4KBlocksAreThePortableDotAndUnitsWithinTheBound) { check_type<GgmlType::Q4_K>(); }
TEST(CudaQ8Arith, Q5KBlocksAreThePortableDotAndUnitsWithinTheBound) { check_type<GgmlType::Q5_K>(); }
TEST(CudaQ8Arith, Q6KBlocksAreThePortableDotAndUnitsWithinTheBound) { check_type<GgmlType::Q6_K>(); }
TEST(CudaQ8Arith, Q8_0BlocksAreThePortableDotAndUnitsWithinTheBound) { check_type<GgmlType::Q8_0>(); }
TEST(CudaQ8Arith, Iq2XxsBlocksAreThePortableDotAndUnitsWithinTheBound) { check_type<GgmlType::IQ2_XXS>(); }
TEST(CudaQ8Arith, Iq2XsBlocksAreThePortableDotAndUnitsWithinTheBound) { check_type<GgmlType::IQ2_XS>(); }
TEST(CudaQ8Arith, Iq2SBlocksAreThePortableDotAndUnitsWithinTheBound) { check_type<GgmlType::IQ2_S>(); }
TEST(CudaQ8Arith, Iq3XxsBlocksAreThePortableDotAndUnitsWithinTheBound) { check_type<GgmlType::IQ3_XXS>(); }
TEST(CudaQ8Arith, Iq3SBlocksAreThePortableDotAndUnitsWithinTheBound) { check_type<GgmlType::IQ3_S>(); }
TEST(CudaQ8Arith, Iq1SBlocksAreThePortableDotAndUnitsWithinTheBound) { check_type<GgmlType::IQ1_S>(); }
TEST(CudaQ8Arith, Iq1MBlocksAreThePortableDotAndUnitsWithinTheBound) { check_type<GgmlType::IQ1_M>(); }

// The IQ units' levels and scales are the CPU's integer form (quant/iq_levels.h, what the
// portable dot multiplies) value by value, on llama.cpp's blocks (tests/data/iq) and random ones:
// a wrong level that the block sums above happen to hide (a zero activation) shows here.
template <GgmlType T>
void check_iq_levels(const std::vector<uint8_t>& bytes) {
    using Unit = q8::Q8Unit<T>;
    const auto* w = reinterpret_cast<const typename Unit::Block*>(bytes.data());
    for (size_t b = 0; b < bytes.size() / sizeof(*w); ++b) {
        quant::IqLevels want;
        quant::iq_levels(w[b], want);
        ASSERT_EQ(Unit::d(w[b]), want.d) << "block " << b;
        ASSERT_EQ(Unit::kFactor, want.factor);
        for (int j = 0; j < 8; ++j) {
            int q[8], sc[2];
            Unit::levels(w[b], j, q);
            Unit::scales(w[b], j, sc);
            ASSERT_EQ(sc[0], want.scale[2 * j]) << "block " << b << " unit " << j;
            ASSERT_EQ(sc[1], want.scale[2 * j + 1]) << "block " << b << " unit " << j;
            for (int e = 0; e < 32; ++e)
                ASSERT_EQ(int(int8_t(uint32_t(q[e / 4]) >> (8 * (e % 4)))), int(want.level[32 * j + e]))
                    << "block " << b << " value " << 32 * j + e;
            if constexpr (T == GgmlType::IQ1_S || T == GgmlType::IQ1_M) {
                int ds[4];
                Unit::delta_signs(w[b], j, ds);
                for (int g = 0; g < 4; ++g) ASSERT_EQ(ds[g], want.delta_sign[4 * j + g]) << "block " << b << " group " << 4 * j + g;
            }
        }
    }
}

template <GgmlType T>
void check_iq_levels(const char* file) {
    SCOPED_TRACE(file);
    const test::IqVectors v = test::read_iq_vectors(file);
    ASSERT_EQ(v.type, T);
    for (const auto& row : v.blocks) check_iq_levels<T>(row);
    std::vector<uint8_t> random(row_bytes(T, 256 * 64));
    std::mt19937_64 rng(5);
    test::random_iq_blocks(T, random.data(), random.size(), rng);
    check_iq_levels<T>(random);
}

TEST(CudaQ8Arith, IqUnitLevelsAndScalesAreTheCpusIntegerForm) {
    check_iq_levels<GgmlType::IQ2_XXS>("iq2_xxs");
    check_iq_levels<GgmlType::IQ2_XS>("iq2_xs");
    check_iq_levels<GgmlType::IQ2_S>("iq2_s");
    check_iq_levels<GgmlType::IQ3_XXS>("iq3_xxs");
    check_iq_levels<GgmlType::IQ3_S>("iq3_s");
    check_iq_levels<GgmlType::IQ1_S>("iq1_s");
    check_iq_levels<GgmlType::IQ1_M>("iq1_m");
}

// dp4a's emulation: signed bytes, accumulated onto c.
TEST(CudaQ8Arith, Dot4IsTheSignedByteDot) {
    const int a = int(0x80FF7F01u), b = int(0x02FF80FFu);  // bytes (lowest first) 1,127,-1,-128 and -1,-128,-1,2
    EXPECT_EQ(q8::dot4(a, b, 10), 10 + 1 * -1 + 127 * -128 + -1 * -1 + -128 * 2);
}

}  // namespace
}  // namespace sluice
