"""The accelerator catalog: public datasheet figures per chip, each with its source.

Conventions (read before adding or changing an entry):

- ``None`` means *unknown or unsupported*. A figure the vendor does not publish, a figure the
  public sources disagree on, and a precision the chip has no fast path for are all ``None``.
  A number is never guessed, interpolated between bins, or copied from a sibling product.
  ``Accelerator.supports(p)`` is therefore "known to support", not "cannot run at all".
- TFLOPS are **dense** peak figures (no 2:4 structured sparsity). Where a vendor prints only
  the sparse figure (NVIDIA since Ampere marks it with an asterisk), the catalog stores half of
  it and says so in the entry's comment. ``Precision.INT8`` is in TOPS.
- FP16/BF16/TF32/FP8/INT8 are the matrix (tensor-core / cube) paths where the chip has one;
  FP32 is the non-tensor vector figure. Where the vendor only gives an FP16 figure with an
  unstated accumulator, that figure is stored as printed.
- ``memory_gib`` is the capacity printed as "GB" on the datasheet (HBM/GDDR parts are sized in
  binary units, so the printed number is the GiB figure); ``memory_bandwidth_gbs`` is GB/s.
- Figures are per schedulable device: the unit a provider counts as one card in a pool and the
  unit the public traces count as one GPU (see the K80 entry for the one board-vs-device case).
- ``domestic`` (国产) is True for vendors headquartered in mainland China.
- Every entry cites at least one public https source. Chinese and alternative names go in
  ``aliases``; ``model`` is a stable ASCII identifier.

Lookups are case-insensitive and treat runs of spaces, underscores and hyphens alike
("Ascend 910B" == "ascend-910b" == "ASCEND_910B").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from suanli.errors import UnknownAccelerator
from suanli.i18n import msg

CATALOG_VERSION = "2026.11.1"


class Precision(StrEnum):
    FP32 = "fp32"
    TF32 = "tf32"
    BF16 = "bf16"
    FP16 = "fp16"
    FP8 = "fp8"
    INT8 = "int8"


@dataclass(frozen=True)
class Accelerator:
    vendor: str
    model: str
    domestic: bool
    memory_gib: float | None
    memory_bandwidth_gbs: float | None
    tflops: dict[Precision, float | None]
    interconnect: str | None
    software_stack: str
    sources: tuple[str, ...] = field(default=())
    aliases: tuple[str, ...] = field(default=())

    def supports(self, precision: Precision) -> bool:
        return self.tflops.get(precision) is not None

    def tflops_for(self, precision: Precision) -> float | None:
        return self.tflops.get(precision)


def _tf(**values: float | None) -> dict[Precision, float | None]:
    """TFLOPS per precision; every Precision gets a key, absent ones are None (unknown)."""
    given = {Precision(name): value for name, value in values.items()}
    return {precision: given.get(precision) for precision in Precision}


_NVIDIA_HOPPER_PAGE = "https://www.nvidia.com/en-us/data-center/h100/"
_NVIDIA_AMPERE_PAGE = "https://www.nvidia.com/en-us/data-center/a100/"
_NVIDIA_ADA_WHITEPAPER = (
    "https://images.nvidia.com/aem-dam/Solutions/geforce/ada/nvidia-ada-gpu-architecture.pdf"
)


CATALOG: tuple[Accelerator, ...] = (
    # ------------------------------------------------------------------ NVIDIA (Hopper)
    # H100 SXM5 datasheet prints sparse tensor figures (TF32 989, BF16/FP16 1979,
    # FP8/INT8 3958); dense is half.
    Accelerator(
        vendor="NVIDIA",
        model="H100-SXM",
        domestic=False,
        memory_gib=80,
        memory_bandwidth_gbs=3350,
        tflops=_tf(fp32=67, tf32=494.5, bf16=989.5, fp16=989.5, fp8=1979, int8=1979),
        interconnect="NVLink 4 900 GB/s",
        software_stack="CUDA",
        sources=(_NVIDIA_HOPPER_PAGE,),
        aliases=("H100", "H100-SXM5-80GB", "H100 80GB HBM3"),
    ),
    # H800 SXM: the GH100 of the H100 SXM with NVLink cut to 400 GB/s and FP64 cut to
    # 1 TFLOPS (FP64 is not tracked here); tensor and FP32 figures are the H100 SXM ones.
    Accelerator(
        vendor="NVIDIA",
        model="H800-SXM",
        domestic=False,
        memory_gib=80,
        memory_bandwidth_gbs=3350,
        tflops=_tf(fp32=67, tf32=494.5, bf16=989.5, fp16=989.5, fp8=1979, int8=1979),
        interconnect="NVLink 4 400 GB/s",
        software_stack="CUDA",
        sources=(
            "https://aiwiki.ai/wiki/nvidia_h800",
            "https://www.philisun.com/technical-analysis/nvidia-h800-vs-h100-a-technical-deep-dive-into-politically-defined-ai-chips/",
            _NVIDIA_HOPPER_PAGE,
        ),
        aliases=("H800", "H800-SXM5-80GB", "NVIDIA H800"),
    ),
    # H20: NVIDIA publishes no public datasheet page for the H20; these are the figures that
    # every public spec table reports consistently (dense: FP16 148, FP8/INT8 296).
    Accelerator(
        vendor="NVIDIA",
        model="H20",
        domestic=False,
        memory_gib=96,
        memory_bandwidth_gbs=4000,
        tflops=_tf(fp32=44, tf32=74, bf16=148, fp16=148, fp8=296, int8=296),
        interconnect="NVLink 4 900 GB/s",
        software_stack="CUDA",
        sources=("https://willitrunai.com/es/gpus/h20-96gb",),
        aliases=("H20-96GB", "NVIDIA H20"),
    ),
    # ------------------------------------------------------------------ NVIDIA (Ampere)
    # A100 80GB SXM datasheet: TF32 156, BF16/FP16 312, INT8 624 dense (2x with sparsity).
    # Ampere has no FP8 path.
    Accelerator(
        vendor="NVIDIA",
        model="A100-80GB",
        domestic=False,
        memory_gib=80,
        memory_bandwidth_gbs=2039,
        tflops=_tf(fp32=19.5, tf32=156, bf16=312, fp16=312, fp8=None, int8=624),
        interconnect="NVLink 3 600 GB/s",
        software_stack="CUDA",
        sources=(_NVIDIA_AMPERE_PAGE,),
        aliases=("A100-SXM4-80GB", "A100-80GB-SXM", "NVIDIA A100 80GB"),
    ),
    # A800 80GB SXM: the A100 80GB SXM with NVLink cut from 600 to 400 GB/s; same compute.
    Accelerator(
        vendor="NVIDIA",
        model="A800-80GB",
        domestic=False,
        memory_gib=80,
        memory_bandwidth_gbs=2039,
        tflops=_tf(fp32=19.5, tf32=156, bf16=312, fp16=312, fp8=None, int8=624),
        interconnect="NVLink 3 400 GB/s",
        software_stack="CUDA",
        sources=(
            "https://tweakers.net/nieuws/203182/nvidia-introduceert-a800-gpu-voor-china-die-niet-onder-exportrestricties-vs-valt.html",
            _NVIDIA_AMPERE_PAGE,
        ),
        aliases=("A800-SXM4-80GB", "A800", "NVIDIA A800 80GB"),
    ),
    # A10 datasheet: TF32 62.5, BF16/FP16 125, INT8 250 dense (2x with sparsity).
    Accelerator(
        vendor="NVIDIA",
        model="A10",
        domestic=False,
        memory_gib=24,
        memory_bandwidth_gbs=600,
        tflops=_tf(fp32=31.2, tf32=62.5, bf16=125, fp16=125, fp8=None, int8=250),
        interconnect="PCIe Gen4 x16",
        software_stack="CUDA",
        sources=("https://www.nvidia.com/en-us/data-center/products/a10-gpu/",),
        aliases=("NVIDIA A10", "A10-24GB"),
    ),
    # ------------------------------------------------------------------ NVIDIA (Ada)
    # L40S datasheet prints sparse tensor figures (TF32 366, BF16/FP16 733, FP8/INT8 1466).
    Accelerator(
        vendor="NVIDIA",
        model="L40S",
        domestic=False,
        memory_gib=48,
        memory_bandwidth_gbs=864,
        tflops=_tf(fp32=91.6, tf32=183, bf16=366.5, fp16=366.5, fp8=733, int8=733),
        interconnect="PCIe Gen4 x16",
        software_stack="CUDA",
        sources=("https://www.nvidia.com/en-us/data-center/l40s/",),
        aliases=("NVIDIA L40S", "L40S-48GB"),
    ),
    # RTX 4090, Ada whitepaper appendix (dense): FP16/BF16 tensor with FP32 accumulate 165.2
    # (330.3 with FP16 accumulate), FP8 with FP32 accumulate 330.3, TF32 82.6, INT8 660.6.
    # The FP32-accumulate figures are stored because that is what training uses.
    Accelerator(
        vendor="NVIDIA",
        model="RTX-4090",
        domestic=False,
        memory_gib=24,
        memory_bandwidth_gbs=1008,
        tflops=_tf(fp32=82.6, tf32=82.6, bf16=165.2, fp16=165.2, fp8=330.3, int8=660.6),
        interconnect="PCIe Gen4 x16",
        software_stack="CUDA",
        sources=(
            "https://www.nvidia.com/en-us/geforce/graphics-cards/40-series/rtx-4090/",
            _NVIDIA_ADA_WHITEPAPER,
        ),
        aliases=("GeForce RTX 4090", "RTX4090", "4090"),
    ),
    # ------------------------------------------------------------------ NVIDIA (Turing/Volta)
    # T4 datasheet: FP16 (mixed precision) 65, INT8 130 TOPS; Turing has no TF32/BF16/FP8.
    # The datasheet prints bandwidth as "320+ GB/s".
    Accelerator(
        vendor="NVIDIA",
        model="T4",
        domestic=False,
        memory_gib=16,
        memory_bandwidth_gbs=320,
        tflops=_tf(fp32=8.1, tf32=None, bf16=None, fp16=65, fp8=None, int8=130),
        interconnect="PCIe Gen3 x16",
        software_stack="CUDA",
        sources=("https://www.nvidia.com/en-us/data-center/tesla-t4/",),
        aliases=("Tesla T4", "T4-16GB"),
    ),
    # V100 SXM2 datasheet: FP32 15.7, tensor (FP16 mixed precision) 125. Volta's tensor cores
    # have no TF32/BF16/FP8/INT8 mode (INT8 via DP4A is not a tensor path), so those are None.
    Accelerator(
        vendor="NVIDIA",
        model="V100-32GB",
        domestic=False,
        memory_gib=32,
        memory_bandwidth_gbs=900,
        tflops=_tf(fp32=15.7, tf32=None, bf16=None, fp16=125, fp8=None, int8=None),
        interconnect="NVLink 2 300 GB/s",
        software_stack="CUDA",
        sources=("https://www.nvidia.com/en-us/data-center/v100/",),
        # "V100M32": Alibaba GPU traces 2020/2023.
        aliases=("V100M32", "V100-SXM2-32GB", "Tesla V100 32GB"),
    ),
    # Plain "V100" goes to the 16 GB part: Alibaba 2020 lists "V100" next to "V100M32", and
    # Gavel's "v100" workers are 16 GB V100s.
    Accelerator(
        vendor="NVIDIA",
        model="V100-16GB",
        domestic=False,
        memory_gib=16,
        memory_bandwidth_gbs=900,
        tflops=_tf(fp32=15.7, tf32=None, bf16=None, fp16=125, fp8=None, int8=None),
        interconnect="NVLink 2 300 GB/s",
        software_stack="CUDA",
        sources=("https://www.nvidia.com/en-us/data-center/v100/",),
        aliases=("V100", "V100M16", "V100-SXM2-16GB", "Tesla V100"),
    ),
    # ------------------------------------------------------------------ NVIDIA (Pascal/Kepler)
    # P100 has no tensor cores: FP16 is the packed half-precision vector rate (2x FP32);
    # TF32/BF16/FP8/INT8 unsupported. Plain "P100" (Alibaba traces, Gavel) -> the PCIe 16 GB card.
    Accelerator(
        vendor="NVIDIA",
        model="P100-16GB",
        domestic=False,
        memory_gib=16,
        memory_bandwidth_gbs=732,
        tflops=_tf(fp32=9.3, tf32=None, bf16=None, fp16=18.7, fp8=None, int8=None),
        interconnect="PCIe Gen3 x16",
        software_stack="CUDA",
        sources=("https://www.nvidia.com/en-us/data-center/tesla-p100/",),
        aliases=("P100", "P100-PCIE-16GB", "Tesla P100"),
    ),
    Accelerator(
        vendor="NVIDIA",
        model="P100-SXM2",
        domestic=False,
        memory_gib=16,
        memory_bandwidth_gbs=732,
        tflops=_tf(fp32=10.6, tf32=None, bf16=None, fp16=21.2, fp8=None, int8=None),
        interconnect="NVLink 1 160 GB/s",
        software_stack="CUDA",
        sources=("https://www.nvidia.com/en-us/data-center/tesla-p100/",),
        aliases=("P100-SXM2-16GB",),
    ),
    # K80: the datasheet describes the dual-GK210 board (24 GB, 480 GB/s, 8.73 TFLOPS FP32 at
    # boost). The OS, the clouds and Gavel's "k80" worker count each GK210 as one GPU, so the
    # catalog stores the per-GK210 half of each board figure. Kepler has no fast FP16 path.
    Accelerator(
        vendor="NVIDIA",
        model="K80",
        domestic=False,
        memory_gib=24 / 2,
        memory_bandwidth_gbs=480 / 2,
        tflops=_tf(fp32=8.73 / 2, tf32=None, bf16=None, fp16=None, fp8=None, int8=None),
        interconnect="PCIe Gen3 x16 (shared by the board's two GPUs)",
        software_stack="CUDA",
        sources=("https://www.nvidia.com/en-us/data-center/tesla-k80/",),
        aliases=("Tesla K80", "GK210"),
    ),
    # ------------------------------------------------------------------ Huawei Ascend
    # Ascend 910 (2019): Huawei's launch announcement gives FP16 256 TFLOPS and INT8 512 TOPS.
    # 32 GB HBM2 per Huawei's Atlas 300T (model 9000) material; Huawei's bandwidth figure
    # (reported as ~1.2 TB/s) is not in a datasheet we can cite, so None. FP32 not published.
    Accelerator(
        vendor="Huawei",
        model="Ascend-910",
        domestic=True,
        memory_gib=32,
        memory_bandwidth_gbs=None,
        tflops=_tf(fp16=256, int8=512),
        interconnect="HCCS",
        software_stack="CANN",
        sources=(
            "https://www.huawei.com/en/news/2019/8/huawei-ascend-910-most-powerful-ai-processor",
            "https://pureai.com/articles/2019/09/03/nws-huawei-ascend-910-processor.aspx",
        ),
        aliases=("Ascend 910", "昇腾910"),
    ),
    # Ascend 910B: Huawei publishes no per-chip TFLOPS for the 910B; public reports disagree
    # (256 to ~376 FP16 TFLOPS across the 910B1-910B4 bins), so every TFLOPS figure is None.
    # 64 GB HBM2e is the configuration of the 910B1-B3 bins in Atlas 800T A2 servers; the
    # 910B4 is reported with 32 GB and must be listed as its own entry once sourced.
    Accelerator(
        vendor="Huawei",
        model="Ascend-910B",
        domestic=True,
        memory_gib=64,
        memory_bandwidth_gbs=None,
        tflops=_tf(),
        interconnect="HCCS",
        software_stack="CANN",
        sources=(
            "https://ai.gitee.com/docs/compute/clusters_gpu/ascend_gpu",
            "https://www.hiascend.com/",
        ),
        aliases=("Ascend 910B", "昇腾910B", "910B"),
    ),
    # Atlas 300I Pro inference card (one Ascend 310P): Huawei product page gives INT8 140 TOPS,
    # FP16 70 TFLOPS, 24 GB LPDDR4X at 204.8 GB/s. (The Atlas 300I Duo carries two 310P with
    # 48 GB each and is a different card.)
    Accelerator(
        vendor="Huawei",
        model="Atlas-300I-Pro",
        domestic=True,
        memory_gib=24,
        memory_bandwidth_gbs=204.8,
        tflops=_tf(fp16=70, int8=140),
        interconnect="PCIe Gen4 x16",
        software_stack="CANN",
        sources=("https://e.huawei.com/cn/products/computing/ascend/atlas-300i-pro",),
        aliases=("Atlas 300I Pro", "Atlas 300I Pro 推理卡"),
    ),
    # ------------------------------------------------------------------ Cambricon 寒武纪
    # MLU370-X8 (two Siyuan 370 chips on one card), launch announcement 2022-03-21:
    # FP32 32, FP16 96, BF16 96 TFLOPS, INT16 128 / INT8 256 TOPS, 48 GB LPDDR5 at
    # 614.4 GB/s, MLU-Link 200 GB/s per card. Cambricon does not advertise sparsity.
    Accelerator(
        vendor="Cambricon",
        model="MLU370-X8",
        domestic=True,
        memory_gib=48,
        memory_bandwidth_gbs=614.4,
        tflops=_tf(fp32=32, bf16=96, fp16=96, int8=256),
        interconnect="MLU-Link 200 GB/s",
        software_stack="Neuware",
        sources=(
            "https://www.cambricon.com/",
            "https://paddlepaddle.org.cn/documentation/docs/zh/guides/hardware_support/mlu_docs/index_cn.html",
        ),
        aliases=("思元370-X8", "MLU370 X8", "Cambricon MLU370-X8"),
    ),
    # ------------------------------------------------------------------ Kunlunxin 昆仑芯
    # Kunlun 1st generation (K200 card): 256 TOPS INT8, 64 TFLOPS FP16, 16 TFLOPS FP32 at
    # 150 W; two 8 GB HBM stacks at 512 GB/s.
    Accelerator(
        vendor="Kunlunxin",
        model="Kunlunxin-K200",
        domestic=True,
        memory_gib=16,
        memory_bandwidth_gbs=512,
        tflops=_tf(fp32=16, fp16=64, int8=256),
        interconnect="PCIe Gen4 x16",
        software_stack="XPU",
        sources=(
            "https://www.tomshw.it/hardware/la-cina-sfida-nvidia-baidu-svela-il-chip-kunlun-ii/",
            "https://www.kunlunxin.com/",
        ),
        aliases=("K200", "昆仑K200", "Kunlun K200"),
    ),
    # R200 (2nd-generation Kunlun chip): Kunlunxin's product material gives 256 TOPS INT8,
    # 128 TFLOPS FP16, 32 GB GDDR6 at 512 GB/s. The FP32 figure could not be confirmed
    # against a citable page, so it is None.
    Accelerator(
        vendor="Kunlunxin",
        model="Kunlunxin-R200",
        domestic=True,
        memory_gib=32,
        memory_bandwidth_gbs=512,
        tflops=_tf(fp16=128, int8=256),
        interconnect="PCIe Gen4 x16",
        software_stack="XPU",
        sources=(
            "https://www.kunlunxin.com/",
            "https://paddlepaddle.org.cn/inference/demo_guides/kunlunxin_xpu.html",
        ),
        aliases=("R200", "昆仑芯R200", "Kunlun R200"),
    ),
    # ------------------------------------------------------------------ Moore Threads 摩尔线程
    # MTT S4000 (MUSA 3rd gen), launch 2023-12: FP32 25, TF32 50, FP16/BF16 100 TFLOPS,
    # INT8 200 TOPS, 48 GB GDDR6 (384-bit) at 768 GB/s, MTLink 1.0 240 GB/s, PCIe Gen5.
    Accelerator(
        vendor="Moore Threads",
        model="MTT-S4000",
        domestic=True,
        memory_gib=48,
        memory_bandwidth_gbs=768,
        tflops=_tf(fp32=25, tf32=50, bf16=100, fp16=100, int8=200),
        interconnect="MTLink 1.0 240 GB/s",
        software_stack="MUSA",
        sources=(
            "https://www.mthreads.com/",
            "https://www.io-tech.fi/uutinen/moore-threads-julkaisi-uuden-mtt-s4000-laskentakortin-ja-kuae-intelligent-computing-center-palvelinklusterit/",
        ),
        aliases=("MTT S4000", "摩尔线程S4000", "S4000"),
    ),
    # ------------------------------------------------------------------ Iluvatar CoreX 天数智芯
    # 天垓100 (BI-V100 card), launch 2021-03: FP32 37, FP16/BF16 147 TFLOPS, INT8 295 TOPS,
    # 32 GB HBM2 at 1.2 TB/s.
    Accelerator(
        vendor="Iluvatar CoreX",
        model="BI-V100",
        domestic=True,
        memory_gib=32,
        memory_bandwidth_gbs=1200,
        tflops=_tf(fp32=37, bf16=147, fp16=147, int8=295),
        interconnect="PCIe Gen4 x16",
        software_stack="COREX",
        sources=(
            "https://www.iluvatar.com/",
            "https://gitee.com/deep-spark/deepsparkhub",
        ),
        aliases=("天垓100", "Tiangai-100", "Iluvatar BI-V100"),
    ),
    # ------------------------------------------------------------------ Hygon 海光
    # DCU Z100 (深算一号): Hygon publishes no per-precision datasheet we can cite. Public
    # reports give 32 GB HBM2 at ~1 TB/s, but they are not confirmed, so every figure is None;
    # the entry exists so pools and jobs can name the model.
    Accelerator(
        vendor="Hygon",
        model="DCU-Z100",
        domestic=True,
        memory_gib=None,
        memory_bandwidth_gbs=None,
        tflops=_tf(),
        interconnect=None,
        software_stack="DTK",
        sources=("https://www.hygon.cn/",),
        aliases=("Z100", "海光Z100", "深算一号", "Hygon DCU Z100"),
    ),
)


_SEPARATORS = re.compile(r"[\s_\-]+")


def normalize_model_name(name: str) -> str:
    """The lookup key of a model name or alias: case-folded, separators collapsed to '-'."""
    return _SEPARATORS.sub("-", name.strip().casefold()).strip("-")


def _build_index(catalog: Iterable[Accelerator]) -> dict[str, Accelerator]:
    index: dict[str, Accelerator] = {}
    for accelerator in catalog:
        for name in (accelerator.model, *accelerator.aliases):
            key = normalize_model_name(name)
            if not key:
                raise ValueError(f"empty model name or alias on {accelerator.model!r}")
            other = index.get(key)
            if other is not None and other.model != accelerator.model:
                raise ValueError(
                    f"accelerator name {name!r} is claimed by both {other.model!r} "
                    f"and {accelerator.model!r}"
                )
            index[key] = accelerator
    return index


_INDEX: dict[str, Accelerator] = _build_index(CATALOG)


def catalog_by_model() -> dict[str, Accelerator]:
    """Every model name and alias (as normalized lookup keys) mapped to its accelerator."""
    return dict(_INDEX)


def get_accelerator(model: str) -> Accelerator:
    """Looks a model up by name or alias (case-insensitive, separator-insensitive)."""
    found = _INDEX.get(normalize_model_name(model))
    if found is None:
        known = ", ".join(a.model for a in CATALOG)
        raise UnknownAccelerator(
            msg(
                f"未知加速卡型号 {model!r}；已知型号：{known}",
                f"unknown accelerator {model!r}; known models: {known}",
            ),
            field="accelerator",
        )
    return found


def matches(accelerator: Accelerator, name: str) -> bool:
    """True when `name` is the accelerator's model or one of its aliases (normalized)."""
    key = normalize_model_name(name)
    return any(key == normalize_model_name(n) for n in (accelerator.model, *accelerator.aliases))


def vendors() -> tuple[str, ...]:
    """The distinct vendors in the catalog, sorted."""
    return tuple(sorted({accelerator.vendor for accelerator in CATALOG}))
