#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# install_test.sh - the "install_sdk" test (added by tests/install.cmake).
#
# 1. `cmake --install` the build tree into a temporary prefix;
# 2. check the installed tree: every public header, libptm.so.0 (SONAME), the
#    safetensors plugin in <libdir>/ptm/plugins, ptm.pc, ptmConfig.cmake, an
#    RPATH that finds libptm, and no test-only plugin (tiny.so, ptmtest_*);
# 3. build sdk/examples/hello_arch (CMake find_package, and its Makefile with
#    pkg-config) and sdk/examples/host against that prefix only;
# 4. run the installed `ptm plugins -v` (hello found through PTM_PLUGIN_PATH,
#    safetensors found with no env var), write a "hello" model folder with
#    Python (safetensors written by hand), and check the parameter counts that
#    `ptm info --json` and the host print against the counts Python computed
#    from the shapes it wrote.
#
# Exit 0 on success, 77 (skipped) when a prerequisite is missing, 1 on failure.
set -euo pipefail

build_dir='' source_dir='' work='' python=/usr/bin/python3 cc=cc cflags='' generator='' make_program='' config=''
for arg in "$@"; do
    case $arg in
    --build-dir=*) build_dir=${arg#*=} ;;
    --source-dir=*) source_dir=${arg#*=} ;;
    --work-dir=*) work=${arg#*=} ;;
    --python=*) python=${arg#*=} ;;
    --cc=*) cc=${arg#*=} ;;
    --cflags=*) cflags=${arg#*=} ;;
    --generator=*) generator=${arg#*=} ;;
    --make-program=*) make_program=${arg#*=} ;;
    --config=*) config=${arg#*=} ;;
    *) echo "install_test.sh: unknown argument $arg" >&2; exit 2 ;;
    esac
done
if [ -z "$build_dir" ] || [ -z "$source_dir" ] || [ -z "$work" ]; then
    echo "usage: install_test.sh --build-dir=DIR --source-dir=DIR --work-dir=DIR [--python=PY] [--cc=CC]" \
        "[--cflags=FLAGS] [--generator=G] [--make-program=P] [--config=C]" >&2
    exit 2
fi

failures=0
step() { printf '\n== %s\n' "$*"; }
ok() { printf 'ok: %s\n' "$*"; }
fail() {
    printf 'FAIL: %s\n' "$*"
    failures=$((failures + 1))
}
die() {
    printf 'FAIL: %s\n' "$*"
    exit 1
}
skip() {
    printf 'SKIP: %s\n' "$*"
    exit 77
}
# Run a command, its output into a log file; print the log when it fails.
run_logged() {
    local log=$1
    shift
    if ! "$@" >"$log" 2>&1; then
        cat "$log"
        return 1
    fi
}
# The same, stdout and stderr into separate files (for JSON output).
run_split() {
    local out=$1 err=$2
    shift 2
    if ! "$@" >"$out" 2>"$err"; then
        cat "$out" "$err"
        return 1
    fi
}
canon() { readlink -f -- "$1"; }

for tool in cmake pkg-config make "$cc"; do
    command -v "$tool" >/dev/null 2>&1 || skip "$tool not found"
done
[ -x "$python" ] || skip "$python not found"
"$python" -c 'import numpy' 2>/dev/null || skip "$python has no numpy"
if command -v readelf >/dev/null 2>&1; then
    dyn() { readelf -d "$1"; }
elif command -v objdump >/dev/null 2>&1; then
    dyn() { objdump -p "$1"; }
else
    skip "neither readelf nor objdump found"
fi

# Only the prefix may provide ptm: no inherited search paths.
unset LD_LIBRARY_PATH PTM_PLUGIN_PATH CMAKE_PREFIX_PATH PKG_CONFIG_PATH PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR \
    CMAKE_GENERATOR CMAKE_BUILD_TYPE CFLAGS LDFLAGS || true
export CC=$cc

rm -rf "$work"
mkdir -p "$work"
work=$(canon "$work")
prefix=$work/prefix

# --------------------------------------------------------------- install
step "cmake --install $build_dir --prefix $prefix"
install_args=(--install "$build_dir" --prefix "$prefix")
[ -n "$config" ] && install_args+=(--config "$config")
run_logged "$work/install.log" cmake "${install_args[@]}" || die "cmake --install failed"
ok "installed"

# The library folder is CMAKE_INSTALL_LIBDIR of the build (lib, lib64 or
# lib/<multiarch>): locate it by its contents.
lib_so=$(find "$prefix" -name 'libptm.so.0' \( -type l -o -type f \) | head -n 1)
[ -n "$lib_so" ] || die "no libptm.so.0 under $prefix"
libdir=$(dirname "$lib_so")
ok "libdir is ${libdir#"$prefix"/}"

step "installed tree"
ptm_h=$(find "$prefix" -path '*/include/ptm/ptm.h' | head -n 1)
[ -n "$ptm_h" ] || die "no include/ptm/ptm.h under $prefix"
incdir=$(dirname "$(dirname "$ptm_h")")
for h in "$source_dir"/sdk/include/ptm/*.h; do
    name=$(basename "$h")
    if [ ! -f "$incdir/ptm/$name" ]; then
        fail "header ptm/$name not installed"
    elif ! cmp -s "$h" "$incdir/ptm/$name"; then
        fail "installed ptm/$name differs from sdk/include/ptm/$name"
    fi
done
ok "headers: $(cd "$incdir/ptm" && echo *.h)"

# readelf: "(SONAME)  Library soname: [libptm.so.0]"; objdump: "SONAME  libptm.so.0".
soname=$(dyn "$lib_so" | awk '/SONAME/ {s = $NF; gsub(/[][]/, "", s); print s; exit}')
[ "$soname" = "libptm.so.0" ] && ok "SONAME $soname" || fail "SONAME of $lib_so is '$soname', want libptm.so.0"
[ -e "$libdir/libptm.so" ] && ok "libptm.so (link-time name) present" || fail "$libdir/libptm.so missing"

plugindir=$libdir/ptm/plugins
[ -f "$plugindir/safetensors.so" ] && ok "ptm/plugins/safetensors.so" || fail "$plugindir/safetensors.so missing"
pcfile=$libdir/pkgconfig/ptm.pc
[ -f "$pcfile" ] && ok "pkgconfig/ptm.pc" || fail "$pcfile missing"
cmakedir=$libdir/cmake/ptm
for f in ptmConfig.cmake ptmConfigVersion.cmake ptmTargets.cmake; do
    [ -f "$cmakedir/$f" ] || fail "$cmakedir/$f missing"
done
ok "cmake/ptm/ptmConfig.cmake"

test_only=$(find "$prefix" \( -name 'tiny.so' -o -name 'ptmtest_*' -o -name 'notaplugin*' -o -name 'test_*' \) -print)
[ -z "$test_only" ] && ok "no test-only files installed" || fail "test-only files installed: $test_only"

ptm=$prefix/bin/ptm
[ -x "$ptm" ] || die "$ptm missing"
rpath=$(dyn "$ptm" | sed -n 's/.*\(RPATH\|RUNPATH\)[^[]*\[\(.*\)\].*/\2/p')
case $rpath in
*'$ORIGIN'*) ok "bin/ptm RUNPATH $rpath" ;;
*) fail "bin/ptm has no \$ORIGIN-relative RPATH/RUNPATH (got '$rpath'); set CMAKE_INSTALL_RPATH to \$ORIGIN/../<libdir>" ;;
esac
if command -v ldd >/dev/null 2>&1; then
    resolved=$(ldd "$ptm" | sed -n 's/^[[:space:]]*libptm\.so\.0 => \([^ ]*\).*/\1/p')
    if [ -n "$resolved" ] && [ "$(canon "$resolved")" = "$(canon "$lib_so")" ]; then
        ok "bin/ptm resolves libptm.so.0 to the installed one"
    else
        fail "bin/ptm resolves libptm.so.0 to '${resolved:-not found}', not $lib_so"
    fi
    resolved=$(ldd "$plugindir/safetensors.so" | sed -n 's/^[[:space:]]*libptm\.so\.0 => \([^(]*\).*/\1/p')
    resolved=${resolved% }
    if [ -z "$resolved" ] || [ "$(canon "$resolved")" != "$(canon "$lib_so")" ]; then
        # Harmless when the plugin is loaded by libptm (already in memory).
        echo "note: safetensors.so alone resolves libptm.so.0 to '${resolved:-not found}'" \
            "(its RUNPATH is $(dyn "$plugindir/safetensors.so" | sed -n 's/.*RUNPATH[^[]*\[\(.*\)\].*/\1/p'))"
    fi
fi

# ------------------------------------------- installed ptm finds its plugins
step "installed ptm plugins -v (no LD_LIBRARY_PATH, no PTM_PLUGIN_PATH)"
run_logged "$work/plugins-plain.log" env -u LD_LIBRARY_PATH -u PTM_PLUGIN_PATH "$ptm" plugins -v ||
    die "installed ptm does not run without LD_LIBRARY_PATH"
cat "$work/plugins-plain.log"
st_path=$(awk '/^formats:/ {f = 1; next} /^[a-z]/ {f = 0} f && $1 == "safetensors" {print $NF; exit}' \
    "$work/plugins-plain.log")
if [ -n "$st_path" ] && [ "$(canon "$st_path")" = "$(canon "$plugindir/safetensors.so")" ]; then
    ok "safetensors found in the installed <libdir>/ptm/plugins"
else
    fail "installed ptm did not load $plugindir/safetensors.so (listed: '${st_path:-none}')"
fi
grep -q 'tiny' "$work/plugins-plain.log" && fail "installed ptm sees the test plugin tiny"

# ------------------------------------------------------- build the examples
cmake_flags=(-DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
    -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF -DCMAKE_EXPORT_COMPILE_COMMANDS=ON)
[ -n "$generator" ] && cmake_flags+=(-G "$generator")
[ -n "$make_program" ] && cmake_flags+=(-DCMAKE_MAKE_PROGRAM="$make_program")
[ -n "$cflags" ] && cmake_flags+=(-DCMAKE_C_FLAGS="$cflags")

# Configure and build example $1 into $2; check it used the prefix only.
build_example() {
    local src=$source_dir/sdk/examples/$1 bdir=$2
    run_logged "$bdir.configure.log" cmake -S "$src" -B "$bdir" "${cmake_flags[@]}" ||
        { fail "configuring sdk/examples/$1"; return 1; }
    local ptm_dir
    ptm_dir=$(sed -n 's/^ptm_DIR:PATH=//p' "$bdir/CMakeCache.txt")
    if [ "$(canon "$ptm_dir")" != "$(canon "$cmakedir")" ]; then
        fail "sdk/examples/$1 found ptm in '$ptm_dir', not $cmakedir"
        return 1
    fi
    run_logged "$bdir.build.log" cmake --build "$bdir" || { fail "building sdk/examples/$1"; return 1; }
    if grep -q "$source_dir/sdk/include" "$bdir/compile_commands.json"; then
        fail "sdk/examples/$1 compiled against the source tree's headers"
        return 1
    fi
    ok "sdk/examples/$1 built with find_package(ptm) from $ptm_dir"
}

# A plugin exports ptm_plugin_entry and nothing else.
check_exports() {
    local syms
    syms=$(nm -D --defined-only "$1" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | grep -v '^_' | sort | tr '\n' ' ')
    if [ "$syms" = "ptm_plugin_entry " ]; then
        ok "$(basename "$1") exports only ptm_plugin_entry"
    else
        fail "$1 exports: $syms (want only ptm_plugin_entry)"
    fi
}

step "build sdk/examples/hello_arch with CMake"
hello_cmake=
if build_example hello_arch "$work/build-hello"; then
    hello_cmake=$work/build-hello/hello.so
    [ -f "$hello_cmake" ] || fail "no hello.so in $work/build-hello"
    command -v nm >/dev/null 2>&1 && check_exports "$hello_cmake"
fi

step "build sdk/examples/hello_arch with its Makefile and pkg-config"
export PKG_CONFIG_PATH=$libdir/pkgconfig
pc_inc=$(pkg-config --variable=includedir ptm || true)
pc_lib=$(pkg-config --variable=libdir ptm || true)
pkgconfig=pkg-config
if [ "$(canon "$pc_inc" 2>/dev/null || true)" = "$(canon "$incdir")" ] &&
    [ "$(canon "$pc_lib" 2>/dev/null || true)" = "$(canon "$libdir")" ]; then
    ok "ptm.pc points into the prefix (includedir $pc_inc, libdir $pc_lib)"
    pc_plugins=$(pkg-config --variable=plugindir ptm)
    [ "$(canon "$pc_plugins")" = "$(canon "$plugindir")" ] ||
        fail "ptm.pc plugindir is '$pc_plugins', not $plugindir"
elif grep -q 'ptmPkgConfig' "$source_dir/CMakeLists.txt"; then
    fail "ptm.pc names includedir '$pc_inc' and libdir '$pc_lib', not the prefix it was installed to"
else
    # A ptm.pc written at configure time names CMAKE_INSTALL_PREFIX, not the
    # --prefix given to `cmake --install`; sdk/cmake/ptmPkgConfig.cmake
    # writes it at install time instead.
    echo "note: ptm.pc names the configure-time prefix (includedir '$pc_inc', libdir '$pc_lib');" \
        "building with --define-variable (include sdk/cmake/ptmPkgConfig.cmake from CMakeLists.txt to fix)"
    pkgconfig="pkg-config --define-variable=includedir=$incdir --define-variable=libdir=$libdir"
fi
make_dir=$work/make-hello
mkdir -p "$make_dir"
cp "$source_dir/sdk/examples/hello_arch/hello.c" "$source_dir/sdk/examples/hello_arch/Makefile" "$make_dir/"
hello_make=
if run_logged "$work/make-hello.log" make -C "$make_dir" CC="$cc" CFLAGS="-O2 -g $cflags" PKG_CONFIG="$pkgconfig"; then
    hello_make=$make_dir/hello.so
    if grep -q "$source_dir/sdk/include" "$work/make-hello.log"; then
        fail "the Makefile build used the source tree's headers"
    fi
    ok "sdk/examples/hello_arch built with make: $(grep -- ' -shared ' "$work/make-hello.log" | head -n 1)"
    command -v nm >/dev/null 2>&1 && check_exports "$hello_make"
else
    fail "building sdk/examples/hello_arch with make"
fi

step "build sdk/examples/host with CMake"
host=
if build_example host "$work/build-host"; then
    host=$work/build-host/host
    [ -x "$host" ] || { fail "no host executable in $work/build-host"; host=; }
fi

# ---------------------------------------------------- the hello plugin loads
for hello_so in $hello_cmake $hello_make; do
    step "installed ptm plugins -v with PTM_PLUGIN_PATH=$hello_so"
    log=$work/plugins-hello.log
    if ! run_logged "$log" env PTM_PLUGIN_PATH="$hello_so" "$ptm" plugins -v; then
        fail "ptm plugins -v with the hello plugin"
        continue
    fi
    cat "$log"
    archs=$(awk '/^architectures:/ {f = 1; next} /^[a-z]/ {f = 0} f' "$log")
    for name in hello HelloModel HelloForMaskedLM; do
        listed=$(printf '%s\n' "$archs" | awk -v n="$name" '$1 == n && $2 == "hello" {print $NF; exit}')
        if [ -n "$listed" ] && [ "$(canon "$listed")" = "$(canon "$hello_so")" ]; then
            ok "architecture $name from $(basename "$hello_so")"
        else
            fail "architecture $name not listed as coming from $hello_so"
        fi
    done
    grep -q '^  ok .*safetensors' "$log" || fail "safetensors not loaded beside the hello plugin"
done

# ----------------------------------------------------- a hello model folder
step "write a hello model folder with $python"
model=$work/hello-model
expect=$work/expected.json
"$python" - "$model" >"$expect" <<'PY' || die "writing the model folder"
# Writes config.json and model.safetensors for HelloForMaskedLM by hand:
# 8-byte little-endian header length, compact JSON header (padded with spaces
# to a multiple of 8, as the safetensors library does), raw little-endian data.
# Prints the parameter counts computed from the shapes written.
import json, os, struct, sys
import numpy as np

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
V, H = 48, 16
rng = np.random.default_rng(1234)
f32 = np.dtype("<f4")
tensors = {
    # A head-model checkpoint: names under base_model_prefix "hello"; the tied
    # lm_head.weight is not stored (transformers drops tied copies).
    "hello.embeddings.word_embeddings.weight": rng.standard_normal((V, H)).astype(f32),
    "hello.dense.weight": rng.standard_normal((H, H)).astype(f32),
    "hello.dense.bias": rng.standard_normal((H,)).astype(f32),
    "hello.LayerNorm.weight": np.ones((H,), f32),
    "hello.LayerNorm.bias": np.zeros((H,), f32),
    "lm_head.bias": rng.standard_normal((V,)).astype(f32),
}
header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
for name, a in tensors.items():
    b = a.tobytes()
    header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
    blobs.append(b)
    off += len(b)
hj = json.dumps(header, separators=(",", ":")).encode()
hj += b" " * (-len(hj) % 8)
with open(os.path.join(out, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(hj)))
    f.write(hj)
    for b in blobs:
        f.write(b)
config = {
    "architectures": ["HelloForMaskedLM"],
    "model_type": "hello",
    "vocab_size": V,
    "hidden_size": H,
    "layer_norm_eps": 1e-12,
    "tie_word_embeddings": True,
    "torch_dtype": "float32",
}
with open(os.path.join(out, "config.json"), "w") as f:
    json.dump(config, f, indent=2)
numel = {k: int(np.prod(v.shape)) for k, v in tensors.items()}
total = sum(numel.values())  # the tied lm_head.weight counts once (as the embedding)
print(json.dumps({
    "num_parameters": total,
    "num_parameters_non_embedding": total - numel["hello.embeddings.word_embeddings.weight"],
    "base_num_parameters": total - numel["lm_head.bias"],  # HelloModel has no lm_head
}))
PY
cat "$expect"
want() { "$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$expect" "$1"; }
want_total=$(want num_parameters)
want_nonemb=$(want num_parameters_non_embedding)
want_base=$(want base_num_parameters)

# ptm info --json; check keys against the expected values.
check_info() {
    local json=$1 cls=$2 total=$3 nonemb=$4 unexpected=$5
    "$python" - "$json" "$cls" "$total" "$nonemb" "$unexpected" <<'PY'
import json, sys
path, cls, total, nonemb = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
unexpected = sys.argv[5].split(",") if sys.argv[5] else []
info = json.load(open(path))
bad = []
def want(key, value):
    if info.get(key) != value:
        bad.append("%s is %r, want %r" % (key, info.get(key), value))
want("model_type", "hello")
want("architecture", cls)
want("dtype", "float32")
want("num_parameters", total)
if nonemb != "-":
    want("num_parameters_non_embedding", int(nonemb))
want("missing_keys", [])
want("unexpected_keys", unexpected)
if bad:
    print("\n".join(bad))
    sys.exit(1)
PY
}

step "installed ptm info --json on the hello model"
hello_so=${hello_cmake:-$hello_make}
if [ -z "$hello_so" ]; then
    fail "no hello plugin was built; skipping the model checks"
else
    if run_split "$work/info.json" "$work/info.err" env PTM_PLUGIN_PATH="$hello_so" "$ptm" info "$model" --json; then
        cat "$work/info.json" "$work/info.err"
        if check_info "$work/info.json" HelloForMaskedLM "$want_total" "$want_nonemb" ""; then
            ok "ptm info: HelloForMaskedLM, num_parameters $want_total (non-embedding $want_nonemb)"
        else
            fail "ptm info --json disagrees with the shapes written"
        fi
    else
        fail "ptm info $model --json"
    fi

    step "installed ptm info --json --class HelloModel (base model from a head checkpoint)"
    # As in transformers: the head's lm_head.bias is reported unused.
    if run_split "$work/info-base.json" "$work/info-base.err" env PTM_PLUGIN_PATH="$hello_so" "$ptm" info \
        "$model" --json --class HelloModel; then
        if check_info "$work/info-base.json" HelloModel "$want_base" - lm_head.bias; then
            ok "ptm info --class HelloModel: num_parameters $want_base, lm_head.bias unexpected"
        else
            cat "$work/info-base.json" "$work/info-base.err"
            fail "ptm info --class HelloModel disagrees with the shapes written"
        fi
    else
        fail "ptm info $model --json --class HelloModel"
    fi

    step "config errors name the key"
    bad_model=$work/hello-bad
    mkdir -p "$bad_model"
    cp "$model/model.safetensors" "$bad_model/"
    "$python" -c 'import json,sys; c=json.load(open(sys.argv[1])); del c["hidden_size"]; json.dump(c, open(sys.argv[2], "w"))' \
        "$model/config.json" "$bad_model/config.json"
    if env PTM_PLUGIN_PATH="$hello_so" "$ptm" info "$bad_model" >"$work/info-bad.log" 2>&1; then
        fail "ptm info accepted a config without hidden_size"
    elif grep -q 'hidden_size' "$work/info-bad.log"; then
        ok "missing hidden_size: $(head -n 1 "$work/info-bad.log")"
    else
        cat "$work/info-bad.log"
        fail "the error for a config without hidden_size does not name the key"
    fi

    step "host example on the hello model"
    if [ -n "$host" ]; then
        if run_logged "$work/host.log" env -u LD_LIBRARY_PATH PTM_PLUGIN_PATH="$hello_so" "$host" "$model"; then
            cat "$work/host.log"
            got=$(sed -n 's/^num_parameters: //p' "$work/host.log")
            [ "$got" = "$want_total" ] && ok "host: num_parameters $got" ||
                fail "host printed num_parameters '$got', want $want_total"
            grep -Eq '^  arch +host-demo +host-demo .*\(in-process\)' "$work/host.log" &&
                ok "host: in-process architecture host-demo registered" ||
                fail "host: host-demo is not listed as an in-process architecture"
            grep -Eq '^  arch +HelloForMaskedLM +hello ' "$work/host.log" ||
                fail "host: HelloForMaskedLM not listed"
        else
            fail "host $model"
        fi
    fi
fi

# ------------------------------------- install the plugin next to ptm's own
if [ -n "$hello_cmake" ]; then
    step "cmake --install the hello example into ptm's plugin folder"
    if run_logged "$work/install-hello.log" cmake --install "$work/build-hello"; then
        if [ -f "$plugindir/hello.so" ]; then
            ok "hello.so installed into ${plugindir#"$prefix"/}"
        else
            fail "cmake --install of sdk/examples/hello_arch did not put hello.so in $plugindir"
        fi
        run_logged "$work/plugins-installed.log" env -u PTM_PLUGIN_PATH "$ptm" plugins ||
            fail "ptm plugins with hello.so installed"
        listed=$(awk '/^architectures:/ {f = 1; next} /^[a-z]/ {f = 0} f && $1 == "HelloForMaskedLM" {print $NF}' \
            "$work/plugins-installed.log")
        if [ -n "$listed" ] && [ "$(canon "$listed")" = "$(canon "$plugindir/hello.so")" ]; then
            ok "installed ptm finds the installed hello.so with no PTM_PLUGIN_PATH"
        else
            cat "$work/plugins-installed.log"
            fail "installed ptm does not list HelloForMaskedLM from $plugindir/hello.so"
        fi
        if run_split "$work/info-installed.json" "$work/info-installed.err" env -u PTM_PLUGIN_PATH "$ptm" info \
            "$model" --json && check_info "$work/info-installed.json" HelloForMaskedLM "$want_total" - ""; then
            ok "ptm info with the installed plugin: num_parameters $want_total"
        else
            fail "ptm info $model with the installed hello.so"
        fi
    else
        fail "cmake --install of sdk/examples/hello_arch"
    fi
fi

echo
if [ "$failures" -ne 0 ]; then
    echo "install_sdk: $failures check(s) failed (logs in $work)"
    exit 1
fi
echo "install_sdk: all checks passed"
