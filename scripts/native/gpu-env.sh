# Sourced (not run) before a GPU worker starts: puts the NVIDIA wheels' library directories
# (scripts/native/provision-nvidia.sh) on LD_LIBRARY_PATH, where libtensorflow_cc.so.2 of the CUDA
# `tensorflow` wheel finds libcudart, libcublas, libcudnn, ... when it is loaded. The dynamic loader reads
# LD_LIBRARY_PATH at process start, so it must be set in the shell that starts node, not from JavaScript.
#   source scripts/native/gpu-env.sh && RLHF_BACKEND=tensorflow-gpu npx tsx worker/gpu.ts
# (scripts/native/gpu-worker.sh does exactly that). Prints nothing; sets RLHF_NVIDIA_LIBS to the directories.
# shellcheck shell=bash source-path=SCRIPTDIR
_rlhf_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tensorflow-pins.sh
source "$_rlhf_root/scripts/native/tensorflow-pins.sh"
_rlhf_nvidia=${RLHF_CACHE_DIR:-$_rlhf_root/.cache}/tensorflow/nvidia-cu12-$TF_VERSION/nvidia
RLHF_NVIDIA_LIBS=""
if [ -d "$_rlhf_nvidia" ]; then
  for _rlhf_lib in "$_rlhf_nvidia"/*/lib; do
    [ -d "$_rlhf_lib" ] && RLHF_NVIDIA_LIBS="${RLHF_NVIDIA_LIBS:+$RLHF_NVIDIA_LIBS:}$_rlhf_lib"
  done
fi
if [ -n "$RLHF_NVIDIA_LIBS" ]; then
  export LD_LIBRARY_PATH="$RLHF_NVIDIA_LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
export RLHF_NVIDIA_LIBS
unset _rlhf_root _rlhf_nvidia _rlhf_lib
