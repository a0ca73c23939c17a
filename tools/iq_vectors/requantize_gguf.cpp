// Rewrites the 2-D weights of an F32 GGUF in one GGML type with llama.cpp's own quantiser
// (ggml_quantize_chunk, a uniform importance matrix), for the IQ types sluice reads but does not
// write: the test files tests/data/iq/*.gguf come from this (make.sh). Tensors whose rows are
// not whole blocks, 1-D tensors and the routers (ffn_gate_inp) stay F32, as llama-quantize
// leaves them. Not part of the default build: make.sh builds it against node-llama-cpp's ggml.
//
//   requantize_gguf IN.gguf OUT.gguf TYPE     (TYPE: a ggml type name, e.g. iq3_xxs)
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "ggml.h"
#include "gguf.h"

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: requantize_gguf IN.gguf OUT.gguf TYPE\n");
        return 2;
    }
    int type = -1;
    for (int t = 0; t < GGML_TYPE_COUNT; ++t)
        if (ggml_get_type_traits(ggml_type(t))->type_name && std::string(ggml_type_name(ggml_type(t))) == argv[3]) type = t;
    if (type < 0) {
        std::fprintf(stderr, "requantize_gguf: unknown type %s\n", argv[3]);
        return 2;
    }
    ggml_context* in_ctx = nullptr;
    gguf_context* in = gguf_init_from_file(argv[1], {false, &in_ctx});
    if (!in) {
        std::fprintf(stderr, "requantize_gguf: cannot read %s\n", argv[1]);
        return 1;
    }
    const int64_t n = gguf_get_n_tensors(in);
    size_t bytes = 0;
    for (int64_t i = 0; i < n; ++i) bytes += ggml_nbytes(ggml_get_tensor(in_ctx, gguf_get_tensor_name(in, i))) + 1024;
    ggml_context* out_ctx = ggml_init({bytes, nullptr, false});
    gguf_context* out = gguf_init_empty();
    gguf_set_kv(out, in);
    const int64_t block = ggml_blck_size(ggml_type(type));
    for (int64_t i = 0; i < n; ++i) {
        const char* name = gguf_get_tensor_name(in, i);
        const ggml_tensor* t = ggml_get_tensor(in_ctx, name);
        const bool quantise = t->type == GGML_TYPE_F32 && ggml_n_dims(t) >= 2 && t->ne[0] % block == 0 &&
                              std::strstr(name, "ffn_gate_inp") == nullptr;
        ggml_tensor* o = ggml_new_tensor(out_ctx, quantise ? ggml_type(type) : t->type, GGML_MAX_DIMS, t->ne);
        ggml_set_name(o, name);
        if (quantise) {
            const int64_t rows = ggml_nrows(t);
            const std::vector<float> imatrix(size_t(t->ne[0]), 1.0f);
            // The importance matrix has one weight per column, shared by every row.
            ggml_quantize_chunk(ggml_type(type), static_cast<const float*>(t->data), o->data, 0, rows, t->ne[0],
                                imatrix.data());
        } else {
            std::memcpy(o->data, t->data, ggml_nbytes(t));
        }
        gguf_add_tensor(out, o);
    }
    if (!gguf_write_to_file(out, argv[2], false)) {
        std::fprintf(stderr, "requantize_gguf: cannot write %s\n", argv[2]);
        return 1;
    }
    std::printf("%s: %s\n", argv[2], argv[3]);
    return 0;
}
