"""Shared test helpers: where the reference data and our own fixtures are."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest

REPO = Path(__file__).resolve().parents[1]
TEST_DATA = REPO / "tests" / "data"
REFERENCE = REPO.parent / "shared" / "reference"


#: Set (CI does) to make a missing QEMU or gcc fail the probe tests instead of skipping them.
REQUIRE_QEMU_ENV = "CPUCOMPAT_REQUIRE_QEMU"


def require_qemu(what: str = "the QEMU probe") -> None:
    """Skip (or fail, where REQUIRE_QEMU_ENV is set) when qemu-system-x86_64 or gcc is missing."""
    from tests.qemu_probe import harness

    if not harness.available():
        message = f"{what} needs {harness.QEMU} and {harness.GCC}, and one is not installed"
        if os.environ.get(REQUIRE_QEMU_ENV, "") not in ("", "0"):
            pytest.fail(f"{message}, and {REQUIRE_QEMU_ENV} is set")
        pytest.skip(message)


@pytest.fixture(scope="session")
def probe_kernel() -> Path:
    """The built CPUID probe image (tests/qemu_probe)."""
    from tests.qemu_probe import harness

    require_qemu()
    return harness.build_probe()


#: Set (CI does) to make a missing ../shared/reference fail the tests that read it instead of skipping.
REQUIRE_REFERENCE_ENV = "CPUCOMPAT_REQUIRE_REFERENCE"


def reference(*parts: str) -> Path:
    """A path under ../shared/reference; skips the test cleanly when it is absent (fails where
    REQUIRE_REFERENCE_ENV is set). The one home of that rule."""
    path = REFERENCE.joinpath(*parts)
    if not path.exists():
        missing_reference(path)
    return path


def missing_reference(path: Path = REFERENCE) -> NoReturn:
    """Skip (or fail, where REQUIRE_REFERENCE_ENV is set) a test whose reference data is absent."""
    message = f"../shared/reference not available ({path} is missing)"
    if os.environ.get(REQUIRE_REFERENCE_ENV, "") not in ("", "0"):
        pytest.fail(f"{message}, and {REQUIRE_REFERENCE_ENV} is set")
    pytest.skip(message)


#: Highest EVC mode of real server CPUs: InstLatx64 dumps, by file name.
EVC_INSTLATX64 = {
    # Rev. C SledgeHammer (130 nm): no SSE3 nor LAHF in 64-bit mode; EVC starts at Rev. E.
    "AuthenticAMD0000F5A_K8_Sledgehammer_CPUID.txt": None,
    "AuthenticAMD0100F42_K10_Shanghai_CPUID.txt": "amd-greyhound",
    "AuthenticAMD0600F12_K15_Interlagos_CPUID3.txt": "amd-bulldozer",
    "AuthenticAMD0600F20_K15_AbuDhabi_CPUID2.txt": "amd-piledriver",
    "AuthenticAMD0800F12_K17_Zen_CPUID.txt": "amd-zen",
    "AuthenticAMD0830F10_K17_Rome_CPUID2.txt": "amd-zen2",
    "AuthenticAMD0A00F11_K19_Milan_CPUID1.txt": "amd-zen3",
    "AuthenticAMD0A10F11_K19_Genoa_02_CPUID.txt": "amd-zen4",
    "AuthenticAMD0B00F21_K20_Turin_01_CPUID.txt": "amd-zen4",
    "GenuineIntel00006F6_Merom_CPUID.txt": "intel-merom",
    "GenuineIntel00106E5_Lynnfield_CPUID.txt": "intel-nehalem",
    # Dumps taken before Intel's 2018 microcode: no IBRS/IBPB, STIBP, SSBD nor L1D flush (CPUID 7
    # EDX 26-28, 31), which vCenter's Westmere and later masks expose; vCenter stops them at Nehalem.
    "GenuineIntel00206A7_SandyBridge_CPUID.txt": "intel-nehalem",
    "GenuineIntel00306F2_HaswellEP_00_CPUID.txt": "intel-haswell",
    "GenuineIntel0050654_SkylakeXeon_CPUID9.txt": "intel-nehalem",
    "GenuineIntel0050657_CascadeLakeSP_CPUID1.txt": "intel-cascadelake",
    "GenuineIntel00606A6_ICX_CPUID3.txt": "intel-icelake",
    "GenuineIntel00806F8_SapphireRapids_05_CPUID.txt": "intel-sapphirerapids",
    "GenuineIntel00C06F2_EmeraldRapids_03_CPUID.txt": "intel-sapphirerapids",
    # Client parts without AVX-512 stop at Broadwell.
    "GenuineIntel0090672_AlderLake_01_LC_BC_CPUID.txt": "intel-broadwell",
    # A Hyper-V guest: Hyper-V hides MONITOR/MWAIT (and VMX), which vCenter's intel-merom mask exposes.
    "GenuineIntel00A0654_CometLake_CPUID.txt": None,
    # Other vendors: EVC modes are Intel or AMD only.
    "HygonGenuine0900F02_Hygon_CPUID.txt": None,
    "CentaurHauls00507B3_KX40000_01_CPUID.txt": None,
}
