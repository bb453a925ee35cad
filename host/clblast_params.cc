// CLBlast's C++ API is the only one that reads parameters back
// (clblast::RetrieveParameters); every entry point catches at the boundary so
// the C side sees status codes only.
#include "clblast_params.h"

#include <clblast.h>

#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

namespace {

using Params = std::unordered_map<std::string, size_t>;
using Key = std::pair<cl_device_id, std::string>;

// CLBlast's own parameters of each (device, kernel) we have overridden.
std::mutex originals_lock;
std::map<Key, Params> originals;

template <typename F>
CLBlastStatusCode guarded(F body)
{
    try {
        return static_cast<CLBlastStatusCode>(body());
    } catch (...) {
        return CLBlastUnknownError;
    }
}

} // namespace

extern "C" CLBlastStatusCode clblast_params_set(cl_device_id device, const char *kernel, size_t n,
                                                const char *const *names, const size_t *values)
{
    return guarded([&] {
        std::lock_guard<std::mutex> hold(originals_lock);
        const Key key{device, kernel};
        if (originals.find(key) == originals.end()) {
            Params current;
            auto st = clblast::RetrieveParameters(device, kernel, clblast::Precision::kSingle,
                                                  current);
            if (st != clblast::StatusCode::kSuccess)
                return st;
            originals.emplace(key, std::move(current));
        }
        Params wanted;
        for (size_t i = 0; i < n; i++)
            wanted[names[i]] = values[i];
        return clblast::OverrideParameters(device, kernel, clblast::Precision::kSingle, wanted);
    });
}

extern "C" CLBlastStatusCode clblast_params_reset(cl_device_id device, const char *kernel)
{
    return guarded([&] {
        std::lock_guard<std::mutex> hold(originals_lock);
        auto it = originals.find(Key{device, kernel});
        if (it == originals.end())
            return clblast::StatusCode::kSuccess;
        return clblast::OverrideParameters(device, kernel, clblast::Precision::kSingle,
                                           it->second);
    });
}

extern "C" CLBlastStatusCode clblast_params_get(cl_device_id device, const char *kernel,
                                                const char *name, size_t *value)
{
    return guarded([&] {
        Params current;
        auto st = clblast::RetrieveParameters(device, kernel, clblast::Precision::kSingle, current);
        if (st != clblast::StatusCode::kSuccess)
            return st;
        auto it = current.find(name);
        if (it == current.end())
            return clblast::StatusCode::kMissingOverrideParameter;
        *value = it->second;
        return clblast::StatusCode::kSuccess;
    });
}
