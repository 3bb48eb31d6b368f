"""The ``cpucompat`` command line: a thin typer layer over the library.

Each command parses its options, calls the library, prints through ``views/``. Machine output
(``--json``) goes to stdout; messages go to stderr. Exit codes: 0 ok/compatible,
1 incompatible, 2 usage or input error. Every expected error is a ``CpuCompatError`` and is
handled in one place, ``errors.exit_on_error`` (through ``errors.handled``).
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from typing import Annotated

import typer

from . import __version__
from .cli_help import PlainHelpGroup
from .errors import UsageError, exit_on_error, handled
from .knowledge.vocabularies import VOCABULARIES
from .masks import FORMATS as MASK_FORMATS
from .text import printable

app = typer.Typer(
    cls=PlainHelpGroup,
    name="cpucompat",
    help="Can a VM live-migrate between these x86 servers without losing a CPU feature?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


#: The --names choices: knowledge/vocabularies.py's list.
Vocabulary = Enum("Vocabulary", {name: name for name in VOCABULARIES}, type=str)
NAMES_OPTION = typer.Option("--names", help="Vocabulary of the feature names.")
JSON_OPTION = typer.Option("--json", help="Machine-readable JSON on stdout.")


def emit_json(document: object) -> None:
    """One JSON document on stdout; strict JSON (a NaN is a bug, never printed as bare NaN)."""
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=False, allow_nan=False) + "\n")


def _version(value: bool) -> None:
    if value:
        with exit_on_error():  # flushes: `--version > /dev/full` is an error line, not a traceback
            print(f"cpucompat {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Can a VM live-migrate between these x86 servers without losing a CPU feature?"""


@app.command()
@handled
def decode(
    input: Annotated[str, typer.Argument(metavar="INPUT", help="A fingerprint or CPUID dump (any supported format); - for stdin.")],
    names: Annotated[Vocabulary, NAMES_OPTION] = Vocabulary.linux,
    as_json: Annotated[bool, JSON_OPTION] = False,
    per_cpu: Annotated[bool, typer.Option("--per-cpu", help="Also show every logical CPU.")] = False,
) -> None:
    """Decode a CPUID dump into vendor, signature, fields and named features.

    Example: cpucompat decode host.json --names vmware"""
    from .decode import decode as decode_dump
    from .formats.reader import read_dump
    from .views.decode import decode_document, print_decoded

    document = decode_document(decode_dump(read_dump(input)), names.value, per_cpu)
    emit_json(document) if as_json else print_decoded(document)
    for warning in document["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)


@app.command()
@handled
def collect(
    output: Annotated[str, typer.Option("-o", "--output", metavar="FILE", help="Write the fingerprint here, atomically (default: stdout).")] = "-",
    cpus: Annotated[str | None, typer.Option("--cpus", metavar="LIST", help="Only these logical CPUs, e.g. 0,2-3.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing output file.")] = False,
    check: Annotated[bool, typer.Option("--check", help="Print a human summary (findings, per-CPU and KVM differences).")] = False,
    load_msr: Annotated[bool, typer.Option("--load-msr", help="Load the msr module (modprobe msr) to read BIOS MSRs.")] = False,
    nfd: Annotated[str | None, typer.Option("--nfd", metavar="FILE", help="Also write a Node Feature Discovery feature file of cpucompat.io/ labels (replaced atomically).")] = None,
    prometheus: Annotated[str | None, typer.Option("--prometheus", metavar="FILE", help="Also write a node_exporter textfile (.prom) with the fingerprint's gauges (replaced atomically).")] = None,
) -> None:
    """Fingerprint this host: raw CPUID of every CPU, XCR0, kernel view, firmware, BIOS findings, KVM's CPUID.

    Example: cpucompat collect -o /var/lib/cpucompat/$(hostname).json"""
    from .collect.command import run

    run(output=output, cpus=cpus, force=force, check=check, load_msr=load_msr, nfd=nfd, prometheus=prometheus)


Accel = Enum("Accel", {"kvm": "kvm", "tcg": "tcg"}, type=str)


QEMU_VERSION_OPTION = typer.Option("--qemu-version", metavar="VERSION", help="QEMU release whose models to use, e.g. 7.2 "
                                                          "(default: the installed QEMU's, else the newest shipped).")
ACCEL_OPTION = typer.Option("--accel", help="QEMU models as a guest gets them under kvm (production) or tcg.")


def _use_qemu(version: str | None, accel: Accel, say: bool = True):
    """Select the QEMU table; say which on stderr (text mode, where QEMU models are used)."""
    from .knowledge.baselines import select_qemu

    selection = select_qemu(version, accel.value)
    if say:
        print(f"note: {selection.message()}", file=sys.stderr)
    return selection


KVM_OPTION = typer.Option("--kvm", help="Use what KVM can offer guests (the fingerprints' "
                                        "KVM_GET_SUPPORTED_CPUID) instead of the raw host CPUID.")
ALL_BITS_OPTION = typer.Option("--all-bits", help="Judge every CPUID bit: host-only ones (HWP, EST, SMX, "
                                                  "VMX/SVM ...) and KVM-emulated ones (x2apic ...) too.")
GUEST_OPTION = typer.Option("--guest", metavar="OS", help="Check that this guest OS boots on the result, e.g. rhel-9 or "
                                            "windows-server-2025 (repeat; default: warn about every floor in "
                                            "data/guest-os-floors.csv the result falls below).")


def _decode_all(inputs: list[str], kvm: bool = False, vm_first: bool = False):
    """Decode every input (hosts only, but for a VM first where ``vm_first``); warnings go to stderr."""
    from .decode import decode as decode_dump, kvm_view
    from .formats.reader import read_dump, read_host

    dumps = [(read_dump if vm_first and i == 0 else read_host)(path) for i, path in enumerate(inputs)]
    hosts = [decode_dump(kvm_view(d) if kvm else d) for d in dumps]
    _name_uniquely(hosts)
    for host in hosts:
        for warning in host.warnings:
            print(f"warning: {host.name}: {warning}", file=sys.stderr)
    return hosts


def _name_uniquely(hosts) -> None:
    """Hosts that share a name (``dc1/host.txt`` and ``dc2/host.txt``) are named by their path; says so."""
    from .dump import unique_names

    for host, name in zip(hosts, unique_names([h.name for h in hosts], [h.path for h in hosts])):
        if name != host.name:
            print(f"note: host name {host.name} is not unique; naming this host {name}", file=sys.stderr)
            host.name = name


@app.command()
@handled
def baseline(
    inputs: Annotated[list[str], typer.Argument(metavar="INPUT...", help="Fingerprints or dumps of the cluster's hosts.")],
    names: Annotated[Vocabulary, NAMES_OPTION] = Vocabulary.linux,
    as_json: Annotated[bool, JSON_OPTION] = False,
    cross_vendor: Annotated[bool, typer.Option("--cross-vendor", help="Allow mixed vendors: vendor-neutral features only.")] = False,
    include_nonmigratable: Annotated[bool, typer.Option("--include-nonmigratable", help="Keep invtsc and other non-migratable features.")] = False,
    kvm: Annotated[bool, KVM_OPTION] = False,
    qemu_version: Annotated[str | None, QEMU_VERSION_OPTION] = None,
    accel: Annotated[Accel, ACCEL_OPTION] = Accel.kvm,
    all_bits: Annotated[bool, ALL_BITS_OPTION] = False,
    guest: Annotated[list[str] | None, GUEST_OPTION] = None,
) -> None:
    """The features every host can offer a VM: levelled fields, named modes, weakest links.

    Then the next step: the EVC mode / QEMU model to configure, the hosts to fix or leave out for the next.

    Example: cpucompat baseline host-1.json host-2.json host-3.json"""
    from .advice import baseline_steps
    from .cluster import Policy, cluster_baseline
    from .guests import validate, warn as guest_floors
    from .views.baseline import baseline_json, print_baseline

    validate(guest or [])  # an unknown --guest is one error line, before the QEMU note
    hosts, selection = _decode_all(inputs, kvm), _use_qemu(qemu_version, accel, not as_json)  # bad input: no note
    policy = Policy(include_nonmigratable, cross_vendor, all_bits)
    result = cluster_baseline(hosts, policy)
    options = [flag for flag, on in (("--kvm", kvm), ("--all-bits", all_bits)) if on]
    document = baseline_json(result, names.value, baseline_steps(result, policy, options))
    document["qemu_version"], document["accel"] = selection.version, selection.accel
    document["guest_floors"] = guest_floors(result.features | Policy(all_bits=all_bits).never_blocking(),
                                            "this cluster's baseline", guest or [])
    emit_json(document) if as_json else print_baseline(document)


@app.command()
@handled
def compare(
    source: Annotated[str | None, typer.Argument(metavar="SOURCE", help="The CPU the VM sees now (omit with --evc/--qemu-model).")] = None,
    targets: Annotated[list[str] | None, typer.Argument(metavar="TARGET...", help="Hosts the VM should be able to run on.")] = None,
    evc: Annotated[str | None, typer.Option("--evc", metavar="MODE", help="An EVC mode stands in for SOURCE.")] = None,
    qemu_model: Annotated[str | None, typer.Option("--qemu-model", metavar="MODEL", help="A QEMU model stands in for SOURCE.")] = None,
    names: Annotated[Vocabulary, NAMES_OPTION] = Vocabulary.linux,
    as_json: Annotated[bool, JSON_OPTION] = False,
    kvm: Annotated[bool, KVM_OPTION] = False,
    qemu_version: Annotated[str | None, QEMU_VERSION_OPTION] = None,
    accel: Annotated[Accel, ACCEL_OPTION] = Accel.kvm,
    all_bits: Annotated[bool, ALL_BITS_OPTION] = False,
) -> None:
    """Can a VM that sees SOURCE's CPU run on each TARGET? Exit 0 all compatible, 1 any incompatible.

    Summary first, then what is missing, grouped, and the next step (the mask command, the EVC mode /
    QEMU model both offer, the BIOS setting).

    Example: cpucompat compare sapphire-rapids.json haswell-1.json haswell-2.json"""
    from .advice import compare_steps
    from .cluster import Policy
    from .compare import compare as verdict_for, source_from_baseline, source_from_host
    from .views.compare import compare_document, print_verdicts

    paths = [p for p in [source, *(targets or [])] if p]
    named_source = evc or qemu_model
    if not paths or (named_source is None and len(paths) < 2):
        raise UsageError("give SOURCE and at least one TARGET, or --evc/--qemu-model and a TARGET")
    hosts = _decode_all(paths, kvm, vm_first=named_source is None)  # bad input fails before any note
    selection = _use_qemu(qemu_version, accel, not as_json and bool(qemu_model or qemu_version))
    policy = Policy(all_bits=all_bits)
    vm = None if named_source else hosts.pop(0)
    origin = source_from_baseline(named_source, policy) if named_source else source_from_host(vm, policy)
    verdicts = [verdict_for(origin, host, policy) for host in hosts]
    options = [flag for flag, on in (("--kvm", kvm), ("--all-bits", all_bits)) if on]
    steps = [compare_steps(origin, v, host, vm, policy, options) for v, host in zip(verdicts, hosts)]
    document = compare_document(origin, verdicts, selection.version, selection.accel, names.value, steps)
    if not as_json:
        for note in origin.notes:
            print(f"note: {note}", file=sys.stderr)
    emit_json(document) if as_json else print_verdicts(document)
    if not all(v.compatible for v in verdicts):
        raise typer.Exit(1)


evc_app = typer.Typer(help="VMware EVC modes: list, show, and the highest mode each host supports.",
                      no_args_is_help=True)
app.add_typer(evc_app, name="evc")


@evc_app.command("list")
@handled
def evc_list(as_json: Annotated[bool, JSON_OPTION] = False) -> None:
    """Every EVC mode cpucompat knows, by vendor and level.

    Example: cpucompat evc list"""
    from .knowledge.baselines import load_baselines
    from .views.evc import baseline_summary, print_mode_list

    document = [baseline_summary(b) for b in load_baselines("evc")]
    emit_json(document) if as_json else print_mode_list(document)


@evc_app.command("show")
@handled
def evc_show(
    mode: Annotated[str, typer.Argument(metavar="MODE", help="An EVC mode key, e.g. intel-skylake.")],
    names: Annotated[Vocabulary, NAMES_OPTION] = Vocabulary.linux,
    as_json: Annotated[bool, JSON_OPTION] = False,
) -> None:
    """One EVC mode: its features and what it adds over its parent.

    Example: cpucompat evc show intel-skylake --names vmware"""
    from .knowledge.baselines import get
    from .views.evc import baseline_detail, print_mode_detail

    document = baseline_detail(get(mode), names.value)
    emit_json(document) if as_json else print_mode_detail(document)


@evc_app.command("check")
@handled
def evc_check(
    inputs: Annotated[list[str], typer.Argument(metavar="INPUT...", help="Fingerprints or dumps of hosts.")],
    as_json: Annotated[bool, JSON_OPTION] = False,
    all_bits: Annotated[bool, ALL_BITS_OPTION] = False,
    guest: Annotated[list[str] | None, GUEST_OPTION] = None,
) -> None:
    """The highest EVC mode each host supports, the cluster's mode, and why not the next one.

    Then the next step: the BIOS setting or microcode to fix, or the host to leave out, for the next mode.

    Example: cpucompat evc check host-1.json host-2.json"""
    from .advice import evc_check_steps
    from .cluster import Policy
    from .evc import check_hosts
    from .guests import validate, warn as guest_floors
    from .knowledge.baselines import get as get_baseline
    from .views.evc import evc_check_document, print_evc_check

    validate(guest or [])
    hosts, policy = _decode_all(inputs), Policy(all_bits=all_bits)
    check = check_hosts(hosts, policy)
    document = evc_check_document(check, evc_check_steps(check, hosts, policy))
    mode = (document.get("cluster") or document["hosts"][0]).get("max_evc_mode")
    if mode:
        document["guest_floors"] = guest_floors(get_baseline(mode).features, mode, guest or [])
    emit_json(document) if as_json else print_evc_check(document)


@app.command("diff")
@handled
def diff_command(
    old: Annotated[str, typer.Argument(help="The host's earlier fingerprint, or a folder of its dated fingerprints (the history).")],
    new: Annotated[str | None, typer.Argument(help="The host's later fingerprint (omit for a folder).")] = None,
    names: Annotated[Vocabulary, NAMES_OPTION] = Vocabulary.linux,
    as_json: Annotated[bool, JSON_OPTION] = False,
) -> None:
    """What changed in one host's CPU (features, scalars, BIOS findings, microcode, kernel) and the named baselines it no longer meets. Exit 0 same, 1 changed.

    Example: cpucompat diff host-2024-01.json host-2024-06.json"""
    from .diff import diff_paths, history
    from .views.diff import diff_json, history_json, print_diff, print_history

    if new is None:
        document = history_json(history(old), names.value)
        emit_json(document) if as_json else print_history(document)
        warnings = [w for step in document["steps"] for w in step["warnings"]]
    else:
        document = diff_json(diff_paths(old, new), names.value)
        emit_json(document) if as_json else print_diff(document)
        warnings = document["warnings"]
    for warning in warnings:
        print(f"warning: {printable(warning)}", file=sys.stderr)
    if document["changed"]:
        raise typer.Exit(1)


#: The registry's formats (cpucompat.masks.FORMATS), plus vmx-evc: a whole EVC mode's featureMask
#: (cpucompat/vsphere/evc_vmx.py), made from a mode rather than a plan.
MaskFormat = Enum("MaskFormat", {name.replace("-", "_"): name for name in (*MASK_FORMATS, "vmx-evc")}, type=str)


@app.command()
@handled
def mask(
    vm_input: Annotated[str, typer.Argument(metavar="VM", help="The CPU the VM sees now: its host's fingerprint or a dump from inside the guest.")],
    target: Annotated[list[str] | None, typer.Option("--target", metavar="HOST", help="A host the VM must be able to run on (repeat).")] = None,
    evc: Annotated[str | None, typer.Option("--evc", metavar="MODE", help="Mask down to this EVC mode.")] = None,
    qemu_model: Annotated[str | None, typer.Option("--qemu-model", metavar="MODEL", help="Mask down to this QEMU model (or psABI level).")] = None,
    fmt: Annotated[MaskFormat | None, typer.Option("--format", "-f", help="Configuration language of the mask (default: featmask for vSphere records, else qemu).")] = None,
    output: Annotated[str, typer.Option("-o", "--output", metavar="FILE", help="Write the mask here, atomically (default: stdout).")] = "-",
    force: Annotated[bool, typer.Option("--force", help="Replace an existing output file.")] = False,
    qemu_base: Annotated[str, typer.Option("--qemu-base", metavar="BASE", help="qemu format: -cpu BASE (host, max or a model).")] = "host",
    libvirt_mode: Annotated[str, typer.Option("--libvirt-mode", metavar="MODE", help="libvirt format: custom or host-passthrough.")] = "custom",
    name: Annotated[str, typer.Option("--name", metavar="NAME", help="Model/profile name for the proxmox and kubevirt formats.")] = "",
    kvm: Annotated[bool, KVM_OPTION] = False,
    qemu_version: Annotated[str | None, QEMU_VERSION_OPTION] = None,
    accel: Annotated[Accel, ACCEL_OPTION] = Accel.kvm,
    all_bits: Annotated[bool, ALL_BITS_OPTION] = False,
    guest: Annotated[list[str] | None, GUEST_OPTION] = None,
) -> None:
    """The per-VM CPUID mask that hides what the targets lack, in a hypervisor's own syntax.

    Example: cpucompat mask vm-host.json --target host-2.json --target host-3.json --format libvirt"""
    from .output import refuse_existing, write_text
    from .cluster import Policy
    from .guests import validate, warn as guest_floors
    from .masks import MaskOptions, plan_for_baseline, plan_for_hosts, render

    if sum(x is not None and x != [] for x in (target, evc, qemu_model)) != 1:
        raise UsageError("give exactly one of --target (repeatable), --evc or --qemu-model")
    validate(guest or [])
    refuse_existing(output, force)  # before any work: an existing file, a FIFO
    if fmt is MaskFormat.vmx_evc:  # per-VM EVC: the whole featureMask of a mode (cpucompat/vsphere/evc_vmx.py)
        from .vsphere.evc_vmx import mode_for, render as render_evc
        if qemu_model:
            raise UsageError("--format vmx-evc takes --evc MODE or --target HOSTS (the highest mode all offer)")
        vm = _decode_all([vm_input], kvm, vm_first=True)[0]
        text = render_evc(mode := mode_for(evc, None if evc else _decode_all(target, kvm)), vm.name)
        guest_floors(vm.features & mode.features, f"this mask (EVC mode {mode.key})", guest or [], before=vm.features)
        write_text(output, text, force=force)
        return
    vm, *targets = _decode_all([vm_input, *(target or [])], kvm, vm_first=True)
    qemu = _use_qemu(qemu_version, accel, say=False)  # said once the mask is made: bad input is one line
    policy = Policy(all_bits=all_bits)
    plan = plan_for_hosts(vm, targets, policy) if target else plan_for_baseline(vm, evc or qemu_model, policy)
    fmt = fmt or (MaskFormat.featmask if any(h.format.startswith("vsphere-") for h in (vm, *targets)) else MaskFormat.qemu)
    text = render(plan, fmt.value, MaskOptions(qemu_base, libvirt_mode, name))  # bad options fail here, before any note
    if qemu_model or qemu_version:
        print(f"note: {qemu.message()}", file=sys.stderr)
    if plan.empty:
        print(f"nothing to hide: {plan.target_label} offer every feature the VM sees", file=sys.stderr)
    elif plan.hidden:  # summary first: what the VM loses, by group and family
        from .views.console import group_summary

        print(f"note: the mask hides {', '.join(group_summary(plan.hidden, ''))}", file=sys.stderr)
    guest_floors(plan.vm_features - set(plan.hidden), f"this mask ({plan.target_label})", guest or [],
                 before=plan.vm_features)  # by default only the floors the mask takes away
    write_text(output, text, force=force)


# fleet (cpucompat/cli_fleet.py): `fleet INPUT...` (analyse, the default) and `fleet synth`.
from .cli_fleet import fleet_app

app.add_typer(fleet_app, name="fleet")

# report (cpucompat/cli_report.py): `report INPUT... -o report.html`, the fleet as one HTML page.
from .cli_report import report

app.command("report")(report)


# vSphere (cpucompat/vsphere/cli.py): `vsphere collect`, `vsphere apply-evc`, `vmotion check`.
from .vsphere.cli import vmotion_app, vsphere_app

app.add_typer(vsphere_app, name="vsphere")
app.add_typer(vmotion_app, name="vmotion")


def main() -> None:
    """Console-script entry point: ``cli_help.run`` (collect's fast path, one-line usage errors)."""
    from .cli_help import run

    sys.exit(run(app))
