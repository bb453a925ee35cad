// CLBlast's C++ API is the only one that reads parameters back
// (clblast::RetrieveParameters); every entry point catches at the boundary so
// the C side sees status codes only.
#include "opencl/clblast_params.h"

#include <clblast.h>

#include <cstdio>
#include <cstring>
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

// Who holds each device's parameters, and which.
struct Lease {
    int holders = 0;
    clblast_param_set set;
    std::string label;
};
std::mutex leases_lock;
std::map<cl_device_id, Lease> leases;

bool same_set(const clblast_param_set &a, const clblast_param_set &b)
{
    for (int i = 0; i < CLBLAST_KERNELS; i++) {
        if (a.given[i] != b.given[i])
            return false;
        for (size_t j = 0; a.given[i] && j < clblast_kernel_specs[i].n; j++)
            if (a.values[i][j] != b.values[i][j])
                return false;
    }
    return true;
}

// Every kernel as SET wants it: its values, or CLBlast's own back.
CLBlastStatusCode apply_set(cl_device_id device, const clblast_param_set &set, int *kernel)
{
    for (int i = 0; i < CLBLAST_KERNELS; i++) {
        const clblast_kernel_spec &s = clblast_kernel_specs[i];
        CLBlastStatusCode st = set.given[i]
                                   ? clblast_params_set(device, s.kernel, s.n, s.params, set.values[i])
                                   : clblast_params_reset(device, s.kernel);
        if (st != CLBlastSuccess) {
            *kernel = i;
            return st;
        }
    }
    return CLBlastSuccess;
}

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

/* Parameter names as CLBlast 1.5.3's database has them
 * (src/database/kernels/<kernel>/<kernel>_32.hpp); CLBlastOverrideParameters
 * rejects a set that lacks any of them. */
extern "C" const clblast_kernel_spec clblast_kernel_specs[CLBLAST_KERNELS] = {
    /* in the order of the CLBLAST_* kernel indices */
    {"Xgemm", 16, {"GEMMK", "KREG", "KWG", "KWI", "MDIMA", "MDIMC", "MWG", "NDIMB", "NDIMC",
                   "NWG", "SA", "SB", "STRM", "STRN", "VWM", "VWN"},
     1u << 0 | 1u << 10 | 1u << 11 | 1u << 12 | 1u << 13},
    {"XgemmDirect", 10, {"KWID", "MDIMAD", "MDIMCD", "NDIMBD", "NDIMCD", "PADA", "PADB", "VWMD",
                         "VWND", "WGD"},
     1u << 5 | 1u << 6},
    {"GemmRoutine", 1, {"XGEMM_MIN_INDIRECT_SIZE"}, 1u << 0},
    {"Copy", 4, {"COPY_DIMX", "COPY_DIMY", "COPY_VW", "COPY_WPT"}, 0},
    {"Pad", 4, {"PAD_DIMX", "PAD_DIMY", "PAD_WPTX", "PAD_WPTY"}, 0},
    {"Transpose", 4, {"TRA_DIM", "TRA_PAD", "TRA_SHUFFLE", "TRA_WPT"}, 1u << 1 | 1u << 2},
    {"Padtranspose", 3, {"PADTRA_PAD", "PADTRA_TILE", "PADTRA_WPT"}, 1u << 0},
};

extern "C" int clblast_kernel_index(const char *kernel)
{
    for (int i = 0; i < CLBLAST_KERNELS; i++)
        if (std::strcmp(clblast_kernel_specs[i].kernel, kernel) == 0)
            return i;
    return -1;
}

extern "C" clblast_lease_result clblast_params_lease(cl_device_id device,
                                                     const clblast_param_set *set,
                                                     const char *label, char *holder,
                                                     size_t holder_size,
                                                     CLBlastStatusCode *status, int *kernel)
{
    *kernel = -1;
    try {
        std::lock_guard<std::mutex> hold(leases_lock);
        Lease &lease = leases[device];
        if (lease.holders > 0) {
            if (!same_set(lease.set, *set)) {
                std::snprintf(holder, holder_size, "%s", lease.label.c_str());
                return CLBLAST_LEASE_CONFLICT;
            }
            lease.holders++;
            return CLBLAST_LEASE_OK;
        }
        *status = apply_set(device, *set, kernel);
        if (*status != CLBlastSuccess)
            return CLBLAST_LEASE_FAILED;
        lease.set = *set;
        lease.label = label;
        lease.holders = 1;
        return CLBLAST_LEASE_OK;
    } catch (...) {
        *status = CLBlastUnknownError;
        return CLBLAST_LEASE_FAILED;
    }
}

extern "C" void clblast_params_release(cl_device_id device)
{
    std::lock_guard<std::mutex> hold(leases_lock);
    auto it = leases.find(device);
    if (it != leases.end() && it->second.holders > 0)
        it->second.holders--;
}

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
