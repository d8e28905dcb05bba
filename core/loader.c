/* SPDX-License-Identifier: Apache-2.0 */
/* loader.c - the shared-object side of plugin loading: libltdl (every call
 * under one process-wide mutex), search-path expansion (directory scans in
 * strcmp order), the install directory next to the loaded libptm, and the
 * descriptor checks.  The registry (registry.c) decides what to do with
 * what is opened here. */
#define _GNU_SOURCE /* dladdr */
#include "internal.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <ltdl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* One lock for every libltdl call in the process: libltdl keeps global
 * state (its handle list, its error slot) and is not thread-safe. */
static pthread_mutex_t dl_mu = PTHREAD_MUTEX_INITIALIZER;
/* libltdl is initialised once and never shut down: admitted plugins stay
 * resident for the life of the process (see ptm__dl_keep), and lt_dlexit
 * would drop its records of them while they are still mapped. */
static int dl_ready;

ptm_status ptm__dl_acquire(void)
{
    ptm_status s = PTM_OK;
    pthread_mutex_lock(&dl_mu);
    if (!dl_ready) {
        if (lt_dlinit() != 0) {
            const char *e = lt_dlerror();
            s = ptm_error(PTM_ERR_PLUGIN, "cannot initialise libltdl: %s", e ? e : "unknown error");
        } else {
            dl_ready = 1;
        }
    }
    pthread_mutex_unlock(&dl_mu);
    return s;
}

/* Copy libltdl's error text (call with dl_mu held). */
static char *dl_error_copy(const char *fallback)
{
    const char *e = lt_dlerror();
    return ptm__strdup(e && *e ? e : fallback);
}

/* Why lt_dlopenadvise failed (call with dl_mu held).  libltdl often keeps
 * only "file not found" after trying its loaders in turn, so when the file
 * exists the system loader is asked again for its own message ("invalid
 * ELF header", a missing dependency, ...). */
static char *open_error(const char *path)
{
    const char *e = lt_dlerror();
    char *ltdl = ptm__strdup(e && *e ? e : "cannot open the shared object");
    if (!ltdl || !ptm__is_file(path))
        return ltdl;
    (void)dlerror();
    void *h = dlopen(path, RTLD_LAZY | RTLD_LOCAL);
    const char *sys = h ? NULL : dlerror();
    if (h)
        dlclose(h);
    if (!sys || !*sys)
        return ltdl;
    char *both = ptm__asprintf("%s (libltdl: %s)", sys, ltdl);
    if (!both)
        return ltdl;
    free(ltdl);
    return both;
}

ptm_load_outcome ptm__dl_open(const char *path, void **handle, ptm_plugin_entry_fn *entry, char **reason)
{
    *handle = NULL;
    *entry = NULL;
    *reason = NULL;
    ptm_load_outcome out = PTM_LOAD_OK;
    char *dotted = NULL;
    if (!strchr(path, '/')) { /* a bare name: keep dlopen from searching library paths */
        if (!(dotted = ptm__asprintf("./%s", path)))
            return PTM_LOAD_OPEN_FAILED;
        path = dotted;
    }

    pthread_mutex_lock(&dl_mu);
    (void)lt_dlerror(); /* drop a stale message */
    lt_dladvise adv;
    lt_dlhandle h = NULL;
    if (lt_dladvise_init(&adv) != 0) {
        *reason = dl_error_copy("cannot create libltdl advice");
        pthread_mutex_unlock(&dl_mu);
        free(dotted);
        return PTM_LOAD_OPEN_FAILED;
    }
    if (lt_dladvise_ext(&adv) == 0 && lt_dladvise_local(&adv) == 0)
        h = lt_dlopenadvise(path, adv);
    if (!h) {
        *reason = open_error(path);
        out = PTM_LOAD_OPEN_FAILED;
    }
    lt_dladvise_destroy(&adv);

    if (h) {
        (void)lt_dlerror();
        void *sym = lt_dlsym(h, PTM_PLUGIN_ENTRY_SYMBOL);
        if (!sym) {
            const char *e = lt_dlerror();
            *reason = ptm__asprintf("no symbol \"%s\"%s%s", PTM_PLUGIN_ENTRY_SYMBOL, e && *e ? ": " : "",
                                    e && *e ? e : "");
            lt_dlclose(h);
            out = PTM_LOAD_NO_ENTRY;
        } else {
            *handle = h;
            *entry = (ptm_plugin_entry_fn)(uintptr_t)sym;
        }
    }
    pthread_mutex_unlock(&dl_mu);
    free(dotted);
    return out;
}

void ptm__dl_keep(void *handle)
{
    if (!handle)
        return;
    pthread_mutex_lock(&dl_mu);
    lt_dlmakeresident((lt_dlhandle)handle);
    pthread_mutex_unlock(&dl_mu);
}

void ptm__dl_close(void *handle)
{
    if (!handle)
        return;
    pthread_mutex_lock(&dl_mu);
    lt_dlclose((lt_dlhandle)handle);
    pthread_mutex_unlock(&dl_mu);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int has_so_suffix(const char *name)
{
    size_t n = strlen(name);
    return n > 3 && strcmp(name + n - 3, ".so") == 0;
}

static ptm_status list_plugin_files(const char *dir, char ***paths, size_t *count)
{
    *paths = NULL;
    *count = 0;
    DIR *d = opendir(dir);
    if (!d)
        return ptm_error(errno == ENOENT ? PTM_ERR_NOT_FOUND : PTM_ERR_IO, "cannot open directory: %s",
                         strerror(errno));
    char **v = NULL;
    size_t n = 0, cap = 0;
    ptm_status s = PTM_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!has_so_suffix(e->d_name))
            continue;
        char *full = ptm__path_join(dir, e->d_name);
        if (!full) {
            s = ptm_error(PTM_ERR_NOMEM, "out of memory");
            break;
        }
        if (!ptm__is_file(full)) { /* follows symlinks; skips dirs, fifos, dangling links */
            free(full);
            continue;
        }
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            char **nv = realloc(v, nc * sizeof *nv);
            if (!nv) {
                free(full);
                s = ptm_error(PTM_ERR_NOMEM, "out of memory");
                break;
            }
            v = nv;
            cap = nc;
        }
        v[n++] = full;
    }
    closedir(d);
    if (s != PTM_OK) {
        ptm__free_strv(v, n);
        return s;
    }
    if (n > 1)
        qsort(v, n, sizeof *v, cmp_str);
    *paths = v;
    *count = n;
    return PTM_OK;
}

/* The directory of the object holding this function (libptm.so), via
 * dladdr; NULL if it cannot be told. */
static char *dir_of_self(void)
{
    Dl_info info;
    memset(&info, 0, sizeof info);
    if (!dladdr((const void *)(uintptr_t)&dir_of_self, &info) || !info.dli_fname || !*info.dli_fname)
        return NULL;
    const char *slash = strrchr(info.dli_fname, '/');
    if (!slash)
        return ptm__strdup(".");
    if (slash == info.dli_fname)
        return ptm__strdup("/");
    size_t n = (size_t)(slash - info.dli_fname);
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, info.dli_fname, n);
        d[n] = '\0';
    }
    return d;
}

static int same_dir(const char *a, const char *b)
{
    if (strcmp(a, b) == 0)
        return 1;
    char ra[PATH_MAX], rb[PATH_MAX];
    if (realpath(a, ra) && realpath(b, rb))
        return strcmp(ra, rb) == 0;
    return 0;
}

ptm_status ptm__install_plugin_dirs(char ***dirs, size_t *count)
{
    *dirs = NULL;
    *count = 0;
    char **v = calloc(2, sizeof *v);
    if (!v)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    size_t n = 0;
    char *self = dir_of_self();
    if (self) {
        v[n] = ptm__path_join(self, "ptm/plugins");
        free(self);
        if (!v[n]) {
            free(v);
            return ptm_error(PTM_ERR_NOMEM, "out of memory");
        }
        n++;
    }
#ifdef PTM_INSTALL_PLUGIN_DIR
    if (n == 0 || !same_dir(v[0], PTM_INSTALL_PLUGIN_DIR)) {
        v[n] = ptm__strdup(PTM_INSTALL_PLUGIN_DIR);
        if (!v[n]) {
            ptm__free_strv(v, n);
            return ptm_error(PTM_ERR_NOMEM, "out of memory");
        }
        n++;
    }
#else
    (void)same_dir;
#endif
    *dirs = v;
    *count = n;
    return PTM_OK;
}

ptm_status ptm__expand_search_path(const char *entry, char ***files, size_t *count, char **missing)
{
    *files = NULL;
    *count = 0;
    *missing = NULL;
    struct stat st;
    int is_dir = 0, load_as_is = 0;
    if (stat(entry, &st) == 0) {
        is_dir = S_ISDIR(st.st_mode);
        load_as_is = !is_dir;
    } else {
        int err = errno;
        char *with_ext = ptm__asprintf("%s.so", entry);
        if (!with_ext)
            return ptm_error(PTM_ERR_NOMEM, "out of memory");
        load_as_is = ptm__is_file(with_ext); /* libltdl's ext advice finds it */
        free(with_ext);
        if (!load_as_is) {
            *missing = ptm__asprintf("search path does not exist: %s", strerror(err));
            return *missing ? PTM_OK : ptm_error(PTM_ERR_NOMEM, "out of memory");
        }
    }
    if (load_as_is) {
        char **v = malloc(sizeof *v);
        if (!v || !(v[0] = ptm__strdup(entry))) {
            free(v);
            return ptm_error(PTM_ERR_NOMEM, "out of memory");
        }
        *files = v;
        *count = 1;
        return PTM_OK;
    }
    ptm_status s = list_plugin_files(entry, files, count);
    if (s == PTM_ERR_NOMEM)
        return s;
    if (s != PTM_OK) {
        *missing = ptm__strdup(ptm_last_error());
        return *missing ? PTM_OK : ptm_error(PTM_ERR_NOMEM, "out of memory");
    }
    return PTM_OK;
}

ptm_status ptm__split_path_list(const char *list, char ***items, size_t *count)
{
    *items = NULL;
    *count = 0;
    size_t cap = 1;
    for (const char *p = list; *p; p++)
        cap += *p == ':';
    char **v = calloc(cap, sizeof *v);
    if (!v)
        return ptm_error(PTM_ERR_NOMEM, "out of memory");
    size_t n = 0;
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ':');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len) {
            if (!(v[n] = malloc(len + 1))) {
                ptm__free_strv(v, n);
                return ptm_error(PTM_ERR_NOMEM, "out of memory");
            }
            memcpy(v[n], p, len);
            v[n++][len] = '\0';
        }
        p += len;
        if (*p == ':')
            p++;
    }
    *items = v;
    *count = n;
    return PTM_OK;
}

ptm_status ptm__read_head(const char *path, uint8_t *buf, size_t cap, size_t *got)
{
    *got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ptm_error(errno == ENOENT ? PTM_ERR_NOT_FOUND : PTM_ERR_IO, "%s: cannot open: %s", path,
                         strerror(errno));
    while (*got < cap) {
        ssize_t r = read(fd, buf + *got, cap - *got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            ptm_status s = ptm_error(PTM_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
            close(fd);
            return s;
        }
        if (r == 0)
            break;
        *got += (size_t)r;
    }
    close(fd);
    return PTM_OK;
}

/* ------------------------------------------------------------ descriptors */

#define END_OF(type, member) (offsetof(type, member) + sizeof(((type *)0)->member))

ptm_load_outcome ptm__check_descriptor(const ptm_plugin *d, char **reason)
{
    *reason = NULL;
    if (!d) {
        *reason = ptm__strdup(PTM_PLUGIN_ENTRY_SYMBOL "() returned NULL");
        return PTM_LOAD_BAD_DESCRIPTOR;
    }
    if (d->struct_size < END_OF(ptm_plugin, abi_minor)) {
        *reason = ptm__asprintf("descriptor struct_size %zu is too small to hold the ABI version", d->struct_size);
        return PTM_LOAD_BAD_DESCRIPTOR;
    }
    if (d->abi_major != PTM_ABI_MAJOR) {
        *reason = ptm__asprintf("plugin ABI %u.%u, core ABI %u.%u: the major versions differ", (unsigned)d->abi_major,
                                (unsigned)d->abi_minor, (unsigned)PTM_ABI_MAJOR, (unsigned)PTM_ABI_MINOR);
        return PTM_LOAD_ABI_MAJOR;
    }
    if (d->abi_minor > PTM_ABI_MINOR) {
        *reason = ptm__asprintf("plugin ABI %u.%u is newer than the core's ABI %u.%u", (unsigned)d->abi_major,
                                (unsigned)d->abi_minor, (unsigned)PTM_ABI_MAJOR, (unsigned)PTM_ABI_MINOR);
        return PTM_LOAD_ABI_TOO_NEW;
    }
    if (d->struct_size < END_OF(ptm_plugin, register_components)) {
        *reason = ptm__asprintf("descriptor struct_size %zu is smaller than the %zu bytes ABI %u.0 requires",
                                d->struct_size, END_OF(ptm_plugin, register_components), (unsigned)PTM_ABI_MAJOR);
        return PTM_LOAD_BAD_DESCRIPTOR;
    }
    if (!d->name || !d->name[0]) {
        *reason = ptm__strdup("descriptor has no name");
        return PTM_LOAD_BAD_DESCRIPTOR;
    }
    if (!d->register_components) {
        *reason = ptm__strdup("descriptor has no register_components function");
        return PTM_LOAD_BAD_DESCRIPTOR;
    }
    return PTM_LOAD_OK;
}

const char *ptm__descriptor_name(const ptm_plugin *d)
{
    if (d && d->struct_size >= END_OF(ptm_plugin, name) && d->abi_major == PTM_ABI_MAJOR)
        return d->name;
    return NULL;
}

const char *ptm_load_outcome_str(ptm_load_outcome o)
{
    switch (o) {
    case PTM_LOAD_OK: return "ok";
    case PTM_LOAD_NO_ENTRY: return "no entry symbol";
    case PTM_LOAD_BAD_DESCRIPTOR: return "bad descriptor";
    case PTM_LOAD_ABI_MAJOR: return "ABI major mismatch";
    case PTM_LOAD_ABI_TOO_NEW: return "ABI too new";
    case PTM_LOAD_SHADOWED: return "shadowed";
    case PTM_LOAD_OPEN_FAILED: return "open failed";
    case PTM_LOAD_INIT_FAILED: return "init failed";
    case PTM_LOAD_DIR_MISSING: return "missing";
    case PTM_LOAD_DUPLICATE_PLUGIN: return "duplicate plugin";
    }
    return "unknown outcome";
}

const char *ptm_component_kind_str(ptm_component_kind k)
{
    switch (k) {
    case PTM_KIND_NONE: return "none";
    case PTM_KIND_ARCH: return "arch";
    case PTM_KIND_FORMAT: return "format";
    case PTM_KIND_BACKEND: return "backend";
    }
    return "unknown";
}

