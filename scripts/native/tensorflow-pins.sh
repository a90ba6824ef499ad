# Pinned inputs of the native TensorFlow backend (sourced by provision-tensorflow.sh).
#
# libtensorflow comes from PyPI's TensorFlow wheel: its `libtensorflow_cc.so.2` exports the TF/TFE C API
# that tfjs-node's binding calls, and `libtensorflow_framework.so.2` the rest. tfjs-node's own installer
# downloads libtensorflow from a Google bucket that these machines cannot reach; PyPI they can.
# The wheel's sha256 is checked by pip (--require-hashes) before anything is unpacked.
TF_VERSION=2.21.0
# The tfjs-node(-gpu) version must equal package.json's optionalDependencies (npm checks its lockfile sha512).
TFJS_NODE_VERSION=4.22.0
# CPU: tensorflow-cpu, manylinux_2_27 x86_64 (any cp3xx wheel carries the same C++ libraries).
TF_CPU_WHEEL_PACKAGE=tensorflow-cpu
TF_CPU_WHEEL_SHA256=2b847d217b02ee7731ed91431daf3250daa0196c3c94614d23be27232e6e5b6c
# GPU: the plain `tensorflow` wheel is built with CUDA on Linux; its CUDA/cuDNN libraries come as NVIDIA's
# own wheels, the ones `pip install tensorflow[and-cuda]` picks.
TF_GPU_WHEEL_PACKAGE=tensorflow
TF_GPU_WHEEL_SHA256=9056fbc9ba04235810b71ae6cbd958a196e8804fb53bbcffbf3e23b56155f124
TF_WHEEL_PLATFORM=manylinux_2_27_x86_64
TF_WHEEL_PYTHON=311
