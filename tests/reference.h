// Reads the fixtures' reference.safetensors (float32 / int32 tensors) for end-to-end tests.
#pragma once
#include <cstring>
#include <string>
#include <vector>

#include "format/safetensors.h"
#include "util/error.h"

namespace sluice::test {

class Reference {
public:
    explicit Reference(const std::string& path) : set_(path) {}

    std::vector<int32_t> ints(const std::string& name) const { return read<int32_t>(name, "I32"); }
    std::vector<float> floats(const std::string& name) const { return read<float>(name, "F32"); }
    std::vector<int64_t> shape(const std::string& name) const { return get(name).shape; }

private:
    const SafetensorsTensor& get(const std::string& name) const {
        const SafetensorsTensor* t = set_.find(name);
        if (!t) fail("reference has no tensor {}", name);
        return *t;
    }
    template <typename T>
    std::vector<T> read(const std::string& name, const char* dtype) const {
        const SafetensorsTensor& t = get(name);
        if (t.dtype != dtype) fail("reference tensor {} is {}, expected {}", name, t.dtype, dtype);
        std::vector<T> out(t.bytes / sizeof(T));
        std::memcpy(out.data(), set_.data(t), t.bytes);
        return out;
    }
    SafetensorsSet set_;
};

}  // namespace sluice::test
