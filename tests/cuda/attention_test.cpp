// GQA attention against the CPU's attention() (model/blocks.h): a prefill, decode steps and a
// second prefill on one cache, with head_dim not a multiple of 32 (and not of 4) and contexts
// long enough that decode splits its positions over many blocks (the merge kernel), and a few
// tokens at once split as well (causal: later splits empty for early tokens); many tokens at
// once (≥ 512 token-heads) take the unsplit kernel.
//
// Tolerance. Scores are float dot products over head_dim: |Δs| ≤ D·2^-24·scale·Σ|q_i·k_i|
// ≤ D·2^-24·scale·D·max|q|·max|k| =: ε_s. Softmax weights then move by a relative ≤ 2ε_s (plus
// a few ulps of expf and the running rescales, ~8·2^-24 each: unsplit, once per later 64-position
// tile (≤ len/64); split, once per later tile of its warp (≤ split/128 ≤ len/128), once when the
// block merges its warps and once when the splits merge, ≤ len/64 + 2), and the weighted sum adds
// len·2^-24 relative; the output is within max|v| of zero, so
//     |gpu − cpu| ≤ (2ε_s + (len + 8·len/64 + 16)·2^-24)·max|v|.
// The same holds for an f16 cache (the GPU stores the CPU's f16 values, |k|, |v| ≤ 1 still).
// A Q8_0 cache: q is quantised as the CPU quantises it and each block's term d_k·d_q·Σ q_k·q_q is
// the CPU's (integer sums, the same two products), so only the sum of the B = ceil(D/32) terms
// is in another order: |Δs| ≤ 2(B + 2)·2^-24·scale·Σ|term| with Σ|term| ≤ 32B·(1 + 2^-11)²
// (d = f16(amax/127) rounds up by at most 2^-11; |q|, |k| ≤ 1), and the dequantised V values
// d·q are within (1 + 2^-11)·max|v| of zero.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "cuda/gpu_test_support.h"
#include "cuda/kernels.h"
#include "model/attention.h"
#include "quant/blocks.h"
#include "util/half.h"

namespace sluice {
namespace {

struct Shape {
    int64_t heads, kv_heads, head_dim, capacity;
};

std::vector<uint8_t> bytes(const std::vector<float>& f) {
    std::vector<uint8_t> b(f.size() * sizeof(float));
    std::memcpy(b.data(), f.data(), b.size());
    return b;
}

// A cache of `type` already holding positions: the values of uniform_values(seed) in f32 or f16,
// or Q8_0 blocks of random levels with scales up to 1/127 (the layout does not matter here).
std::vector<uint8_t> filled_cache(KvCacheType type, const Shape& s, uint64_t seed) {
    const int64_t values = s.capacity * s.kv_heads * s.head_dim;
    const std::vector<float> x = test::uniform_values(size_t(values), seed);
    std::vector<uint8_t> bytes(cuda::kv_cache_side_bytes(type, s.capacity, s.kv_heads, s.head_dim));
    if (type == KvCacheType::F32) {
        std::memcpy(bytes.data(), x.data(), bytes.size());
    } else if (type == KvCacheType::F16) {
        for (int64_t i = 0; i < values; ++i) {
            const uint16_t h = f32_to_f16(x[size_t(i)]);
            std::memcpy(bytes.data() + 2 * i, &h, 2);
        }
    } else {
        auto* blocks = reinterpret_cast<BlockQ8_0*>(bytes.data());
        for (size_t b = 0; b < bytes.size() / sizeof(BlockQ8_0); ++b) {
            blocks[b].d = f32_to_f16(std::fabs(x[b % x.size()]) / 127.0f);
            for (int j = 0; j < 32; ++j) blocks[b].qs[j] = int8_t(int(127.0f * x[(b * 32 + size_t(j)) % x.size()]));
        }
    }
    return bytes;
}

// attention and attention_grouped (each on a cache of its own) against the CPU's attention over
// a cache of the same type, step by step: the outputs within the bound above, and both caches
// holding the CPU cache's bytes. `filled`: every cache starts with filled_cache's values (a long
// context without the CPU's prefill of it) instead of zeros.
void check_attention(const Shape& s, const std::vector<std::pair<int64_t, int64_t>>& steps,
                     KvCacheType type = KvCacheType::F32, bool filled = false) {
    KvCache cpu(type, s.capacity, s.kv_heads, s.head_dim);
    if (filled) {
        cpu.k = filled_cache(type, s, 5);
        cpu.v = filled_cache(type, s, 6);
    }
    // As the CPU cache starts; [0] for attention, [1] for attention_grouped.
    cuda::DeviceBuffer<uint8_t> dk_cache[2] = {cuda::DeviceBuffer<uint8_t>(cpu.k), cuda::DeviceBuffer<uint8_t>(cpu.k)};
    cuda::DeviceBuffer<uint8_t> dv_cache[2] = {cuda::DeviceBuffer<uint8_t>(cpu.v), cuda::DeviceBuffer<uint8_t>(cpu.v)};
    const float scale = 1.0f / std::sqrt(float(s.head_dim));
    for (auto [pos0, n] : steps) {
        SCOPED_TRACE(std::string(kv_cache_type_name(type)) + " heads " + std::to_string(s.heads) + "/" +
                     std::to_string(s.kv_heads) + " D " + std::to_string(s.head_dim) + " pos0 " + std::to_string(pos0) +
                     " n " + std::to_string(n));
        const auto q = test::uniform_values(size_t(n * s.heads * s.head_dim), uint64_t(pos0 * 3 + 1));
        const auto k = test::uniform_values(size_t(n * s.kv_heads * s.head_dim), uint64_t(pos0 * 3 + 2));
        const auto v = test::uniform_values(size_t(n * s.kv_heads * s.head_dim), uint64_t(pos0 * 3 + 3));
        std::vector<float> ref(q.size());
        attention(q.data(), k.data(), v.data(), n, pos0, s.heads, cpu, ref.data());
        const double len = double(pos0 + n), u = test::kFloatEps;
        double tol;
        if (type == KvCacheType::Q8_0) {
            const double blocks = double((s.head_dim + 31) / 32), rounding = (1 + 1.0 / 2048) * (1 + 1.0 / 2048);
            const double eps_s = 2 * (blocks + 2) * u * scale * 32 * blocks * rounding;
            tol = (2 * eps_s + (len + 8 * len / 64 + 16) * u) * (1 + 1.0 / 2048);
        } else {
            const double eps_s = double(s.head_dim) * u * scale * double(s.head_dim);  // max|q|,|k| ≤ 1
            tol = 2 * eps_s + (len + 8 * len / 64 + 16) * u;                           // max|v| ≤ 1
        }
        auto dq = test::to_device(q), dk = test::to_device(k), dv = test::to_device(v);
        for (int grouped = 0; grouped < 2; ++grouped) {
            SCOPED_TRACE(grouped ? "attention_grouped" : "attention");
            const cuda::KvCacheView view{dk_cache[grouped].get(), dv_cache[grouped].get(), s.capacity, s.kv_heads,
                                         s.head_dim, type};
            cuda::DeviceBuffer<float> dout(q.size());
            cuda::DeviceBuffer<float> scratch(std::max<size_t>(1, cuda::attention_scratch_floats(n, pos0, s.heads, s.kv_heads, s.head_dim)));
            if (grouped)
                cuda::attention_grouped(dq.get(), dk.get(), dv.get(), n, pos0, s.heads, view, dout.get(), scratch.get(), nullptr);
            else
                cuda::attention(dq.get(), dk.get(), dv.get(), n, pos0, s.heads, view, dout.get(), scratch.get(), nullptr);
            const auto out = dout.download();
            for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], ref[i], tol) << "output " << i;
            // The cache holds the CPU's bytes, at the same places.
            ASSERT_EQ(dk_cache[grouped].download(), cpu.k);
            ASSERT_EQ(dv_cache[grouped].download(), cpu.v);
        }
    }
}

TEST(CudaAttention, PrefillAndDecodeMatchTheCpu) {
    SLUICE_REQUIRE_GPU();
    // Prefill 7, decode 1, prefill 3, then a long prefill and decode crossing many tiles, then
    // decode and 3 tokens at a context split over many blocks.
    const std::vector<std::pair<int64_t, int64_t>> steps = {{0, 7},    {7, 1},      {8, 3},    {11, 190}, {201, 1},
                                                            {202, 64}, {266, 600}, {866, 1}, {867, 3}};
    check_attention({6, 2, 80, 1000}, steps);
    check_attention({4, 4, 128, 1000}, steps);
    check_attention({8, 1, 256, 1000}, steps);
    check_attention({3, 3, 42, 1001}, steps);  // head_dim and capacity not multiples of 4: scalar loads
}

// f16 and Q8_0 caches: every kernel (decode with one split and many, the many-token kernel, and
// the grouped ones for groups of 2, 4 and 8 at head_dim ≤ 128) against the CPU over the same
// cache type, at head sizes with a partial Q8_0 block (42, 80) or none (64, 128, 256), and
// capacities that are not multiples of 4.
TEST(CudaAttention, F16AndQ8_0CachesMatchTheCpusSameCache) {
    SLUICE_REQUIRE_GPU();
    const std::vector<std::pair<int64_t, int64_t>> steps = {{0, 7},    {7, 1},      {8, 3},    {11, 190}, {201, 1},
                                                            {202, 64}, {266, 600}, {866, 1}, {867, 3}};
    for (KvCacheType type : {KvCacheType::F16, KvCacheType::Q8_0}) {
        check_attention({6, 3, 42, 1001}, steps, type);   // group 2
        check_attention({16, 4, 64, 1000}, steps, type);  // group 4
        check_attention({8, 1, 128, 999}, steps, type);   // group 8
        check_attention({6, 2, 80, 1000}, steps, type);   // group 3: the per-head kernels
        check_attention({4, 2, 256, 1000}, steps, type);  // head_dim past the grouped kernels'
    }
}

// Decode at 4k and 16k positions with 4 KV heads, where the positions are cut into 32 to 128
// ranges and the grouped kernel takes 2, 4 or 8 heads a block (GroupedIsThePerHeadKernelsBitForBit
// says which): one and three tokens, each cache type, against the CPU.
TEST(CudaAttention, LongContextDecodeMatchesTheCpu) {
    SLUICE_REQUIRE_GPU();
    for (KvCacheType type : {KvCacheType::F32, KvCacheType::F16, KvCacheType::Q8_0})
        for (const Shape& s : {Shape{32, 4, 128, 4100}, Shape{16, 4, 64, 16384}})
            check_attention(s, {{s.capacity - 600, 3}, {s.capacity - 1, 1}}, type, true);
}

TEST(CudaAttention, CausalTokensWithEmptySplitsMatchTheCpu) {
    SLUICE_REQUIRE_GPU();
    // 200 tokens of 2 heads split their 200 positions in two: the first ~128 tokens see none of
    // the second split's positions, which must weigh nothing in the merge.
    ASSERT_GT(cuda::attention_scratch_floats(200, 0, 2, 1, 64), 0u);
    check_attention({2, 1, 64, 600}, {{0, 200}, {200, 1}, {201, 130}});
}

TEST(CudaAttention, OnlyFewTokensSplitTheirPositions) {
    EXPECT_EQ(cuda::attention_scratch_floats(512, 0, 32, 4, 128), 0u);  // prefill fills the card by itself
    EXPECT_EQ(cuda::attention_scratch_floats(1, 50, 32, 4, 128), 0u);   // a short context is one split
    // Decode at 4k with 4 KV heads: 32 ranges of 128 positions (a tile per warp), 4 KV heads'
    // blocks each, where planning by the 32 query heads' blocks gave 16.
    EXPECT_EQ(cuda::attention_scratch_floats(1, 4000, 32, 4, 128), size_t(32 * 32 * 130));
    // At 100k positions the ranges stop at 128 (512 blocks of the 4 KV heads), 800 positions each.
    EXPECT_EQ(cuda::attention_scratch_floats(1, 100000, 32, 4, 128), size_t(32 * 126 * 130));
}

// attention_grouped reads each KV row once for the query heads sharing it and otherwise does
// attention's arithmetic in attention's order: its outputs must be attention's bit for bit (and
// so within the bound above of the CPU), for groups of 2 and 8 heads, head_dim 64, 128 and 42
// (scalar loads), decode with one split or many and prefill, each cache type; other shapes take
// attention's kernels.
TEST(CudaAttention, GroupedIsThePerHeadKernelsBitForBit) {
    SLUICE_REQUIRE_GPU();
    // Groups 8, 8, 8, 4, 2, 2, 8, and 12 (not grouped: per head). The grouped decode kernel takes
    // 2 of a group's heads a block at short contexts, 4 at 3k-8k positions and 3 tokens, and the
    // whole group of 8 or 4 at 16k (128 ranges).
    const Shape shapes[] = {{32, 4, 128, 4100}, {32, 4, 128, 16384}, {16, 2, 128, 700}, {16, 4, 64, 16384},
                            {8, 4, 64, 700},    {6, 3, 42, 701},      {24, 3, 128, 700}, {12, 1, 64, 700}};
    for (KvCacheType type : {KvCacheType::F32, KvCacheType::F16, KvCacheType::Q8_0})
    for (const Shape& s : shapes) {
        const int64_t row = s.kv_heads * s.head_dim;
        // Decode (one and three tokens, one split or many) and prefill (≥ 512 token-heads: the
        // many-token kernel).
        for (auto [pos0, n] : std::vector<std::pair<int64_t, int64_t>>{
                 {0, 1}, {37, 1}, {s.capacity - 600, 3}, {s.capacity - 1, 1}, {0, 40}, {100, 300}}) {
            SCOPED_TRACE(std::string(kv_cache_type_name(type)) + " heads " + std::to_string(s.heads) + "/" +
                         std::to_string(s.kv_heads) + " D " + std::to_string(s.head_dim) + " pos0 " +
                         std::to_string(pos0) + " n " + std::to_string(n));
            // A cache already holding positions 0..pos0−1.
            const auto k_cache = filled_cache(type, s, uint64_t(pos0 + 5));
            const auto v_cache = filled_cache(type, s, uint64_t(pos0 + 6));
            const auto q = test::uniform_values(size_t(n * s.heads * s.head_dim), uint64_t(pos0 + 7));
            const auto k = test::uniform_values(size_t(n * row), uint64_t(pos0 + 8));
            const auto v = test::uniform_values(size_t(n * row), uint64_t(pos0 + 9));
            auto dq = test::to_device(q), dk = test::to_device(k), dv = test::to_device(v);
            std::vector<float> out[2];
            for (int grouped = 0; grouped < 2; ++grouped) {
                cuda::DeviceBuffer<uint8_t> kc(k_cache), vc(v_cache);
                const cuda::KvCacheView view{kc.get(), vc.get(), s.capacity, s.kv_heads, s.head_dim, type};
                cuda::DeviceBuffer<float> dout(q.size());
                cuda::DeviceBuffer<float> scratch(std::max<size_t>(1, cuda::attention_scratch_floats(n, pos0, s.heads, s.kv_heads, s.head_dim)));
                if (grouped)
                    cuda::attention_grouped(dq.get(), dk.get(), dv.get(), n, pos0, s.heads, view, dout.get(), scratch.get(), nullptr);
                else
                    cuda::attention(dq.get(), dk.get(), dv.get(), n, pos0, s.heads, view, dout.get(), scratch.get(), nullptr);
                out[grouped] = dout.download();
            }
            for (size_t i = 0; i < out[0].size(); ++i)
                ASSERT_EQ(std::memcmp(&out[0][i], &out[1][i], 4), 0) << "output " << i << ": " << out[0][i] << " vs " << out[1][i];
        }
    }
}

// rope_neox_store_kv + attention_grouped (the CUDA backend's rope_neox_attention) against
// rope_neox of q and of k, then attention: the same rotations (one device function), the same
// stores and attention_grouped bit for bit attention (above), so q, k, both caches and the
// outputs must be equal bit for bit; with partial rotary dims and head_dim not a multiple of 4,
// for each cache type (Q8_0: the rotations, then store_kv).
TEST(CudaAttention, FusedRopeAndStoreIsTheUnfusedSequenceBitForBit) {
    SLUICE_REQUIRE_GPU();
    struct Case {
        Shape shape;
        int64_t rot_dim;
    };
    const Case cases[] = {{{32, 4, 128, 700}, 128}, {{16, 2, 64, 700}, 64}, {{6, 3, 42, 701}, 20}};
    const float theta = 1e6f;
    for (KvCacheType type : {KvCacheType::F32, KvCacheType::F16, KvCacheType::Q8_0})
    for (const Case& c : cases) {
        const Shape& s = c.shape;
        const int64_t row = s.kv_heads * s.head_dim;
        for (auto [pos0, n] : std::vector<std::pair<int64_t, int64_t>>{{0, 5}, {5, 1}, {300, 1}, {100, 80}}) {
            SCOPED_TRACE(std::string(kv_cache_type_name(type)) + " heads " + std::to_string(s.heads) + "/" +
                         std::to_string(s.kv_heads) + " D " + std::to_string(s.head_dim) + " rot " +
                         std::to_string(c.rot_dim) + " pos0 " + std::to_string(pos0) + " n " + std::to_string(n));
            const auto k_cache = filled_cache(type, s, uint64_t(pos0 + 15));
            const auto v_cache = filled_cache(type, s, uint64_t(pos0 + 16));
            const auto q = test::uniform_values(size_t(n * s.heads * s.head_dim), uint64_t(pos0 + 17));
            const auto k = test::uniform_values(size_t(n * row), uint64_t(pos0 + 18));
            const auto v = test::uniform_values(size_t(n * row), uint64_t(pos0 + 19));
            auto dv = test::to_device(v);
            std::vector<uint8_t> got[2][5];  // q, k, K cache, V cache, out
            for (int fused = 0; fused < 2; ++fused) {
                auto dq = test::to_device(q), dk = test::to_device(k);
                cuda::DeviceBuffer<uint8_t> kc(k_cache), vc(v_cache);
                const cuda::KvCacheView view{kc.get(), vc.get(), s.capacity, s.kv_heads, s.head_dim, type};
                cuda::DeviceBuffer<float> dout(q.size());
                cuda::DeviceBuffer<float> scratch(std::max<size_t>(1, cuda::attention_scratch_floats(n, pos0, s.heads, s.kv_heads, s.head_dim)));
                if (fused) {
                    cuda::rope_neox_store_kv(dq.get(), dk.get(), dv.get(), n, s.heads, view, c.rot_dim, pos0, theta, nullptr);
                    cuda::attention_grouped(dq.get(), nullptr, nullptr, n, pos0, s.heads, view, dout.get(), scratch.get(), nullptr);
                } else {
                    cuda::rope_neox(dq.get(), n, s.heads, s.head_dim, c.rot_dim, pos0, theta, nullptr);
                    cuda::rope_neox(dk.get(), n, s.kv_heads, s.head_dim, c.rot_dim, pos0, theta, nullptr);
                    cuda::attention(dq.get(), dk.get(), dv.get(), n, pos0, s.heads, view, dout.get(), scratch.get(), nullptr);
                }
                got[fused][0] = bytes(dq.download());
                got[fused][1] = bytes(dk.download());
                got[fused][2] = kc.download();
                got[fused][3] = vc.download();
                got[fused][4] = bytes(dout.download());
            }
            const char* what[5] = {"q", "k", "K cache", "V cache", "output"};
            for (int i = 0; i < 5; ++i) ASSERT_EQ(got[0][i], got[1][i]) << what[i];
        }
    }
    const cuda::KvCacheView small{nullptr, nullptr, 16, 2, 64};
    EXPECT_THROW(cuda::rope_neox_store_kv(nullptr, nullptr, nullptr, 4, 4, small, 64, 14, theta, nullptr), Error);  // past capacity
    EXPECT_THROW(cuda::rope_neox_store_kv(nullptr, nullptr, nullptr, 1, 3, small, 64, 0, theta, nullptr), Error);   // 3 % 2 heads
    EXPECT_THROW(cuda::rope_neox_store_kv(nullptr, nullptr, nullptr, 1, 4, small, 66, 0, theta, nullptr), Error);   // rot_dim > D
    EXPECT_THROW(cuda::attention(nullptr, nullptr, nullptr, 1, 0, 4, small, nullptr, nullptr, nullptr), Error);      // k, v null
}

// rms_norm_rope_neox_store_kv (the CUDA backend's rope_neox_attention for Qwen3's per-head q and
// k norms) against rms_norm of q and of k, then rope_neox_store_kv (itself the unfused rotations
// and stores bit for bit, above): q, k and both caches equal bit for bit, for head sizes of one
// warp of threads (42: partial rotary, not a multiple of 4), two (64, 128) and four (256), each
// cache type, prefill and decode.
TEST(CudaAttention, FusedNormRopeAndStoreIsTheUnfusedSequenceBitForBit) {
    SLUICE_REQUIRE_GPU();
    struct Case {
        Shape shape;
        int64_t rot_dim;
    };
    const Case cases[] = {{{32, 4, 128, 700}, 128}, {{16, 2, 64, 700}, 64}, {{6, 3, 42, 701}, 20}, {{4, 2, 256, 700}, 64}};
    const float theta = 1e6f, eps = 1e-6f;
    for (KvCacheType type : {KvCacheType::F32, KvCacheType::F16, KvCacheType::Q8_0})
    for (const Case& c : cases) {
        const Shape& s = c.shape;
        const int64_t row = s.kv_heads * s.head_dim;
        const auto q_norm = test::uniform_values(size_t(s.head_dim), 21, 0.5f, 1.5f);
        const auto k_norm = test::uniform_values(size_t(s.head_dim), 22, 0.5f, 1.5f);
        auto dq_norm = test::to_device(q_norm), dk_norm = test::to_device(k_norm);
        for (auto [pos0, n] : std::vector<std::pair<int64_t, int64_t>>{{0, 5}, {5, 1}, {300, 1}, {100, 80}}) {
            SCOPED_TRACE(std::string(kv_cache_type_name(type)) + " heads " + std::to_string(s.heads) + "/" +
                         std::to_string(s.kv_heads) + " D " + std::to_string(s.head_dim) + " rot " +
                         std::to_string(c.rot_dim) + " pos0 " + std::to_string(pos0) + " n " + std::to_string(n));
            const auto k_cache = filled_cache(type, s, uint64_t(pos0 + 25));
            const auto v_cache = filled_cache(type, s, uint64_t(pos0 + 26));
            const auto q = test::uniform_values(size_t(n * s.heads * s.head_dim), uint64_t(pos0 + 27), -3.0f, 3.0f);
            const auto k = test::uniform_values(size_t(n * row), uint64_t(pos0 + 28), -3.0f, 3.0f);
            const auto v = test::uniform_values(size_t(n * row), uint64_t(pos0 + 29));
            auto dv = test::to_device(v);
            std::vector<uint8_t> got[2][4];  // q, k, K cache, V cache
            for (int fused = 0; fused < 2; ++fused) {
                auto dq = test::to_device(q), dk = test::to_device(k);
                cuda::DeviceBuffer<uint8_t> kc(k_cache), vc(v_cache);
                const cuda::KvCacheView view{kc.get(), vc.get(), s.capacity, s.kv_heads, s.head_dim, type};
                if (fused) {
                    cuda::rms_norm_rope_neox_store_kv(dq.get(), dk.get(), dv.get(), n, s.heads, view, dq_norm.get(),
                                                      dk_norm.get(), eps, c.rot_dim, pos0, theta, nullptr);
                } else {
                    cuda::rms_norm(dq.get(), dq_norm.get(), dq.get(), n * s.heads, s.head_dim, eps, nullptr);
                    cuda::rms_norm(dk.get(), dk_norm.get(), dk.get(), n * s.kv_heads, s.head_dim, eps, nullptr);
                    cuda::rope_neox_store_kv(dq.get(), dk.get(), dv.get(), n, s.heads, view, c.rot_dim, pos0, theta, nullptr);
                }
                got[fused][0] = bytes(dq.download());
                got[fused][1] = bytes(dk.download());
                got[fused][2] = kc.download();
                got[fused][3] = vc.download();
            }
            const char* what[4] = {"q", "k", "K cache", "V cache"};
            for (int i = 0; i < 4; ++i) ASSERT_EQ(got[0][i], got[1][i]) << what[i];
        }
    }
    // Errors, thrown before anything runs (the weights' address is never read).
    const cuda::KvCacheView small{nullptr, nullptr, 16, 2, 64};
    const float* none = nullptr;
    const float* some = &eps;
    EXPECT_THROW(cuda::rms_norm_rope_neox_store_kv(nullptr, nullptr, nullptr, 1, 4, small, none, some, eps, 64, 0, theta,
                                                   nullptr),
                 Error);  // no q norm weights
    EXPECT_THROW(cuda::rms_norm_rope_neox_store_kv(nullptr, nullptr, nullptr, 4, 4, small, some, some, eps, 64, 14, theta,
                                                   nullptr),
                 Error);  // past capacity
}

TEST(CudaAttention, BadShapesAreErrors) {
    const cuda::KvCacheView view{nullptr, nullptr, 16, 2, 64};
    EXPECT_THROW(cuda::attention(nullptr, nullptr, nullptr, 4, 14, 4, view, nullptr, nullptr, nullptr), Error);  // past capacity
    EXPECT_THROW(cuda::attention(nullptr, nullptr, nullptr, 1, 0, 3, view, nullptr, nullptr, nullptr), Error);   // 3 % 2 heads
    const cuda::KvCacheView wide{nullptr, nullptr, 16, 2, 512};
    EXPECT_THROW(cuda::attention(nullptr, nullptr, nullptr, 1, 0, 2, wide, nullptr, nullptr, nullptr), Error);
    // A split decode without its scratch.
    const cuda::KvCacheView long_cache{nullptr, nullptr, 4096, 2, 64};
    ASSERT_GT(cuda::attention_scratch_floats(1, 4000, 4, 2, 64), 0u);
    EXPECT_THROW(cuda::attention(nullptr, nullptr, nullptr, 1, 4000, 4, long_cache, nullptr, nullptr, nullptr), Error);
    // The store alone: past capacity, k and v null; a cache type no kernel knows.
    const cuda::KvCacheView q8{nullptr, nullptr, 16, 2, 64, KvCacheType::Q8_0};
    EXPECT_THROW(cuda::store_kv(nullptr, nullptr, 4, 14, q8, nullptr), Error);
    EXPECT_THROW(cuda::store_kv(nullptr, nullptr, 1, 0, q8, nullptr), Error);
    const auto unknown_type = static_cast<KvCacheType>(7);
    const cuda::KvCacheView unknown{nullptr, nullptr, 16, 2, 64, unknown_type};
    EXPECT_THROW(cuda::kv_cache_side_bytes(unknown_type, 16, 2, 64), Error);
    EXPECT_THROW(cuda::attention_grouped(nullptr, nullptr, nullptr, 1, 0, 4, unknown, nullptr, nullptr, nullptr), Error);
    EXPECT_THROW(cuda::rope_neox_store_kv(nullptr, nullptr, nullptr, 1, 4, unknown, 64, 0, 1e6f, nullptr), Error);
}

}  // namespace
}  // namespace sluice
