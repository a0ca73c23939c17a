// config.json: the layer and vocabulary limits, and fields of the wrong type, each one line
// naming the file.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "format/model_desc.h"
#include "test_support.h"
#include "util/error.h"
#include "util/limits.h"

namespace sluice {
namespace {

using nlohmann::json;

std::string error_for(const json& config) {
    test::TempDir tmp;
    test::write_file(tmp.file("config.json"), config.dump());
    try {
        parse_hf_config(tmp.file("config.json"));
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

TEST(HfConfig, LimitsAndWrongTypes) {
    const json base = json::parse(test::read_file(test::fixture("models/qwen35moe-tiny/config.json")));
    EXPECT_EQ(error_for(base), "");
    json c = base;
    c["vocab_size"] = limits::kMaxVocab;
    EXPECT_EQ(error_for(c), "");
    c["vocab_size"] = limits::kMaxVocab + 1;
    EXPECT_NE(error_for(c).find("vocab_size 1048577 is more than the limit of 1048576"), std::string::npos) << error_for(c);
    c = base;
    c["num_hidden_layers"] = limits::kMaxLayers + 1;   // used to size the per-layer table first
    EXPECT_NE(error_for(c).find("num_hidden_layers 4097 is more than the limit of 4096"), std::string::npos) << error_for(c);
    c = base;
    c["model_type"] = 7;   // used to escape as nlohmann's type_error
    EXPECT_NE(error_for(c).find("config.json: a field has the wrong type"), std::string::npos) << error_for(c);
    c = base;
    c["rope_parameters"] = {{"rope_type", json::array()}};
    EXPECT_NE(error_for(c).find("config.json: a field has the wrong type"), std::string::npos) << error_for(c);
}

ModelConfig parse(const json& config) {
    test::TempDir tmp;
    test::write_file(tmp.file("config.json"), config.dump());
    return parse_hf_config(tmp.file("config.json"));
}

TEST(HfConfig, Glm4MoeRoutingAndDenseLayers) {
    const json base = json::parse(test::read_file(test::fixture("models/glm4moe-tiny/config.json")));
    const ModelConfig c = parse(base);
    EXPECT_EQ(c.arch, Arch::Glm4Moe);
    EXPECT_EQ(c.gating, Gating::Sigmoid);
    EXPECT_EQ(c.n_dense_layers, 1);
    EXPECT_EQ(c.dense_ffn, 128);
    EXPECT_EQ(c.shared_expert_ffn, 32);
    EXPECT_EQ(c.rope_dim, 16);   // partial_rotary_factor 0.5 of head_dim 32
    EXPECT_FLOAT_EQ(c.routed_scale, 2.5f);
    json j = base;
    j["scoring_func"] = "softmax";
    EXPECT_NE(error_for(j).find("scoring_func \"softmax\" is not supported"), std::string::npos) << error_for(j);
    j = base;
    j["n_group"] = 3;   // 16 experts do not divide into 3 groups
    EXPECT_NE(error_for(j).find("n_group 3 must divide n_routed_experts 16"), std::string::npos) << error_for(j);
    j = base;
    j["first_k_dense_replace"] = 5;
    EXPECT_NE(error_for(j).find("first_k_dense_replace 5 is more than the 4 layers"), std::string::npos) << error_for(j);
}

}  // namespace
}  // namespace sluice
