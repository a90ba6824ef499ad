"""Unpacks, from a TensorFlow wheel, only what tfjs-node's binding needs: the two shared libraries and the
C API headers (tensorflow/c plus the few headers they include). The wheel's include/ tree is ~290 MB; these
directories are ~1.5 MB. Layout written: DEST/lib/{libtensorflow_cc.so.2, libtensorflow_framework.so.2,
libtensorflow.so -> libtensorflow_cc.so.2, libtensorflow_framework.so -> ...so.2} and DEST/include/.

Usage: python3 unpack-wheel.py WHEEL DEST
"""
import os
import shutil
import sys
import zipfile

LIBRARIES = {
    "tensorflow/libtensorflow_cc.so.2": "libtensorflow_cc.so.2",
    "tensorflow/libtensorflow_framework.so.2": "libtensorflow_framework.so.2",
}
# binding.gyp links -ltensorflow -ltensorflow_framework; the wheel names the C API library libtensorflow_cc.
LINKER_NAMES = {"libtensorflow.so": "libtensorflow_cc.so.2", "libtensorflow_framework.so": "libtensorflow_framework.so.2"}
# The headers c_api.h and eager/c_api.h reach (read off the compiler's dependency files for TF 2.21).
HEADER_DIRS = ("tensorflow/c/", "tensorflow/core/platform/", "tsl/platform/", "xla/tsl/c/")
INCLUDE_PREFIX = "tensorflow/include/"


def main(wheel: str, dest: str) -> None:
    lib_dir = os.path.join(dest, "lib")
    include_dir = os.path.join(dest, "include")
    os.makedirs(lib_dir)
    found = set()
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            name = info.filename
            if name in LIBRARIES:
                target = os.path.join(lib_dir, LIBRARIES[name])
                found.add(name)
            elif name.startswith(INCLUDE_PREFIX) and name.endswith(".h") and name[len(INCLUDE_PREFIX):].startswith(HEADER_DIRS):
                target = os.path.join(include_dir, name[len(INCLUDE_PREFIX):])
            else:
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
            os.chmod(target, 0o755 if name in LIBRARIES else 0o644)
    missing = set(LIBRARIES) - found
    if missing:
        sys.exit(f"the wheel lacks {sorted(missing)}")
    if not os.path.isfile(os.path.join(include_dir, "tensorflow/c/eager/c_api.h")):
        sys.exit("the wheel lacks tensorflow/include/tensorflow/c/eager/c_api.h")
    for link, target in LINKER_NAMES.items():
        os.symlink(target, os.path.join(lib_dir, link))
    print(f"unpacked {len(found)} libraries and the C API headers into {dest}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: unpack-wheel.py WHEEL DEST")
    main(sys.argv[1], sys.argv[2])
