/* albert_model_locate: a model folder given by its path, or by its name in
 * the Hugging Face hub cache, the folders transformers, sentence-transformers
 * and huggingface-cli download into (huggingface_hub's file_download and
 * constants.py define the layout and where it is):
 *
 *   CACHE/models--ORG--NAME/refs/REVISION     the commit REVISION points at
 *   CACHE/models--ORG--NAME/snapshots/COMMIT/ the files of that commit
 *
 * Nothing is downloaded: users who have run transformers have the files. */
#include "core/common.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PATH_CAP 4096

/* huggingface_hub's rules for a repo id (validate_repo_id): NAME or
 * ORG/NAME, each part of letters, digits, '_', '-' and '.', neither starting
 * nor ending with '-' or '.', no "--" or ".." anywhere, NAME at most 96
 * characters and not ending in ".git". */
static int is_repo_part(const char *s, size_t n)
{
    if (n == 0 || strchr("-.", s[0]) || strchr("-.", s[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!isalnum((unsigned char)s[i]) && !strchr("_-.", s[i]))
            return 0;
        if (i > 0 && (s[i] == '-' || s[i] == '.') && s[i - 1] == s[i])
            return 0;
    }
    return 1;
}

static int is_repo_id(const char *id, size_t n)
{
    const char *slash = memchr(id, '/', n);
    const char *name = slash ? slash + 1 : id;
    size_t name_len = n - (size_t)(name - id);
    if (name_len > 96 || (name_len >= 4 && memcmp(name + name_len - 4, ".git", 4) == 0))
        return 0;
    return is_repo_part(name, name_len) && (!slash || is_repo_part(id, (size_t)(slash - id)));
}

/* A branch, tag or commit: what a ref's file name may be, no ".." */
static int is_revision(const char *rev)
{
    if (!rev[0] || rev[0] == '/' || strstr(rev, ".."))
        return 0;
    for (const char *p = rev; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("_-./", *p))
            return 0;
    return 1;
}

static int is_commit(const char *s)
{
    size_t n = strlen(s);
    if (n != 40)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
            return 0;
    return 1;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* huggingface_hub's HF_HUB_CACHE: $HF_HUB_CACHE, $HUGGINGFACE_HUB_CACHE,
 * $HF_HOME/hub, $XDG_CACHE_HOME/huggingface/hub, ~/.cache/huggingface/hub
 * ('~' at the start expanded, as its expanduser does; a variable set to ""
 * counts as unset).  ALBERT_E_IO when none can be named (no HOME) or the
 * path does not fit. */
static int default_hub_cache(const char *name, char *dst, size_t size, albert_error *err)
{
    const char *v, *sub = "";
    if ((v = albert_env("HF_HUB_CACHE")) || (v = albert_env("HUGGINGFACE_HUB_CACHE")))
        sub = "";
    else if ((v = albert_env("HF_HOME")))
        sub = "/hub";
    else if ((v = albert_env("XDG_CACHE_HOME")))
        sub = "/huggingface/hub";
    else
        v = "~", sub = "/.cache/huggingface/hub";
    const char *home = "";
    if (v[0] == '~' && (v[1] == '/' || !v[1])) {
        if (!(home = albert_env("HOME")))
            return albert_fail(err, ALBERT_E_IO, "%s: no such folder, and no Hugging Face cache "
                               "to look in (neither HF_HUB_CACHE, HF_HOME nor HOME is set)", name);
        v++;
    }
    if (snprintf(dst, size, "%s%s%s", home, v, sub) >= (int)size)
        return albert_fail(err, ALBERT_E_IO, "%s: the Hugging Face cache's path is too long", name);
    return ALBERT_OK;
}

/* The commit REV names in REPO (a models--* folder): refs/REV's content,
 * else REV itself when it is a commit.  *COMMIT gets "" when neither. */
static int read_ref(const char *repo, const char *rev, char *commit, size_t size,
                    albert_error *err)
{
    char path[PATH_CAP];
    commit[0] = '\0';
    if (snprintf(path, sizeof path, "%s/refs/%s", repo, rev) >= (int)sizeof path)
        return albert_fail(err, ALBERT_E_IO, "%s/refs/%s: path too long", repo, rev);
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno != ENOENT && errno != ENOTDIR)
            return albert_fail(err, ALBERT_E_IO, "cannot open %s: %s", path, strerror(errno));
        if (is_commit(rev))
            snprintf(commit, size, "%s", rev);
        return albert_ok(err);
    }
    char line[128] = "";
    size_t n = fread(line, 1, sizeof line - 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad)
        return albert_fail(err, ALBERT_E_IO, "cannot read %s", path);
    line[n] = '\0';
    while (n > 0 && isspace((unsigned char)line[n - 1]))
        line[--n] = '\0';
    if (!is_commit(line))
        return albert_fail(err, ALBERT_E_FORMAT, "%s: not a commit hash (40 hex digits)", path);
    snprintf(commit, size, "%s", line);
    return albert_ok(err);
}

/* NAME (N bytes of the repo id) at REV in the hub cache CACHE into DIR. */
static int find_snapshot(const char *cache, const char *name, size_t n, const char *rev,
                         char *dir, size_t size, albert_error *err)
{
    char repo[PATH_CAP];
    size_t len = (size_t)snprintf(repo, sizeof repo, "%s/models--", cache);
    for (size_t i = 0; i < n && len + 3 < sizeof repo; i++)
        len += (size_t)(name[i] == '/' ? snprintf(repo + len, sizeof repo - len, "--")
                                       : snprintf(repo + len, sizeof repo - len, "%c", name[i]));
    if (len + 3 >= sizeof repo)
        return albert_fail(err, ALBERT_E_IO, "%s: the path of its folder in %s is too long", name,
                           cache);
    if (!is_dir(repo))
        return albert_fail(err, ALBERT_E_IO,
                           "%s: no such folder, and the Hugging Face cache has no %.*s (no %s; "
                           "download it: huggingface-cli download %.*s)",
                           name, (int)n, name, repo, (int)n, name);
    char commit[64];
    int rc = read_ref(repo, rev, commit, sizeof commit, err);
    if (rc != ALBERT_OK)
        return rc;
    if (!commit[0])
        return albert_fail(err, ALBERT_E_IO,
                           "%s: the Hugging Face cache's %s has no revision %s (no refs/%s, "
                           "and it is not a commit)", name, repo, rev, rev);
    char snap[PATH_CAP];
    if (snprintf(snap, sizeof snap, "%s/snapshots/%s", repo, commit) >= (int)sizeof snap ||
        !is_dir(snap))
        return albert_fail(err, ALBERT_E_FORMAT,
                           "%s: %s: no such folder, though a ref names it (an interrupted "
                           "download?)", name, snap);
    if ((size_t)snprintf(dir, size, "%s", snap) >= size)
        return albert_fail(err, ALBERT_E_ARG, "albert_model_locate: %s does not fit in %zu bytes",
                           snap, size);
    return albert_ok(err);
}

static int locate(const char *name, const char *hub_cache, char *dir, size_t size,
                  albert_error *err)
{
    struct stat st;
    if (stat(name, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return albert_fail(err, ALBERT_E_IO, "%s: not a folder (a model is a folder: "
                               "config.json, the weights, the tokenizer)", name);
        if ((size_t)snprintf(dir, size, "%s", name) >= size)
            return albert_fail(err, ALBERT_E_ARG,
                               "albert_model_locate: %s does not fit in %zu bytes", name, size);
        return albert_ok(err);
    }
    const char *at = strchr(name, '@');
    size_t n = at ? (size_t)(at - name) : strlen(name);
    if (!is_repo_id(name, n) || (at && !is_revision(at + 1)))
        return albert_fail(err, ALBERT_E_IO, "%s: no such folder (nor a Hugging Face model "
                           "name: ORG/NAME[@REVISION])", name);
    char cache[PATH_CAP];
    int rc = ALBERT_OK;
    if (hub_cache && hub_cache[0]) {
        if (snprintf(cache, sizeof cache, "%s", hub_cache) >= (int)sizeof cache)
            return albert_fail(err, ALBERT_E_IO, "%s: the path is too long", hub_cache);
    } else if ((rc = default_hub_cache(name, cache, sizeof cache, err)) != ALBERT_OK) {
        return rc;
    }
    return find_snapshot(cache, name, n, at ? at + 1 : "main", dir, size, err);
}

int albert_model_locate(const char *name, const char *hub_cache, char *dir, size_t size,
                        albert_error *err)
{
    if (!name || !dir || size == 0)
        return albert_fail(err, ALBERT_E_ARG, "albert_model_locate: NULL name or no room for dir");
    int rc = locate(name, hub_cache, dir, size, err);
    if (rc != ALBERT_OK)
        dir[0] = '\0';
    return rc;
}
