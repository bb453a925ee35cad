// The only C++ in the library: every entry point catches at the boundary so
// the C side sees status codes only.
#include "tokenizer/spm_wrapper.h"

#include <sentencepiece_processor.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

struct spm_model {
    sentencepiece::SentencePieceProcessor proc;
    sentencepiece::SentencePieceProcessor mid_word; // add_dummy_prefix off
    bool mid_word_ok = false;                       // it loaded
};

// Protobuf merges a repeated occurrence of a message field into the first,
// so these bytes appended to a ModelProto turn off one setting and keep the
// rest: field 3 (normalizer_spec, length 2) holding field 3
// (add_dummy_prefix) = false.  sentencepiece's headers do not expose
// ModelProto to set it otherwise.
static const char NO_DUMMY_PREFIX[] = {0x1a, 0x02, 0x18, 0x00};

static void set_msg(char *msg, size_t msg_size, const std::string &text)
{
    if (msg && msg_size > 0)
        std::snprintf(msg, msg_size, "%s", text.c_str());
}

// Runs BODY, turning any C++ exception into FAIL_CODE (SPM_E_NOMEM for
// bad_alloc) with its reason in MSG.
template <typename F>
static int guarded(char *msg, size_t msg_size, int fail_code, F body)
{
    try {
        return body();
    } catch (const std::bad_alloc &) {
        set_msg(msg, msg_size, "out of memory");
        return SPM_E_NOMEM;
    } catch (const std::exception &e) {
        set_msg(msg, msg_size, e.what());
        return fail_code;
    } catch (...) {
        set_msg(msg, msg_size, "unknown C++ exception");
        return fail_code;
    }
}

int spm_load(const void *data, size_t size, spm_model **out, char *msg, size_t msg_size)
{
    *out = nullptr;
    return guarded(msg, msg_size, SPM_E_FORMAT, [&]() -> int {
        auto m = std::make_unique<spm_model>();
        std::string proto(static_cast<const char *>(data), size);
        auto status = m->proc.LoadFromSerializedProto(proto);
        // The mid-word twin is an optimisation: a model it does not suit
        // (its self-test, say) is tokenized whole instead (spm_splits_at_blanks).
        m->mid_word_ok = status.ok() &&
                         m->mid_word
                             .LoadFromSerializedProto(
                                 proto + std::string(NO_DUMMY_PREFIX, sizeof NO_DUMMY_PREFIX))
                             .ok();
        if (!status.ok()) {
            set_msg(msg, msg_size, status.ToString());
            return SPM_E_FORMAT;
        }
        *out = m.release();
        return SPM_OK;
    });
}

void spm_free(spm_model *model)
{
    delete model;
}

// Packs the pieces into one C buffer so the caller owns a single allocation.
static int pack_pieces(const std::vector<std::string> &v, char **pieces)
{
    size_t total = 0;
    for (const auto &p : v)
        total += p.size() + 1;
    *pieces = nullptr;
    if (total == 0)
        return SPM_OK;
    char *buf = static_cast<char *>(std::malloc(total));
    if (!buf)
        return SPM_E_NOMEM;
    char *at = buf;
    for (const auto &p : v) {
        std::memcpy(at, p.data(), p.size());
        at[p.size()] = '\0';
        at += p.size() + 1;
    }
    *pieces = buf;
    return SPM_OK;
}

int spm_encode(const spm_model *model, const char *text, size_t len, int mid_word, char **pieces,
               size_t *count, char *msg, size_t msg_size)
{
    *pieces = nullptr;
    *count = 0;
    return guarded(msg, msg_size, SPM_E_FAIL, [&]() -> int {
        std::vector<std::string> v;
        const auto &proc = mid_word ? model->mid_word : model->proc;
        auto status = proc.Encode(absl::string_view(text, len), &v);
        if (!status.ok()) {
            set_msg(msg, msg_size, status.ToString());
            return SPM_E_FAIL;
        }
        int rc = pack_pieces(v, pieces);
        if (rc == SPM_OK)
            *count = v.size();
        return rc;
    });
}

int spm_id_to_piece(const spm_model *model, int id, char *dst, size_t size)
{
    try {
        if (id < 0 || id >= model->proc.GetPieceSize())
            return -1;
        const std::string &piece = model->proc.IdToPiece(id);
        snprintf(dst, size, "%s", piece.c_str());
        return 0;
    } catch (...) {
        return -1;
    }
}

int spm_unk_id(const spm_model *model)
{
    try {
        return model->proc.unk_id();
    } catch (...) {
        return -1;
    }
}

int spm_piece_to_id(const spm_model *model, const char *piece, size_t len)
{
    try {
        return model->proc.PieceToId(absl::string_view(piece, len));
    } catch (...) {
        return -1;
    }
}

// The pieces of TEXT; empty when encoding fails.
static std::vector<std::string> pieces_of(const sentencepiece::SentencePieceProcessor &proc,
                                          const char *text)
{
    std::vector<std::string> v;
    if (!proc.Encode(text, &v).ok())
        v.clear();
    return v;
}

static bool starts_with_underline(const std::vector<std::string> &pieces)
{
    return !pieces.empty() && pieces[0].rfind("\xe2\x96\x81", 0) == 0;
}

static bool no_inner_underline(const spm_model *model)
{
    const auto &proc = model->proc;
    for (int i = 0; i < proc.GetPieceSize(); i++)
        if (proc.IdToPiece(i).find("\xe2\x96\x81", 1) != std::string::npos)
            return false;
    return true;
}

int spm_splits_at_blanks(const spm_model *model)
{
    try {
        const auto &proc = model->proc;
        if (!model->mid_word_ok)
            return 0;
        auto a = pieces_of(proc, "a"), b = pieces_of(proc, "b");
        auto ab = a;
        ab.insert(ab.end(), b.begin(), b.end());
        bool mid_plain = !starts_with_underline(pieces_of(model->mid_word, "a"));
        return starts_with_underline(a) && mid_plain && pieces_of(proc, "a b") == ab &&
               pieces_of(proc, "a \t\r\n b") == ab && pieces_of(proc, " \t\r\na \t\r\n") == a &&
               pieces_of(proc, "a\tb") == ab && pieces_of(proc, "a\rb") == ab &&
               pieces_of(proc, "a\nb") == ab &&
               no_inner_underline(model);
    } catch (...) {
        return -1;
    }
}
