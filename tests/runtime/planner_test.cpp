#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "format/gguf.h"
#include "model/model.h"
#include "runtime/planner.h"
#include "test_support.h"
#include "util/error.h"

namespace sluice {
namespace {

ModelDesc tiny() { return ModelDesc::open(test::fixture("gguf/qwen3moe-tiny-f32.gguf")); }

TEST(Planner, SplitsTheBudgetAndCountsSlots) {
    ModelDesc d = tiny();
    const uint64_t be = d.experts[0].expert_bytes();  // 3 · 32 · 64 · 4 bytes
    EXPECT_EQ(be, 3u * 32 * 64 * 4);
    MemoryPlan p = plan_memory(d, 512ull << 20, 128, KvCacheType::F32, 0, {});
    EXPECT_EQ(p.dense, d.dense_bytes());
    EXPECT_EQ(p.experts_per_token, 4);
    EXPECT_EQ(p.total_experts, 4 * 16);
    EXPECT_EQ(p.cache_slots, 64);  // everything fits
    EXPECT_DOUBLE_EQ(p.expected_hit_rate, 1.0);
    EXPECT_EQ(p.expert_bytes_per_token, 4u * 4 * be);
    EXPECT_EQ(p.dense + p.state + p.scratch + p.reserve + p.expert_cache, p.budget);
}

// The server's --parallel N: N states of `context` tokens each come out of the budget (the
// expert cache gets that much less), and scratch grows by the other sequences' decode rows.
TEST(Planner, ReservesAStatePerParallelSequence) {
    ModelDesc d = tiny();
    const MemoryPlan one = plan_memory(d, 512ull << 20, 128, KvCacheType::F32, 0, {}, 16);
    const MemoryPlan four = plan_memory(d, 512ull << 20, 128, KvCacheType::F32, 0, {}, 16, 4);
    EXPECT_EQ(four.sequences, 4);
    EXPECT_EQ(four.state, 4 * one.state);
    EXPECT_GT(four.scratch, one.scratch);
    EXPECT_EQ(four.expert_cache, one.expert_cache - 3 * one.state - (four.scratch - one.scratch));
    EXPECT_NE(four.describe().find("4 sequences of 128 tokens"), std::string::npos) << four.describe();
    EXPECT_THROW(plan_memory(d, 512ull << 20, 128, KvCacheType::F32, 0, {}, 16, 0), Error);
    EXPECT_EQ(plan_memory(d, 512ull << 20, 128, KvCacheType::F32, 0, {}, 16, 4, true).checkpoints, 0u);   // attention only
}

// Logits take a vocabulary-wide row each: one per sequence for generation, one per prompt row
// only for eval and perplexity (Session::eval_batches), whose scratch is that much larger.
TEST(Planner, CountsLogitsForEveryPromptRowOnlyWhenAllAreKept) {
    ModelDesc d = tiny();
    const uint64_t row = uint64_t(d.config.vocab_size) * 4;
    const MemoryPlan last = plan_memory(d, 512ull << 20, 128, KvCacheType::F32, 0, {}, 16, 2);
    const MemoryPlan all = plan_memory(d, 512ull << 20, 128, KvCacheType::F32, 0, {}, 16, 2, false, true);
    EXPECT_EQ(all.scratch - last.scratch, (16 + 1 - 2) * row);   // 17 rows of logits against 2
    EXPECT_EQ(last.expert_cache - all.expert_cache, all.scratch - last.scratch);
}

// The prompt cache keeps a checkpoint of each sequence's recurrent layers: as much again as
// their part of the state, out of the budget.
TEST(Planner, PromptCacheCheckpointsTheRecurrentStatePerSequence) {
    ModelDesc d = ModelDesc::open(test::fixture("gguf/qwen35moe-tiny-f32.gguf"));
    const MemoryPlan plain = plan_memory(d, 512ull << 20, 128, KvCacheType::F32, 0, {}, 16, 3);
    const MemoryPlan cached = plan_memory(d, 512ull << 20, 128, KvCacheType::F32, 0, {}, 16, 3, true);
    const ModelConfig& c = d.config;
    uint64_t recurrent = 0;
    for (int64_t l = 0; l < c.n_layers; ++l)
        if (c.is_linear(l))
            recurrent += uint64_t(c.lin_v_heads * c.lin_k_dim * c.lin_v_dim +
                                  (c.conv_kernel - 1) * (2 * c.lin_k_heads * c.lin_k_dim + c.lin_v_heads * c.lin_v_dim)) * 4;
    ASSERT_GT(recurrent, 0u);
    EXPECT_EQ(cached.checkpoints, 3 * recurrent);
    EXPECT_EQ(cached.expert_cache, plain.expert_cache - 3 * recurrent);
    EXPECT_NE(cached.describe().find("prompt cache:"), std::string::npos);
}

TEST(Planner, RefusesABudgetBelowDensePlusOneLayersExperts) {
    ModelDesc d = tiny();
    MemoryPlan unbudgeted = plan_memory(d, 0, 128, KvCacheType::F32, 0, {});
    const uint64_t slot = unbudgeted.slot_bytes;
    EXPECT_GE(slot, unbudgeted.expert_bytes);
    EXPECT_LE(slot, unbudgeted.expert_bytes + 3 * 8192);  // at most two partial pages per projection
    const uint64_t need = unbudgeted.dense + unbudgeted.state + unbudgeted.scratch + unbudgeted.reserve + 4 * slot;
    // The ubatch of the unbudgeted plan, so the scratch is the same.
    EXPECT_NO_THROW(plan_memory(d, need, 128, KvCacheType::F32, 0, {}, kDefaultUbatch));
    EXPECT_EQ(plan_memory(d, need, 128, KvCacheType::F32, 0, {}, kDefaultUbatch).cache_slots, 4);
    try {
        plan_memory(d, need - 1, 128, KvCacheType::F32, 0, {}, kDefaultUbatch);
        FAIL() << "accepted a budget one byte too small";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("too small"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("needs at least"), std::string::npos) << e.what();
    }
}

// Sizes at a long context from first principles, not from the planner's helpers: from the
// geometry in config.json, every full-attention layer keeps K and V for every position and KV
// head, head_dim values each in the cache's format: 4 bytes a value in f32, 2 in f16, and in q8_0
// 34 bytes (a half scale and 32 int8) per 32 values, a row's last block padded; every DeltaNet
// layer keeps a k_dim × v_dim float32 matrix per value head and the last kernel − 1 inputs of its
// convolution, whatever the cache type; the dense part is every tensor of the file but the
// experts. At 32768 positions the KV cache (64 MiB in f32 for qwen3moe-tiny) outweighs the dense
// part (2.6 MiB) and scratch, so counting it short, or the model allocating more than planned,
// shows.
TEST(Planner, LongContextStateAndDenseFromTheGeometry) {
    const int64_t ctx = 32768;
    for (const char* name : {"qwen3moe-tiny", "qwen35moe-tiny"}) {
        const nlohmann::json cfg =
            nlohmann::json::parse(test::read_file(test::fixture(std::string("models/") + name + "/config.json")));
        const uint64_t layers = cfg["num_hidden_layers"], kv_heads = cfg["num_key_value_heads"], head_dim = cfg["head_dim"];
        uint64_t full = layers;
        if (cfg.contains("layer_types")) full = uint64_t(std::count(cfg["layer_types"].begin(), cfg["layer_types"].end(), "full_attention"));
        uint64_t recurrent = 0;
        if (full < layers) {
            const uint64_t kh = cfg["linear_num_key_heads"], kd = cfg["linear_key_head_dim"];
            const uint64_t vh = cfg["linear_num_value_heads"], vd = cfg["linear_value_head_dim"];
            const uint64_t kernel = cfg["linear_conv_kernel_dim"];
            recurrent = (layers - full) * (vh * kd * vd + (kernel - 1) * (2 * kh * kd + vh * vd)) * 4;
        }
        const std::string gguf = test::fixture(std::string("gguf/") + name + "-f32.gguf");
        const GgufFile file(gguf);
        uint64_t want_dense = 0;
        for (const GgufTensorInfo& t : file.tensors())
            if (t.name.find("_exps.") == std::string::npos) want_dense += t.bytes;
        ModelDesc d = ModelDesc::open(gguf);
        MappedExperts experts(d, true);

        const uint64_t q8_row = (head_dim + 31) / 32 * 34;
        const std::pair<KvCacheType, uint64_t> row_bytes[] = {
            {KvCacheType::F32, head_dim * 4}, {KvCacheType::F16, head_dim * 2}, {KvCacheType::Q8_0, q8_row}};
        for (const auto& [type, row] : row_bytes) {
            SCOPED_TRACE(std::string(name) + " " + kv_cache_type_name(type));
            const uint64_t want_state = full * 2 * uint64_t(ctx) * kv_heads * row + recurrent;
            const MemoryPlan p = plan_memory(d, 0, ctx, type, 0, {});
            EXPECT_EQ(p.state, want_state);
            EXPECT_EQ(p.dense, want_dense);
            ModelOptions mo;
            mo.cache_type = type;
            EXPECT_EQ(load_model(d, experts, mo)->new_state(ctx)->bytes(), want_state);   // what the model allocates

            // Under a budget the state is paid for before the expert cache: what is left is the cache.
            const uint64_t budget = want_dense + want_state + p.scratch + p.reserve + (64ull << 20);
            const MemoryPlan b = plan_memory(d, budget, ctx, type, 0, {}, p.ubatch);
            EXPECT_EQ(b.expert_cache, 64ull << 20);
        }
    }
}

TEST(Planner, RooflineFollowsTheFormula) {
    ModelDesc d = tiny();
    Bandwidth bw{1e9, 10e9};
    MemoryPlan p = plan_memory(d, 0, 128, KvCacheType::F32, 2, bw);
    EXPECT_EQ(p.experts_per_token, 2);
    EXPECT_DOUBLE_EQ(p.t_io, 0.0);  // unbudgeted: everything counted as cached
    EXPECT_DOUBLE_EQ(p.t_compute, double(p.active_dense + p.expert_bytes_per_token) / 10e9);
    EXPECT_DOUBLE_EQ(p.predicted_tok_s, 1.0 / p.t_compute);
}

// Under a budget that caches a quarter of the experts, on a disk slow enough to bind: the
// misses' reads (at the plan's uniform hit rate) overlap the experts' compute but not the
// dense part's.
TEST(Planner, DiskBoundPredictionAddsTheDensePartToTheReads) {
    ModelDesc d = tiny();
    const MemoryPlan whole = plan_memory(d, 0, 128, KvCacheType::F32, 0, {}, 64);
    const uint64_t budget = whole.dense + whole.state + whole.scratch + whole.reserve + 16 * whole.slot_bytes;
    const Bandwidth bw{1e6, 10e9};
    const MemoryPlan p = plan_memory(d, budget, 128, KvCacheType::F32, 0, bw, 64);
    EXPECT_EQ(p.cache_slots, 16);
    EXPECT_DOUBLE_EQ(p.expected_hit_rate, 16.0 / 64.0);
    const double t_io = double(p.expert_bytes_per_token) * 0.75 / 1e6;
    const double t_dense = double(p.active_dense) / 10e9;
    EXPECT_DOUBLE_EQ(p.t_io, t_io);
    EXPECT_DOUBLE_EQ(p.t_dense, t_dense);
    EXPECT_GT(p.t_io, p.t_compute);
    EXPECT_DOUBLE_EQ(p.predicted_tok_s, 1.0 / (t_dense + t_io));
    EXPECT_DOUBLE_EQ(roofline_tok_s(p, bw, 1.0), 1.0 / p.t_compute);   // every expert cached
}

// The prefill ubatch: 256 unbudgeted; under a budget the largest power of two (64..4096, at
// most the context) whose scratch fits in an eighth of the budget; a given one is kept. The
// prefill roofline is ubatch / max(read, compute) per ubatch.
TEST(Planner, ChoosesTheUbatchFromTheScratchItCanAfford) {
    ModelDesc d = tiny();
    const KvCacheType f32 = KvCacheType::F32;
    EXPECT_EQ(plan_memory(d, 0, 4096, f32, 0, {}).ubatch, 256);
    EXPECT_EQ(plan_memory(d, 0, 4096, f32, 0, {}, 32).ubatch, 32);
    // With every prompt row's logits kept (eval, perplexity) the tiny model's scratch is large
    // enough beside its fixed parts for the scratch share to decide.
    const auto plan = [&](uint64_t budget, int64_t context, int64_t ubatch) {
        return plan_memory(d, budget, context, f32, 0, {}, ubatch, 1, false, true);
    };
    const uint64_t scratch512 = plan(0, 4096, 512).scratch;
    EXPECT_EQ(plan(8 * scratch512, 4096, 0).ubatch, 512);
    EXPECT_EQ(plan(8 * scratch512 - 8, 4096, 0).ubatch, 256);
    EXPECT_EQ(plan(8 * scratch512, 4096, 100).ubatch, 100);
    EXPECT_EQ(plan(8 * scratch512, 4096, 0).scratch, scratch512);
    EXPECT_EQ(plan(8 * scratch512, 200, 0).ubatch, 128);   // no longer than the context
    EXPECT_EQ(plan_memory(d, 1ull << 40, 8192, f32, 0, {}).ubatch, 4096);

    // A budget whose cache holds 8 of the 64 experts, with 64-token ubatches.
    const Bandwidth bw{1e9, 10e9, 50e9};
    const MemoryPlan u = plan_memory(d, 0, 4096, f32, 0, {}, 64);
    const MemoryPlan p = plan_memory(d, u.dense + u.state + u.scratch + u.reserve + 8 * u.slot_bytes, 4096, f32, 0, bw, 64);
    ASSERT_EQ(p.cache_slots, 8);
    EXPECT_GT(p.prefill_bytes_read, 0u);
    EXPECT_DOUBLE_EQ(p.prefill_t_read, double(p.prefill_bytes_read) / 1e9);
    EXPECT_GT(p.prefill_t_compute, 0.0);
    EXPECT_DOUBLE_EQ(p.predicted_prefill_tok_s, 64.0 / std::max(p.prefill_t_read, p.prefill_t_compute));
    EXPECT_EQ(plan_memory(d, 0, 4096, f32, 0, bw).prefill_bytes_read, 0u);   // unbudgeted: all mapped
}

// A model file too small to time the disk must not record a disk bandwidth of zero over the
// figure a larger model measured on the same device.
TEST(Bandwidth, ASmallModelKeepsTheDevicesDiskFigure) {
    test::TempDir tmp;
    const char* saved = std::getenv("XDG_CACHE_HOME");
    const std::string saved_value = saved ? saved : "";
    setenv("XDG_CACHE_HOME", tmp.path().c_str(), 1);
    const std::string small = tmp.file("small.gguf");
    std::ofstream(small) << std::string(1 << 20, 'x');

    Bandwidth first = measured_bandwidth(small, true, 1 << 20);
    EXPECT_EQ(first.disk_bytes_per_s, 0.0);   // unknown, not measured on 1 MiB
    EXPECT_GT(first.memory_bytes_per_s, 0.0);

    // As if a large model on this device had measured 1.5 GB/s before.
    struct stat st {};
    ASSERT_EQ(::stat(small.c_str(), &st), 0);
    const std::string key = std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev));
    std::filesystem::create_directories(tmp.path() / "sluice");
    std::ofstream(tmp.path() / "sluice" / "bandwidth.json")
        << "{\"" << key << "\": {\"disk\": 1.5e9, \"memory\": 2e10, \"measured_on\": \"big.gguf\"}}";
    Bandwidth again = measured_bandwidth(small, true, 1 << 20);
    EXPECT_EQ(again.disk_bytes_per_s, 1.5e9);
    EXPECT_EQ(measured_bandwidth(small, false, 1 << 20).disk_bytes_per_s, 1.5e9);   // and it stays cached

    if (saved) setenv("XDG_CACHE_HOME", saved_value.c_str(), 1);
    else unsetenv("XDG_CACHE_HOME");
}

// The disk is read through the expert reader: a file large enough to time (sparse, so the test
// writes nothing) gets a figure, recorded with the read size; a read that fails ends the probe
// with a one-line error naming the file.
TEST(Bandwidth, TheProbeReadsThroughTheExpertReader) {
    test::TempDir tmp;
    const char* saved = std::getenv("XDG_CACHE_HOME");
    const std::string saved_value = saved ? saved : "";
    setenv("XDG_CACHE_HOME", tmp.path().c_str(), 1);
    const std::string big = tmp.file("big.gguf");
    std::ofstream(big).close();
    std::filesystem::resize_file(big, 300ull << 20);

    const Bandwidth bw = measured_bandwidth(big, true, 900000);
    EXPECT_GT(bw.disk_bytes_per_s, 0.0);
    const nlohmann::json cache = nlohmann::json::parse(std::ifstream(tmp.path() / "sluice" / "bandwidth.json"));
    ASSERT_EQ(cache.size(), 1u);
    EXPECT_EQ(cache.begin().value()["read_bytes"], 900000);
    EXPECT_EQ(cache.begin().value()["measured_on"], big);

    setenv("SLUICE_FAULT", "eio@5", 1);
    try {
        measured_bandwidth(big, true, 900000);
        ADD_FAILURE() << "a failed read was not reported";
    } catch (const Error& e) {
        const std::string what = e.what();
        EXPECT_EQ(what.rfind(big + ": reading to measure the disk: ", 0), 0u) << what;
        EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    }
    unsetenv("SLUICE_FAULT");

    if (saved) setenv("XDG_CACHE_HOME", saved_value.c_str(), 1);
    else unsetenv("XDG_CACHE_HOME");
}

// A cached figure is used as it is only when the probe that measured it read as the engine
// does (it records its read size) and timed the prefill products; one from an earlier probe is
// measured again.
TEST(Bandwidth, AFigureFromTheEarlierProbeIsMeasuredAgain) {
    test::TempDir tmp;
    const char* saved = std::getenv("XDG_CACHE_HOME");
    const std::string saved_value = saved ? saved : "";
    setenv("XDG_CACHE_HOME", tmp.path().c_str(), 1);
    const std::string small = tmp.file("small.gguf");
    std::ofstream(small) << std::string(1 << 20, 'x');
    struct stat st {};
    ASSERT_EQ(::stat(small.c_str(), &st), 0);
    const std::string key = std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev));
    std::filesystem::create_directories(tmp.path() / "sluice");
    const auto cache = tmp.path() / "sluice" / "bandwidth.json";

    // A memory figure no machine measures shows whether the entry was trusted.
    std::ofstream(cache) << "{\"" << key << "\": {\"disk\": 1.5e9, \"memory\": 7, \"measured_on\": \"big.gguf\", "
                            "\"read_bytes\": 1048576, \"matmul_flops\": 5e10}}";
    EXPECT_EQ(measured_bandwidth(small, false, 1 << 20).memory_bytes_per_s, 7.0);

    std::ofstream(cache) << "{\"" << key << "\": {\"disk\": 1.5e9, \"memory\": 7, \"measured_on\": \"big.gguf\"}}";
    const Bandwidth again = measured_bandwidth(small, false, 1 << 20);
    EXPECT_GT(again.memory_bytes_per_s, 1e6);
    EXPECT_EQ(again.disk_bytes_per_s, 1.5e9);   // a 1 MiB file cannot time the disk: the figure stays

    if (saved) setenv("XDG_CACHE_HOME", saved_value.c_str(), 1);
    else unsetenv("XDG_CACHE_HOME");
}

}  // namespace
}  // namespace sluice
