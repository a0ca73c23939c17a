// What `synth --type` takes: one block type for every 2-D weight, or a per-tensor mix like the
// GGUFs people download.
//   q4_k_m:  llama.cpp's Q4_K_M (choose_tensor_type's q4_k_m rule): Q4_K, with Q6_K for
//            output.weight and for attn_v / attn_qkv and every ffn_down (routed experts and
//            shared expert) in the first and last eighth of the layers and a third of the rest.
//   iq2_mix: a 2-bit "dynamic"-style mix: routed gate/up experts IQ2_XXS, routed ffn_down one
//            step up (Q2_K, the type llama.cpp's IQ2_XXS recipe moves ffn_down to), every other
//            tensor as q4_k_m (dense part Q4_K / Q6_K, output Q6_K). IQ2_XXS needs an importance
//            matrix in llama.cpp; sluice quantises with a uniform one (quant/iq2_xxs_quantize.cpp).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "quant/types.h"

namespace sluice {

enum class TypeRecipe { Single, Q4_K_M, Iq2Mix };

struct TypeSpec {
    TypeRecipe recipe = TypeRecipe::Single;
    GgmlType type = GgmlType::Q4_K;  // Single: the type; a mix: its main type (general.file_type)

    TypeSpec() = default;
    TypeSpec(GgmlType single) : type(single) {}  // implicit: a plain type is a spec
    TypeSpec(TypeRecipe r, GgmlType main) : recipe(r), type(main) {}
};

// "q4_k_m", "iq2_mix" or a block type name (any case); nullopt when none of these.
std::optional<TypeSpec> parse_type_spec(const std::string& name);

// The type of one tensor under the spec (1-D tensors and routers F32, as choose_tensor_type).
GgmlType tensor_type(const TypeSpec& spec, const std::string& name, const std::vector<int64_t>& ne, int64_t n_layers);

}  // namespace sluice
