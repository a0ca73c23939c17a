#include "format/type_recipe.h"

#include <algorithm>
#include <cctype>

#include "format/convert.h"

namespace sluice {

std::optional<TypeSpec> parse_type_spec(const std::string& name) {
    std::string lower(name);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    if (lower == "q4_k_m") return TypeSpec{TypeRecipe::Q4_K_M, GgmlType::Q4_K};
    if (lower == "iq2_mix") return TypeSpec{TypeRecipe::Iq2Mix, GgmlType::IQ2_XXS};
    if (auto t = type_from_name(lower)) return TypeSpec{TypeRecipe::Single, *t};
    return std::nullopt;
}

GgmlType tensor_type(const TypeSpec& spec, const std::string& name, const std::vector<int64_t>& ne, int64_t n_layers) {
    switch (spec.recipe) {
        case TypeRecipe::Single: return choose_tensor_type(name, ne, spec.type);
        case TypeRecipe::Q4_K_M: return choose_tensor_type(name, ne, GgmlType::Q4_K, true, n_layers);
        case TypeRecipe::Iq2Mix:
            if (name.find("_exps.") != std::string::npos) {
                const bool down = name.find("ffn_down") != std::string::npos;
                return choose_tensor_type(name, ne, down ? GgmlType::Q2_K : GgmlType::IQ2_XXS);
            }
            return choose_tensor_type(name, ne, GgmlType::Q4_K, true, n_layers);
    }
    return spec.type;
}

}  // namespace sluice
