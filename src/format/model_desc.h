// One description of a model, whichever file it came from: hyper-parameters, where every dense
// tensor is (file, offset, shape, type), and where every expert's projections are. Tensor names
// are llama.cpp's GGUF names (model-spec §B.10, §C.2) for both sources.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "format/gguf.h"
#include "quant/types.h"
#include "util/mapped_file.h"

namespace sluice {

enum class Arch { Qwen3Moe, Qwen35Moe, Qwen3Next, GptOss, Glm4Moe, DeepSeek2 };
// GGUF general.architecture: "qwen3moe", "qwen35moe", "qwen3next", "gpt-oss", "glm4moe", "deepseek2"
const char* arch_name(Arch a);

// How router logits become expert weights: a softmax over all experts, then the top K (Qwen);
// the top K logits, then a softmax over those K (gpt-oss); or independent sigmoids whose choice
// is biased by a learned correction (DeepSeek-V3, GLM-4.5: "noaux_tc").
enum class Gating { Softmax, SoftmaxOfChosen, Sigmoid };

// YaRN context extension (gpt-oss, DeepSeek-V3, Kimi-K2): RoPE frequencies blended between the
// original and the interpolated ones over a ramp of dimensions (model/rotary_table.h), and the
// attention scale that goes with it.
struct Yarn {
    float factor = 0;               // 0: no YaRN
    int64_t original_context = 0;
    float beta_fast = 32, beta_slow = 1;
    float rope_scale = 1;           // multiplies cos and sin (transformers' attention_factor)
    bool truncate = true;           // round the ramp's ends to whole dims (transformers' `truncate`)
    float attn_mscale = 1;          // multiplies the softmax scale twice (0.1·mscale_all_dim·ln(factor) + 1)
};

struct ModelConfig {
    Arch arch = Arch::Qwen3Moe;
    int64_t vocab_size = 0;
    int64_t hidden = 0;
    int64_t n_layers = 0;
    int64_t n_heads = 0;
    int64_t n_kv_heads = 0;
    int64_t head_dim = 0;
    int64_t context_length = 0;
    float rms_eps = 1e-6f;
    float rope_theta = 1e6f;
    int64_t rope_dim = 0;            // rotated dims per head (partial RoPE when < head_dim)
    int64_t n_experts = 0;
    int64_t n_experts_used = 0;
    int64_t expert_ffn = 0;          // I: width of one routed expert
    int64_t shared_expert_ffn = 0;   // 0 when the model has no shared expert
    bool norm_topk_prob = true;
    // DeepSeek-V3 / GLM-4.5 routing and layers: sigmoid gating, experts chosen within the best
    // `expert_groups_used` of `expert_groups` groups, weights scaled by routed_scale; the first
    // n_dense_layers layers have a dense SwiGLU of dense_ffn instead of experts.
    Gating gating = Gating::Softmax;
    int64_t expert_groups = 1, expert_groups_used = 1;
    float routed_scale = 1;
    int64_t n_dense_layers = 0;
    int64_t dense_ffn = 0;
    // Multi-head latent attention (DeepSeek-V3): q through a rank-q_lora bottleneck, K and V from
    // a kv_lora-wide latent; each head's key is qk_nope dims from the latent and rope_dim RoPE
    // dims shared by all heads, its value v_head_dim dims. RoPE rotates adjacent pairs.
    int64_t q_lora = 0, kv_lora = 0, qk_nope = 0, v_head_dim = 0;
    Yarn yarn;
    // gpt-oss: the layers marked in sliding_layer attend to the last sliding_window positions
    // only; attention has per-head sinks and biases, experts biases and SwiGLU clamped at
    // swiglu_limit (0: the plain SwiGLU).
    int64_t sliding_window = 0;
    std::vector<bool> sliding_layer;
    float swiglu_limit = 0;
    // Hybrid models (Qwen3.5 / Qwen3-Next): which layers are Gated DeltaNet, and its geometry.
    std::vector<bool> linear_layer;
    int64_t lin_k_heads = 0, lin_v_heads = 0, lin_k_dim = 0, lin_v_dim = 0, conv_kernel = 0;
    int64_t bos_token = -1, eos_token = -1;

    bool is_linear(int64_t layer) const { return !linear_layer.empty() && linear_layer[size_t(layer)]; }
    bool is_sliding(int64_t layer) const { return !sliding_layer.empty() && sliding_layer[size_t(layer)]; }
    bool is_dense(int64_t layer) const { return layer < n_dense_layers; }
    bool is_mla() const { return arch == Arch::DeepSeek2; }
    int64_t moe_layers() const { return n_layers - n_dense_layers; }
};

// Stored-value conventions that differ between Hugging Face checkpoints and llama.cpp's GGUF.
struct Conventions {
    bool norm_has_unit_offset = false;  // zero-centred norms stored as 1 + w (qwen35/qwen3next GGUF)
    bool ssm_a_is_neg_exp = false;      // ssm_a stored as −exp(A_log) instead of A_log
    bool v_heads_tiled = false;         // v-head h uses k-head h % nk (qwen35 GGUF) instead of h / r
};

struct TensorRef {
    std::string name;          // canonical (GGUF) name
    std::string source_name;   // name in the file it came from, for error messages
    int file = 0;              // index into ModelDesc::files
    uint64_t offset = 0;       // absolute byte offset
    std::vector<int64_t> ne;   // innermost first
    GgmlType type = GgmlType::F32;
    uint64_t bytes = 0;
};

// Where expert e of one projection is: a [rows, cols] matrix of `type`.
struct ExpertProjection {
    std::string name;   // for messages, e.g. "blk.3.ffn_gate_exps.weight"
    GgmlType type = GgmlType::F32;
    int64_t rows = 0, cols = 0;
    struct Slice {
        int file;
        uint64_t offset;
        uint64_t bytes;
    };
    std::vector<Slice> experts;
};

// A layer's routed experts; none in a dense layer (ModelConfig::is_dense).
struct LayerExperts {
    ExpertProjection gate, up, down;
    bool empty() const { return gate.experts.empty(); }
    uint64_t expert_bytes() const {
        return empty() ? 0 : gate.experts[0].bytes + up.experts[0].bytes + down.experts[0].bytes;
    }
};

class ModelDesc {
public:
    // `path` is a .gguf file or a Hugging Face model directory (config.json + safetensors).
    static ModelDesc open(const std::string& path);

    ModelConfig config;
    Conventions conventions;
    std::string path;
    std::shared_ptr<GgufFile> gguf;   // set when loaded from GGUF (tokenizer metadata lives there)
    std::vector<std::shared_ptr<MappedFile>> files;
    std::map<std::string, TensorRef> tensors;   // the dense part
    std::vector<LayerExperts> experts;          // per layer

    const TensorRef* find(const std::string& name) const;
    // The tensor with this shape (innermost first); a trailing 1 in either shape is ignored.
    // Throws naming the tensor when it is missing or its shape differs.
    const TensorRef& require(const std::string& name, const std::vector<int64_t>& ne) const;
    const uint8_t* data(const TensorRef& t) const { return files[size_t(t.file)]->data() + t.offset; }

    uint64_t dense_bytes() const;
    uint64_t expert_bytes() const;   // all routed experts of all layers
};

// Parses a Hugging Face config.json (flat, or with `text_config`) into a ModelConfig.
ModelConfig parse_hf_config(const std::string& config_json_path);

}  // namespace sluice
