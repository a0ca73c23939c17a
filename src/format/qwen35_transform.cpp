#include "format/qwen35_transform.h"

#include <cmath>

#include "util/error.h"

namespace sluice {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The part of a name after "blk.N.", or the whole name outside the blocks.
std::string local_name(const std::string& name) {
    if (name.rfind("blk.", 0) != 0) return name;
    size_t dot = name.find('.', 4);
    return dot == std::string::npos ? name : name.substr(dot + 1);
}

bool is_offset_norm(const std::string& local) {
    return ends_with(local, "norm.weight") && local != "ssm_norm.weight";
}

bool is_v_indexed(const std::string& local) {
    return local == "attn_qkv.weight" || local == "attn_gate.weight" || local == "ssm_beta.weight" ||
           local == "ssm_alpha.weight" || local == "ssm_a" || local == "ssm_dt.bias" || local == "ssm_conv1d.weight" ||
           local == "ssm_out.weight";
}

int64_t elements(const std::vector<int64_t>& ne) {
    int64_t n = 1;
    for (int64_t d : ne) n *= d;
    return n;
}

// Within each of `outer` runs (`stride` floats apart, starting at `base`), moves the nv blocks of
// `unit` floats from grouped to tiled order: block g·r + j goes to j·nk + g.
void tile_v_heads(float* base, int64_t outer, int64_t stride, int64_t unit, int64_t nk, int64_t nv) {
    const int64_t r = nv / nk;
    std::vector<float> tmp(static_cast<size_t>(nv * unit));
    for (int64_t o = 0; o < outer; ++o) {
        float* run = base + o * stride;
        for (int64_t g = 0; g < nk; ++g)
            for (int64_t j = 0; j < r; ++j)
                std::copy_n(run + (g * r + j) * unit, unit, tmp.begin() + (j * nk + g) * unit);
        std::copy(tmp.begin(), tmp.end(), run);
    }
}

}  // namespace

bool qwen35_needs_transform(const ModelConfig& c, const std::string& name) {
    if (c.arch == Arch::Qwen3Moe) return false;
    const std::string local = local_name(name);
    if (is_offset_norm(local) || local == "ssm_a" || local == "ssm_conv1d.weight") return true;
    return c.arch == Arch::Qwen35Moe && c.lin_v_heads != c.lin_k_heads && is_v_indexed(local);
}

void qwen35_gguf_transform(const ModelConfig& c, DenseTensor& t) {
    if (!qwen35_needs_transform(c, t.name)) return;
    if (elements(t.ne) != int64_t(t.data.size()))
        fail("{}: tensor has {} values but its shape holds {}", t.name, t.data.size(), elements(t.ne));
    const std::string local = local_name(t.name);
    const int64_t H = c.hidden, nk = c.lin_k_heads, nv = c.lin_v_heads, dv = c.lin_v_dim, Kc = c.conv_kernel;
    const int64_t kd = nk * c.lin_k_dim, vd = nv * dv, conv_dim = 2 * kd + vd;
    auto expect = [&](std::vector<int64_t> ne) {
        std::vector<int64_t> got = t.ne;
        while (got.size() > 1 && got.back() == 1) got.pop_back();
        if (local == "ssm_conv1d.weight" && got.size() == 3 && got[1] == 1) got.erase(got.begin() + 1);
        if (got != ne)
            fail("{}: shape {{{}}} differs from the {{{}}} the config implies", t.name, fmt::join(t.ne, ", "),
                 fmt::join(ne, ", "));
        t.ne = ne;
    };

    if (is_offset_norm(local)) {
        for (float& v : t.data) v += 1.0f;
        return;
    }
    const bool tile = c.arch == Arch::Qwen35Moe && nv != nk;
    float* d = t.data.data();
    if (local == "ssm_a") {
        expect({nv});
        for (float& v : t.data) v = -std::exp(v);
        if (tile) tile_v_heads(d, 1, 0, 1, nk, nv);
    } else if (local == "ssm_conv1d.weight") {
        expect({Kc, conv_dim});
        if (tile) tile_v_heads(d + 2 * kd * Kc, 1, 0, dv * Kc, nk, nv);
    } else if (local == "attn_qkv.weight") {
        expect({H, conv_dim});
        tile_v_heads(d + 2 * kd * H, 1, 0, dv * H, nk, nv);
    } else if (local == "attn_gate.weight") {
        expect({H, vd});
        tile_v_heads(d, 1, 0, dv * H, nk, nv);
    } else if (local == "ssm_beta.weight" || local == "ssm_alpha.weight") {
        expect({H, nv});
        tile_v_heads(d, 1, 0, H, nk, nv);
    } else if (local == "ssm_dt.bias") {
        expect({nv});
        tile_v_heads(d, 1, 0, 1, nk, nv);
    } else if (local == "ssm_out.weight") {
        expect({vd, H});
        tile_v_heads(d, H, vd, dv, nk, nv);
    }
}

}  // namespace sluice
