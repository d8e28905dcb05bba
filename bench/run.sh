#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# bench/run.sh - build what the benchmark needs, write the models if missing,
# run ptm and PyTorch side by side (one process per side and dtype), print one
# table.  A benchmark: it reports, it asserts nothing.
#
#   bench/run.sh [--dir /tmp/ptm-bench] [--build build] [--quick] [--no-profile]
#
#   --dir DIR      where the models and the results go (default /tmp/ptm-bench)
#   --build DIR    the project's build tree (default build/; configured if absent)
#   --quick        fewer repetitions (a smoke run; figures are noisier)
#   --no-profile   skip ptm's per-op timing pass
#   --no-vulkan    skip the Vulkan column (run when `ptm plugins -v` lists a
#                  vulkan device; on lavapipe it only shows that it runs)
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=/tmp/ptm-bench
BUILD=$ROOT/build
PY=${PYTHON:-/usr/bin/python3}
PROFILE=--profile
VULKAN=1
REPS="--reps 7 --decode-reps 5 --loads 5"
while [ $# -gt 0 ]; do
    case $1 in
    --dir) DIR=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --quick) REPS="--reps 2 --decode-reps 1 --loads 2"; shift ;;
    --no-profile) PROFILE=; shift ;;
    --no-vulkan) VULKAN=0; shift ;;
    -h|--help) sed -n '3,15p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
case $BUILD in /*) ;; *) BUILD=$(pwd)/$BUILD ;; esac
NPROC=$(nproc)
START=$(date +%s)

# --- build: libptm and the plugins the run loads, then the bench programs
# (re)configure first: a stale Makefile would not know the bench targets yet
cmake -S "$ROOT" -B "$BUILD" >/dev/null
if grep -q '^[[:space:]]*add_subdirectory(bench)' "$ROOT/CMakeLists.txt"; then
    cmake --build "$BUILD" -j"$NPROC" --target ptm cpu gpt2 safetensors ptm_bench ptm_limits >/dev/null
    BIN=$BUILD/bin
else  # not wired into the top-level build yet: build bench/ on its own against $BUILD
    cmake --build "$BUILD" -j"$NPROC" --target ptm cpu gpt2 safetensors >/dev/null
    cmake -S "$ROOT/bench" -B "$BUILD/bench-standalone" -DPTM_BUILD_DIR="$BUILD" >/dev/null
    cmake --build "$BUILD/bench-standalone" -j"$NPROC" >/dev/null
    BIN=$BUILD/bench-standalone/bin
fi
BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD/CMakeCache.txt")

# --- models
"$PY" "$ROOT/bench/make_model.py" --dir "$DIR" >&2
RES=$DIR/results
mkdir -p "$RES"
rm -f "$RES"/*.json

echo "machine: $NPROC cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
     "$(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo); load average before: $(cut -d' ' -f1-3 /proc/loadavg)" \
     >"$RES/machine.txt"

# --- runs (stderr shows progress)
echo "limits ..." >&2
"$BIN/ptm_limits" >"$RES/limits.json"  # again at the end: the report takes the best of the two
for dt in f32 bf16; do
    case $dt in f32) PDT=f32 ;; bf16) PDT=auto ;; esac  # auto: bf16 weights stay bf16
    echo "ptm $dt ..." >&2
    "$BIN/ptm_bench" --model "$DIR/gpt2-$dt" --dtype $PDT $REPS $PROFILE --json "$RES/ptm-$dt.json"
    echo "torch $dt ..." >&2
    "$PY" "$ROOT/bench/torch_bench.py" --model "$DIR/gpt2-$dt" $REPS --json "$RES/torch-$dt.json"
done

# --- Vulkan: one prefill and 8 decode steps per dtype (lavapipe is ~40x slower than the CPU)
if [ "$VULKAN" = 1 ] && "$BUILD/bin/ptm" plugins -v 2>/dev/null | grep -q '^    vulkan:0 '; then
    for dt in f32 bf16; do
        case $dt in f32) PDT=f32 ;; bf16) PDT=auto ;; esac
        echo "ptm vulkan $dt ..." >&2
        "$BIN/ptm_bench" --model "$DIR/gpt2-$dt" --backend vulkan --dtype $PDT --threads 1 --decode 8 \
            --reps 1 --decode-reps 1 --loads 1 --json "$RES/ptm-vulkan-$dt.json" || echo "ptm vulkan $dt failed" >&2
    done
    "$BUILD/bin/ptm" plugins -v | sed -n 's/^    \(vulkan:0 .*\)/\1/p' >"$RES/vulkan-device.txt"
fi

echo "limits again ..." >&2
"$BIN/ptm_limits" >"$RES/limits-end.json"

# --- the table
{
    cat "$RES/machine.txt"
    echo "ptm build: $BUILD ($BUILD_TYPE); torch $("$PY" -c 'import torch; print(torch.__version__)')" \
         "(Debian, OpenBLAS + oneDNN); load average after: $(cut -d' ' -f1-3 /proc/loadavg);" \
         "run took $(( $(date +%s) - START )) s"
    echo
    "$PY" "$ROOT/bench/report.py" "$RES" "$DIR/gpt2-f32"
} | tee "$RES/report.txt"
