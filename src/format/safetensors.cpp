#include "format/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "util/limits.h"
#include "util/error.h"
#include "util/json_file.h"

namespace sluice {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

uint64_t dtype_size(const std::string& dtype) {
    static const std::map<std::string, uint64_t> sizes = {
        {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4}, {"I16", 2},
        {"I8", 1},  {"U8", 1},  {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"U16", 2}, {"U32", 4}, {"U64", 8}};
    auto it = sizes.find(dtype);
    return it == sizes.end() ? 0 : it->second;
}

}  // namespace

GgmlType safetensors_dtype_to_ggml(const std::string& dtype, const std::string& tensor, const std::string& file) {
    if (dtype == "F32") return GgmlType::F32;
    if (dtype == "F16") return GgmlType::F16;
    if (dtype == "BF16") return GgmlType::BF16;
    fail("{}: tensor {} has dtype {} (supported: F32, F16, BF16)", file, tensor, dtype);
}

SafetensorsSet::SafetensorsSet(const std::string& path) {
    fs::path p(path);
    if (fs::is_directory(p)) {
        if (fs::exists(p / "model.safetensors.index.json")) p = p / "model.safetensors.index.json";
        else if (fs::exists(p / "model.safetensors")) p = p / "model.safetensors";
        else fail("{}: no model.safetensors or model.safetensors.index.json", path);
    }
    if (!fs::exists(p)) fail("{}: no such file", p.string());
    if (p.extension() == ".json") {
        json index = read_json_file(p.string());
        if (!index.contains("weight_map") || !index["weight_map"].is_object())
            fail("{}: missing object \"weight_map\"", p.string());
        std::set<std::string> shards;
        for (auto& [name, shard] : index["weight_map"].items()) {
            if (!shard.is_string()) fail("{}: weight_map[{}] is not a file name", p.string(), name);
            shards.insert(shard.get<std::string>());
        }
        for (const auto& s : shards) add_file((p.parent_path() / s).string());
        for (auto& [name, shard] : index["weight_map"].items())
            if (!tensors_.count(name))
                fail("{}: index lists tensor {} in {} but that shard does not contain it", p.string(), name,
                     shard.get<std::string>());
    } else {
        add_file(p.string());
    }
}

void SafetensorsSet::add_file(const std::string& path) {
    auto file = std::make_shared<MappedFile>(path);
    if (file->size() < 8) fail("{}: truncated safetensors file ({} bytes, no header)", path, file->size());
    uint64_t header_len;
    std::memcpy(&header_len, file->data(), 8);
    if (header_len > limits::kMaxSafetensorsHeader)
        fail("{}: safetensors header of {} bytes (the limit is {})", path, header_len, limits::kMaxSafetensorsHeader);
    if (header_len > file->size() - 8)
        fail("{}: safetensors header of {} bytes runs past the end of the file ({} bytes)", path, header_len,
             file->size());
    json header;
    try {
        header = json::parse(file->data() + 8, file->data() + 8 + header_len);
    } catch (const json::exception& e) {
        fail("{}: invalid safetensors header JSON: {}", path, e.what());
    }
    if (!header.is_object()) fail("{}: safetensors header is not a JSON object", path);
    if (header.size() > limits::kMaxTensors + 1)
        fail("{}: {} tensors (the limit is {})", path, header.size(), limits::kMaxTensors);
    uint64_t data_start = 8 + header_len;
    std::vector<std::pair<uint64_t, const SafetensorsTensor*>> extents;   // (end, tensor) by start
    int index = int(files_.size());
    for (auto& [name, info] : header.items()) {
        if (name == "__metadata__") continue;
        try {
            SafetensorsTensor t;
            t.name = name;
            t.dtype = info.at("dtype").get<std::string>();
            for (auto& d : info.at("shape")) t.shape.push_back(d.get<int64_t>());
            auto offs = info.at("data_offsets");
            uint64_t b = offs.at(0).get<uint64_t>(), e = offs.at(1).get<uint64_t>();
            uint64_t elem = dtype_size(t.dtype);
            if (elem == 0) fail("{}: tensor {}: unknown dtype {}", path, name, t.dtype);
            // A wrapped product would let a huge shape pass as a few bytes.
            uint64_t bytes = elem;
            for (int64_t d : t.shape) {
                if (d < 0) fail("{}: tensor {}: negative dimension", path, name);
                if (__builtin_mul_overflow(bytes, uint64_t(d), &bytes))
                    fail("{}: tensor {}: shape [{}] of {} is more than 2^64 bytes", path, name, fmt::join(t.shape, ", "),
                         t.dtype);
            }
            if (e < b || e - b != bytes)
                fail("{}: tensor {}: data_offsets [{}, {}) do not match shape and dtype ({} bytes)", path, name, b, e,
                     bytes);
            if (e > file->size() - data_start)
                fail("{}: tensor {}: data past the end of the file (truncated?)", path, name);
            // Two shards with one name would leave which bytes are used to the order of reading.
            if (auto prev = tensors_.find(name); prev != tensors_.end())
                fail("{}: tensor {} is also in {} (each tensor must be in one shard)", path, name,
                     files_[prev->second.file]->path());
            t.file = index;
            t.offset = data_start + b;
            t.bytes = e - b;
            const SafetensorsTensor& added = tensors_[name] = std::move(t);
            if (added.bytes > 0) extents.emplace_back(added.offset, &added);
        } catch (const json::exception& e) {
            fail("{}: tensor {}: malformed header entry: {}", path, name, e.what());
        }
    }
    // Tensors sharing bytes are refused (no writer makes them; see GgufFile).
    std::sort(extents.begin(), extents.end());
    for (size_t i = 1; i < extents.size(); ++i) {
        const SafetensorsTensor& prev = *extents[i - 1].second;
        if (extents[i].first < prev.offset + prev.bytes)
            fail("{}: tensors {} and {} overlap at offset {}", path, prev.name, extents[i].second->name,
                 extents[i].first - data_start);
    }
    files_.push_back(std::move(file));
}

const SafetensorsTensor* SafetensorsSet::find(const std::string& name) const {
    auto it = tensors_.find(name);
    return it == tensors_.end() ? nullptr : &it->second;
}

}  // namespace sluice
