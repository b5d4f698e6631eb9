"""The wheels a GPU machine without a package registry needs to run benchmarks/gpu_check.py.

Usage:
    # which packages gpu_check imports that the GPU image lacks; their wheels (CPython 3.12,
    # manylinux x86-64) downloaded into --out, with each size and the total to carry
    python benchmarks/gpu_kit.py build [--out .gpukit] [--limit-mib 64]
    # prove that list complete here: gpu_check --device cpu with nothing importable but the
    # standard library, the GPU image's packages and the kit's (at this venv's versions)
    python benchmarks/gpu_kit.py simulate [--work /tmp/gpu_kit_sim]

This workplace's GPU machines run an image with Python 3.12, PyTorch, torchvision, NumPy,
SciPy, scikit-learn, matplotlib, OpenCV and the rest of ``GPU_IMAGE`` below (its package list
as read on 2026-11-17), reach no registry, and take at most 64 MiB per call: the working tree
and the carried wheels together. The kit is what gpu_check's steps import, found by running
them (``--device cpu``), less what the image holds, less two things measured too large:

- Ray: its cp312 wheel alone is 79 MB. gpu_check's Ray step says "skipped" there, and
  ``tests/test_executors.py`` checks the GPU reservation on a local Ray cluster that declares
  a GPU instead.
- polars (polars 2.x's runtime wheel is 54 MB, polars 1.20 one 33 MB wheel). Ultralytics
  imports it in training only to copy results.csv into the checkpoint; gpu_check reads that
  file with the standard library where polars is absent (``_results_csv_without_polars``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
GPU_CHECK = ROOT / "benchmarks" / "gpu_check.py"
STEPS = "classify,detect,predict"  # the Ray step cannot run there (see above)
NOT_CARRIED = {"ray": "its 79 MB wheel is over the carry limit",
               "polars": "gpu_check reads results.csv without it",
               "polars-runtime-32": "gpu_check reads results.csv without it"}
# Installed here in place of the image's package of the same modules (cv2 with GUI code).
STANDS_FOR = {"opencv-python": "opencv-python-headless"}
# The image's wheels for Python 3.12; pip picks the newest tag each project publishes.
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64", "linux_x86_64")

GPU_IMAGE = frozenset(canonicalize_name(name) for name in """
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs
botorch build certifi charset-normalizer chex click cloudpickle cmake colorama contourpy
coverage cuda-bindings cuda-core cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython
diffrax e3nn einops equinox etils execnet filelock flatbuffers flax fonttools formulaic
frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize
hypothesis idna imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib
jaxtyping jinja2 joblib kiwisolver lazy-loader lightning lightning-utilities linear-operator
lineax llvmlite lxml markdown markdown-it-py markupsafe matplotlib mdurl meson ml-dtypes
mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals networkx
ninja numba numba-cuda numpy numpyro nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc
nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand
nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13 nvidia-ml-py nvidia-nccl-cu13
nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime onnxscript
opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging
pandas pathspec patsy peft pillow pip pluggy portalocker prometheus-client propcache
protobuf psutil pyarrow pybind11 py-cpuinfo pygments pyparsing pyproject-hooks
pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist
python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu safetensors
scikit-build-core scikit-image scikit-learn scipy seaborn sentencepiece
sentence-transformers setuptools shellingham simplejson six sortedcontainers statsmodels
sympy tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile
tiktoken timm tokenizers toolz torch torchaudio torchdiffeq torch-geometric torchmetrics
torchvision tqdm transformers treescope triton typer typing-extensions typing-inspect
urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl zipp
""".split())


def requirement_closure(names: set[str]) -> set[str]:
    """``names`` and every distribution installed here that they require, transitively."""
    seen: set[str] = set()
    stack = list(names)
    while stack:
        name = canonicalize_name(stack.pop())
        if name in seen:
            continue
        try:
            requires = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:
            continue
        seen.add(name)
        stack += [r.name for r in map(Requirement, requires)
                  if r.marker is None or r.marker.evaluate({"extra": ""})]
    return seen


def imported_modules(importtime_log: str) -> set[str]:
    """The top-level modules named in ``python -X importtime`` output (other lines ignored)."""
    names = {line.rpartition("|")[2].strip() for line in importtime_log.splitlines()
             if line.startswith("import time:")}
    return {name.partition(".")[0] for name in names - {"imported package"}}


def imported_distributions(work: Path) -> dict[str, str]:
    """Distribution -> version of every package gpu_check's steps import, run here on the CPU.

    Read from ``-X importtime``, which every process of the run reports to the shared
    stderr: the workers of a process pool import modules their parent never does. Starts
    from no data, as on the GPU machine, so that preparing them is counted too."""
    shutil.rmtree(work / "check", ignore_errors=True)
    run = subprocess.run([sys.executable, "-X", "importtime", str(GPU_CHECK), "--device", "cpu",
                          "--steps", STEPS, "--work", str(work / "check")],
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
                         capture_output=True, text=True)
    if run.returncode:
        sys.stderr.write(run.stderr[-4000:])
        raise SystemExit(f"gpu_check --device cpu failed here (exit {run.returncode})")
    modules = imported_modules(run.stderr)
    owners = metadata.packages_distributions()
    names = {canonicalize_name(dist) for module in modules for dist in owners.get(module, [])}
    return {name: metadata.version(name) for name in sorted(names - {"fraclab"})}


def image_provided() -> set[str]:
    """The distributions installed here whose modules the GPU image holds too."""
    return requirement_closure(set(GPU_IMAGE)) | {
        here for here, there in STANDS_FOR.items() if there in GPU_IMAGE}


def kit(work: Path) -> dict[str, str]:
    """What gpu_check imports that the GPU image does not hold and that can be carried."""
    provided = image_provided()
    return {name: version for name, version in imported_distributions(work).items()
            if name not in provided and name not in NOT_CARRIED}


def tree_bytes() -> int:
    """The working tree as the device tool carries it: tracked and unignored files."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                            "--exclude-standard"], cwd=ROOT, check=True, capture_output=True,
                           text=True).stdout.split("\0")
    return sum((ROOT / f).stat().st_size for f in files if f and (ROOT / f).is_file())


def build(out: Path, work: Path, limit_mib: float) -> int:
    pins = kit(work)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.whl"):
        old.unlink()
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                    "--only-binary=:all:", "--python-version", "3.12", "--implementation",
                    "cp", *platforms, "--dest", str(out),
                    *(f"{n}=={v}" for n, v in pins.items())], check=True)
    wheels = sorted(out.glob("*.whl"), key=lambda p: -p.stat().st_size)
    for wheel in wheels:
        print(f"{wheel.stat().st_size / 2**20:7.2f} MiB  {wheel.name}")
    carried = sum(w.stat().st_size for w in wheels)
    tree = tree_bytes()
    total = (carried + tree) / 2**20
    print(f"{len(wheels)} wheels, {carried / 2**20:.1f} MiB; with the working tree "
          f"({tree / 2**20:.1f} MiB) {total:.1f} MiB of the {limit_mib:g} MiB a call carries")
    for name, why in NOT_CARRIED.items():
        print(f"not carried: {name} ({why})")
    return 0 if total <= limit_mib else 1


def _top_levels(name: str) -> set[str]:
    """The top-level entries a distribution installed in site-packages (its dist-info too)."""
    dist = metadata.distribution(name)
    return {Path(f).parts[0] for f in dist.files or [] if not str(f).startswith("..")}


def simulate(work: Path) -> int:
    """gpu_check on the CPU with only the standard library, the image's and the kit's
    packages importable: each linked from this venv into one folder, Python run with ``-S``."""
    site = work / "site"
    if site.exists():
        for link in site.iterdir():
            link.unlink()
    site.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(work / "simulated", ignore_errors=True)
    packages = Path(metadata.distribution("torch").locate_file(""))
    allowed = image_provided() | set(kit(work))
    for name in sorted(allowed):
        try:
            entries = _top_levels(name)
        except metadata.PackageNotFoundError:
            continue
        for entry in entries:
            if (packages / entry).exists() and not (site / entry).exists():
                (site / entry).symlink_to(packages / entry)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT / "src")])}
    return subprocess.run([sys.executable, "-S", str(GPU_CHECK), "--device", "cpu",
                           "--steps", STEPS, "--work", str(work / "simulated")],
                          cwd=ROOT, env=env).returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("build", "simulate"))
    parser.add_argument("--out", type=Path, default=ROOT / ".gpukit")
    parser.add_argument("--work", type=Path, default=Path("/tmp/gpu_kit"))
    parser.add_argument("--limit-mib", type=float, default=64.0)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.command == "build":
        raise SystemExit(build(args.out, args.work, args.limit_mib))
    raise SystemExit(simulate(args.work))


if __name__ == "__main__":
    main()
