// What sluice accepts from a model file, checked before anything is allocated or addressed with
// it (README, "Limits and guarantees"). Each bound is far above every released model and low
// enough that a corrupt or hostile count fails with an error instead of exhausting memory.
#pragma once
#include <cstdint>

namespace sluice::limits {

inline constexpr uint64_t kMaxTensors = 1u << 16;             // tensors in one GGUF / safetensors file
inline constexpr uint64_t kMaxMetadataString = 16u << 20;     // bytes of one GGUF metadata string or key
inline constexpr uint64_t kMaxMetadataArray = 1u << 20;       // elements of one GGUF metadata array
inline constexpr int64_t kMaxVocab = 1 << 20;                 // tokens in a vocabulary
inline constexpr int64_t kMaxLayers = 4096;                   // transformer blocks
inline constexpr uint64_t kMaxSafetensorsHeader = 100u << 20;   // bytes (the format's own limit)
inline constexpr int64_t kMaxDimension = int64_t(1) << 40;    // one tensor dimension

}  // namespace sluice::limits
