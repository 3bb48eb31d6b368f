"""Small, hand-written dumps of every format (shapes from ../shared/docs/cpuid-dump-formats.md).

Register values are those of real CPUs quoted in that document; the files themselves are not
copied. Used by the per-format tests and as seeds of the property tests.
"""

from __future__ import annotations

import json

CPUID_R = """\
CPU 0:
   0x00000000 0x00: eax=0x0000001c ebx=0x68747541 ecx=0x444d4163 edx=0x69746e65
   0x00000001 0x00: eax=0x00b00f21 ebx=0x00020800 ecx=0xfffa3203 edx=0x178bfbff
   0x00000007 0x00: eax=0x00000001 ebx=0xf1bf97a9 ecx=0x00415fce edx=0x10000010
   0x00000007 0x01: eax=0x00000030 ebx=0x00000000 ecx=0x00000000 edx=0x00000000
   0x0000000d 0x00: eax=0x000002e7 ebx=0x00000980 ecx=0x00000988 edx=0x00000000
   0x40000000 0x00: eax=0x40000001 ebx=0x4b4d564b ecx=0x564b4d56 edx=0x0000004d
CPU 1:
   0x00000000 0x00: eax=0x0000001c ebx=0x68747541 ecx=0x444d4163 edx=0x69746e65
   0x00000001 0x00: eax=0x00b00f21 ebx=0x01020800 ecx=0xfffa3203 edx=0x178bfbff
"""

CPUID_R_ONE = """\
CPU:
0X00000000 0X00: EAX=0x0000000D ebx=0x756E6547 ecx=0x6C65746E edx=0x49656E69
0x00000001 0x00: eax=0x000206A7 ebx=0x00100800 ecx=0x1FBAE3FF edx=0xBFEBFBFF
"""

CPUID_R_OLD = """\
# old cpuid -r form, no subleaf column
CPU 0:
   0x00000000: eax=0x0000000d ebx=0x756e6547 ecx=0x6c65746e edx=0x49656e69
   0x00000004: eax=0x1c004121 ebx=0x01c0003f ecx=0x0000003f edx=0x00000000
   0x00000004: eax=0x1c004122 ebx=0x01c0003f ecx=0x0000003f edx=0x00000000

   0x00000004: eax=0x1c004143 ebx=0x01c0003f ecx=0x000001ff edx=0x00000000
   xcr0=0x0000000000000007
"""

AIDA64_A = """\
------[ Versions ]------

Program Version : AIDA64 Engineer 6.92.6600

------[ CPUID Registers / Logical CPU #0 ]------

allcpu: Package 0 / Core 0 / Thread 0: Valid

CPUID 00000000: 00000010-68747541-444D4163-69746E65 [AuthenticAMD]
CPUID 00000001: 00A10F11-00200800-7EFA320B-178BFBFF
CPUID 00000007: 00000001-F1BF97A9-00415FCE-10000010 [SL 00]
CPUID 00000007: 00000020-00000000-00000000-00000000 [SL 01]
CPUID 0000000D: 00000040-00000340-00000000-00000000 [SL 05] [AVX-512 Opmask]
CPUID 80000002: 20444D41-43595045-32313920-36312034 [AMD EPYC 9124 16]
CPUID 8FFFFFFF: 00000000-00000000-00000000-00000000

L1    Data Cache:    32 KB,  8-way Associative, 64-byte Line

------[ CPUID Registers / Logical CPU #1 ]------

allcpu: Package 0 / Core 0 / Thread 1: Valid, Virtual

CPUID 00000001: 00A10F11-01200800-7EFA320B-178BFBFF
CPUID 00000000: 00000010-68747541-444D4163-69746E65 [AuthenticAMD]

------[ MSR Registers / Logical CPU #0 ]------

MSR C0010015: 0000-0000-8900-6011
MSR 0000010B: < FAILED >
"""

AIDA64_B = """\
------[ Versions ]------

Program Version : EVEREST v4.60.1628 Beta

------[ CPU Info ]------

CPUID CPU Name     : Intel(R) Core(TM) i5-2400 CPU @ 3.10GHz
CPUID Revision     : 000206A7h

------[ Logical CPU #0 ]------

allcpu: Valid

CPUID 00000000: 0000000D-756E6547-6C65746E-49656E69
CPUID 00000001: 000206A7-00100800-1FBAE3FF-BFEBFBFF
CPUID 00000004: 1C004121-01C0003F-0000003F-00000000
CPUID 00000004: 1C004122-01C0003F-0000003F-00000000
CPUID 0000000B: 00000001-00000001-00000100-00000000
CPUID 0000000B: 00000004-00000004-00000201-00000000
CPUID 0000000D: 00000007-00000340-00000340-00000000
CPUID 0000000D: 00000100-00000240-00000000-00000000

------[ MSR Registers ]------

MSR 00000017: 0014-0000-9A54-8B28 [PlatID = 5]
"""

AIDA64_C = """\
CPU#000 AffMask: 0x0000000000000001 
CPUID 00000000: 00000016-756E6547-6C65746E-49656E69 [GenuineIntel]
CPUID 00000001: 000A0654-00200800-FEFAF387-BFEBFBFF 
CPUID 00000004: 3C004121-01C0003F-0000003F-00000000 [SL 00]
CPUID 40000000: 4000000B-7263694D-666F736F-76482074 

CPU#001 AffMask: 0x0000000000000002 
CPUID 00000000: 00000016-756E6547-6C65746E-49656E69 [GenuineIntel]
CPUID 00000001: 000A0654-01200800-FEFAF387-BFEBFBFF 
"""

AIDA64_D = (
    "CPUID Registers (CPU #0):\n"
    "CPUID 00000000  \t00000010-68747541-444D4163-69746E65 [AuthenticAMD]\n"
    "CPUID 00000001  \t008A0F00-00080800-7EF8320B-178BFBFF\n"
    "\n"
    "CPUID Registers (CPU #1):\n"
    "CPUID 00000000  \t00000010-68747541-444D4163-69746E65 [AuthenticAMD]\n"
    "CPUID 00000001  \t008A0F00-01080800-7EF8320B-178BFBFF\n"
)

AIDA64_E = """\
CPUID 00000000: 00000001 68747541 444D4163 69746E65
CPUID 00000001: 00000F5A 00000800 00000000 078BFBFF
CPUID 80000000: 80000018 68747541 444D4163 69746E65

CPUID 00000000: 00000001-68747541-444D4163-69746E65
CPUID 00000001: 00000F5A-01000800-00000000-078BFBFF

CPUID 00000000: 00000001-68747541-444D4163-69746E65
CPUID 00000001: 00000F5A-02000800-00000000-078BFBFF
"""

LIBVIRT_XML = """\
<!-- AMD EPYC 7502 32-Core Processor -->
<cpudata arch='x86'>
  <cpuid eax_in='0x00000000' ecx_in='0x00' eax='0x00000010' ebx='0x68747541' ecx='0x444d4163' edx='0x69746e65'/>
  <cpuid eax_in='0x00000001' ecx_in='0x00' eax='0x00830f10' ebx='0x00400800' ecx='0x7ef8320b' edx='0x178bfbff'/>
  <cpuid eax_in='0x0000000d' ecx_in='0x09' eax='0x00000040' ebx='0x00000340' ecx='0x00000000' edx='0x00000000'/>
  <msr index='0x10a' edx='0x00000001' eax='0x00000069'/>
</cpudata>
"""

LIBCPUID_NATIVE = """\
version=0.7.0
_________________ Logical CPU #0 _________________
basic_cpuid[0]=00000004 756e6547 6c65746e 49656e69
basic_cpuid[1]=000006d3 00000800 80002001 078bfbfd
basic_cpuid[4]=00000121 01c0003f 0000003f 00000001
basic_cpuid[5]=00000121 01c0003f 0000003f 00000001
ext_cpuid[0]=80000001 68747541 444d4163 69746e65
ext_cpuid[1]=000006d3 00000000 00000001 2191abfd
ext_cpuid[2]=554d4551 72695620 6c617574 55504320
intel_fn4[1]=00000122 01c0003f 0000003f 00000001
intel_fn11[0]=00000121 01c0003f 0000003f 00000001
_________________ Logical CPU #1 _________________
basic_cpuid[0]=00000004 756e6547 6c65746e 49656e69
basic_cpuid[1]=000006d3 01000800 80002001 078bfbfd
--------------------------------------------------------------------------------
x86
x86-64-v1
general
6
13
3
"""

LIBCPUID_AIDA64 = AIDA64_B + "-" * 80 + "\nx86\nx86-64-v2\ngeneral\n6\n42\n7\n"

PROC_CPUINFO = """\
processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 26
model\t\t: 2
model name\t: AMD EPYC
stepping\t: 1
microcode\t: 0x1000065
flags\t\t: fpu vme de pse tsc msr pae hypervisor avx512_vp2intersect
power management:

processor\t: 1
vendor_id\t: AuthenticAMD
cpu family\t: 26
model\t\t: 2
model name\t: AMD EPYC
stepping\t: 1
microcode\t: 0x1000065
flags\t\t: fpu vme de pse tsc msr pae hypervisor avx512_vp2intersect
"""

FINGERPRINT_DOC = {
    "format": "cpucompat-fingerprint",
    "version": 1,
    "host": {"hostname": "node-a", "collected_at": "2026-01-01T00:00:00Z", "tool_version": "0.1.0"},
    "source": {"method": "cpuid-instruction"},
    "raw": {
        "cpus": [
            {
                "cpu": 0,
                "xcr0": "0x00000000000002e7",
                "leaves": [
                    ["0x00000000", "0x00", "0x00000010", "0x68747541", "0x444d4163", "0x69746e65"],
                    ["0x00000001", "0x00", "0x00a00f11", "0x00020800", "0xfffa3203", "0x178bfbff"],
                    ["0x00000007", "0x00", "0x00000000", "0x219c07ab", "0x0040069c", "0x88000010"],
                ],
            },
            {
                "cpu": 1,
                "xcr0": None,
                "leaves": [
                    ["0x00000000", "0x00", "0x00000010", "0x68747541", "0x444d4163", "0x69746e65"],
                ],
            },
        ],
        "kvm_supported": {
            "leaves": [["0x00000001", "0x00", "0x00a00f11", "0x00000000", "0xf6fa3203", "0x0f8bfbff"]]
        },
    },
    "kernel": {
        "version": "6.18.0",
        "cpus": [{"cpu": 0, "flags": ["fpu", "avx2"], "microcode": "0x1000065"}],
    },
    "firmware": {"bios_vendor": "SeaBIOS"},
    "findings": [],
    "notes": ["collected inside a KVM guest"],
    "content_hash": "sha256:" + "0" * 64,
}
FINGERPRINT = json.dumps(FINGERPRINT_DOC, indent=2)

#: format name -> a valid sample of it (seeds for mutation tests)
SAMPLES: dict[str, str] = {
    "cpuid-r": CPUID_R,
    "cpuid-r-one": CPUID_R_ONE,
    "cpuid-r-old": CPUID_R_OLD,
    "aida64-a": AIDA64_A,
    "aida64-b": AIDA64_B,
    "aida64-c": AIDA64_C,
    "aida64-d": AIDA64_D,
    "aida64-e": AIDA64_E,
    "libvirt-xml": LIBVIRT_XML,
    "libcpuid": LIBCPUID_NATIVE,
    "libcpuid-aida64": LIBCPUID_AIDA64,
    "proc-cpuinfo": PROC_CPUINFO,
    "fingerprint": FINGERPRINT,
}
