/* SPDX-License-Identifier: Apache-2.0 */
/* hub_cache.c - the Hugging Face cache layout shared with the Python
 * huggingface_hub library: models--org--name/{blobs,snapshots,refs,
 * .no_exist}, relative symlinks, bare-commit refs files, flock locks under
 * .locks/ (spec §3). */
#include "hub_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

char *ptm__hub_repo_folder(const char *repo_id)
{
    size_t n = strlen(repo_id);
    char *out = malloc(strlen("models--") + 2 * n + 1);
    if (!out)
        return NULL;
    char *p = out + sprintf(out, "models--");
    for (const char *s = repo_id; *s; s++) {
        if (*s == '/') {
            *p++ = '-';
            *p++ = '-';
        } else
            *p++ = *s;
    }
    *p = '\0';
    return out;
}

char *ptm__hub_read_ref(const char *storage, const char *rev)
{
    if (!ptm__hub_valid_filename(rev))
        return NULL;
    char *p = ptm__asprintf("%s/refs/%s", storage, rev);
    char *text = NULL;
    size_t len = 0;
    if (!p || !ptm__is_file(p) || ptm__read_file(p, &text, &len) != PTM_OK) {
        free(p);
        ptm_clear_error();
        return NULL;
    }
    free(p);
    /* verbatim (Python does not strip), but it must name one folder */
    if (len == 0 || strlen(text) != len || strchr(text, '/') || !strcmp(text, ".") || !strcmp(text, "..")) {
        free(text);
        return NULL;
    }
    return text;
}

ptm_status ptm__hub_write_ref(const char *storage, const char *rev, const char *commit)
{
    if (!ptm__hub_valid_filename(rev))
        return ptm_error(PTM_ERR_INVALID_ARG, "revision \"%s\" cannot be stored as a ref", rev);
    char *old = ptm__hub_read_ref(storage, rev);
    int same = old && !strcmp(old, commit);
    free(old);
    if (same)
        return PTM_OK;
    char *p = ptm__asprintf("%s/refs/%s", storage, rev);
    char *dir = p ? ptm__dirname(p) : NULL;
    ptm_status s = !p || !dir ? ptm_error(PTM_ERR_NOMEM, "out of memory") : ptm__mkdirs(dir, 0777);
    if (!s)
        s = ptm__write_file_atomic(p, commit, strlen(commit));
    free(dir);
    free(p);
    return s;
}

ptm_status ptm__hub_link(const char *storage, const char *commit, const char *filename, const char *etag)
{
    char *ptr = ptm__asprintf("%s/snapshots/%s/%s", storage, commit, filename);
    char *dir = ptr ? ptm__dirname(ptr) : NULL;
    size_t depth = 2;
    for (const char *c = filename; *c; c++)
        depth += *c == '/';
    size_t tl = depth * 3 + strlen("blobs/") + strlen(etag) + 1;
    char *target = malloc(tl);
    ptm_status s = PTM_OK;
    if (!ptr || !dir || !target) {
        s = ptm_error(PTM_ERR_NOMEM, "out of memory");
        goto done;
    }
    target[0] = '\0';
    for (size_t i = 0; i < depth; i++)
        strcat(target, "../");
    strcat(target, "blobs/");
    strcat(target, etag);
    if ((s = ptm__mkdirs(dir, 0777)))
        goto done;
    /* create under a temporary name and rename over the pointer, so a
     * reader never sees it missing */
    char *tmp = ptm__asprintf("%s.%ld.tmplink", ptr, (long)getpid());
    if (!tmp) {
        s = ptm_error(PTM_ERR_NOMEM, "out of memory");
        goto done;
    }
    unlink(tmp);
    if (symlink(target, tmp) != 0 || rename(tmp, ptr) != 0) {
        s = ptm_error(PTM_ERR_IO, "%s: cannot create the link to %s: %s", ptr, target, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
done:
    free(target);
    free(dir);
    free(ptr);
    return s;
}

ptm_status ptm__hub_mark_missing(const char *storage, const char *commit, const char *filename)
{
    char *p = ptm__asprintf("%s/.no_exist/%s/%s", storage, commit, filename);
    char *dir = p ? ptm__dirname(p) : NULL;
    ptm_status s = !p || !dir ? ptm_error(PTM_ERR_NOMEM, "out of memory") : ptm__mkdirs(dir, 0777);
    if (!s) {
        int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
        if (fd < 0)
            s = ptm_error(PTM_ERR_IO, "%s: cannot create: %s", p, strerror(errno));
        else
            close(fd);
    }
    free(dir);
    free(p);
    return s;
}

ptm_status ptm__hub_lock(const char *cache, const char *folder, const char *etag, int *fd_out)
{
    char *dir = ptm__asprintf("%s/.locks/%s", cache, folder);
    char *p = dir ? ptm__asprintf("%s/%s.lock", dir, etag) : NULL;
    ptm_status s = !p ? ptm_error(PTM_ERR_NOMEM, "out of memory") : ptm__mkdirs(dir, 0777);
    if (!s) {
        int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0664);
        if (fd < 0)
            s = ptm_error(PTM_ERR_IO, "%s: cannot open the lock: %s", p, strerror(errno));
        else {
            int r;
            while ((r = flock(fd, LOCK_EX)) != 0 && errno == EINTR) {
            }
            if (r != 0 && errno != ENOSYS && errno != EOPNOTSUPP) {
                s = ptm_error(PTM_ERR_IO, "%s: cannot lock: %s", p, strerror(errno));
                close(fd);
            } else
                *fd_out = fd;
        }
    }
    free(p);
    free(dir);
    return s;
}

void ptm__hub_unlock(int fd)
{
    if (fd >= 0) {
        flock(fd, LOCK_UN);
        close(fd);
    }
}

void ptm__hub_cachedir_tag(const char *cache)
{
    char *p = ptm__path_join(cache, "CACHEDIR.TAG");
    if (p && !ptm__is_file(p)) {
        static const char tag[] = "Signature: 8a477f597d28d172789f06886806bc55\n"
                                  "# This file is a cache directory tag created by a Hugging Face Hub client.\n"
                                  "# For information about cache directory tags see https://bford.info/cachedir/\n";
        if (ptm__write_file_atomic(p, tag, sizeof tag - 1) != PTM_OK)
            ptm_clear_error();
    }
    free(p);
}

int ptm__hub_safe_etag(const char *e)
{
    size_t n = e ? strlen(e) : 0;
    if (n == 0 || n > 128 || e[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = e[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_' ||
              c == '.'))
            return 0;
    }
    return 1;
}
