"""The ``cpucompat vsphere`` and ``cpucompat vmotion`` commands (registered by cpucompat.cli)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from ..errors import UsageError, handled

vsphere_app = typer.Typer(no_args_is_help=True, help="vSphere: read ESXi hosts and VMs from vCenter or a saved inventory.")
vmotion_app = typer.Typer(no_args_is_help=True, help="vMotion: can these VMs move to these hosts (the seed's conditions)?")


SERVER = typer.Option("--server", metavar="VCENTER", help="vCenter: HOST, HOST:PORT or https://HOST[:PORT].")
USER = typer.Option("--user", help="User name (default: $CPUCOMPAT_VSPHERE_USER). The password comes from "
                                   "$CPUCOMPAT_VSPHERE_PASSWORD, --password-file or a prompt.")
PASSWORD_FILE = typer.Option("--password-file", metavar="FILE", help="Read the password from the first line of this file.")
INSECURE = typer.Option("--insecure", help="Do not verify vCenter's TLS certificate.")
CA_FILE = typer.Option("--ca-file", metavar="FILE", help="Trust the CA (or certificate) in this PEM file.")
FROM_SAVE = typer.Option("--from-save", metavar="DIR", help="Read a `govc object.save -d` folder instead of vCenter.")


def load(server, user, password_file, insecure, ca_file, from_save, records_dir=None):
    """(host records, VM records) from exactly one source."""
    from . import records as rec

    given = [x for x in (server, from_save, records_dir) if x]
    if len(given) != 1:
        raise UsageError("give exactly one of --server, --from-save" + (", --records" if records_dir is not None else ""))
    if records_dir:
        from .store import read_records

        return read_records(records_dir)
    if from_save:
        from .saved import read_save

        return rec.records(read_save(from_save))
    from .collect import retrieve
    from .connect import session

    with session(server, user, password_file, insecure, ca_file) as (target, si):
        inventory = retrieve(si)
    inventory.source = f"vcenter {target.label}"
    return rec.records(inventory)


@vsphere_app.command("collect")
@handled
def collect(
    server: Annotated[str | None, SERVER] = None,
    user: Annotated[str | None, USER] = None,
    password_file: Annotated[str | None, PASSWORD_FILE] = None,
    insecure: Annotated[bool, INSECURE] = False,
    ca_file: Annotated[str | None, CA_FILE] = None,
    from_save: Annotated[str | None, FROM_SAVE] = None,
    output: Annotated[str | None, typer.Option("-o", "--output", metavar="DIR", help="Write DIR/hosts/*.json and DIR/vms/*.json.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing output folder.")] = False,
) -> None:
    """One fingerprint per ESXi host and one record per VM (JSON on stdout, or a folder with -o).

    Example: cpucompat vsphere collect --server vcenter.example.com --user admin@vsphere.local -o inventory/"""
    hosts, vms = load(server, user, password_file, insecure, ca_file, from_save)
    if output:
        from .store import write_records

        write_records(hosts, vms, output, force)
        from ..views.console import counted

        print(f"{counted(len(hosts), 'host')}, {counted(len(vms), 'VM')} written to {output}", file=sys.stderr)
    else:
        sys.stdout.write(json.dumps({"hosts": hosts, "vms": vms}, indent=1) + "\n")


@vmotion_app.command("check")
@handled
def vmotion_check(
    vms: Annotated[list[str] | None, typer.Argument(metavar="VM...", help="VM names (default: every VM, or those of --cluster).")] = None,
    to: Annotated[list[str] | None, typer.Option("--to", metavar="HOST", help="Target host name (repeat; default: every host, "
                                                              "or those of --cluster).")] = None,
    cluster: Annotated[str | None, typer.Option("--cluster", metavar="CLUSTER", help="The VMs and hosts of this cluster.")] = None,
    server: Annotated[str | None, SERVER] = None,
    user: Annotated[str | None, USER] = None,
    password_file: Annotated[str | None, PASSWORD_FILE] = None,
    insecure: Annotated[bool, INSECURE] = False,
    ca_file: Annotated[str | None, CA_FILE] = None,
    from_save: Annotated[str | None, FROM_SAVE] = None,
    records_dir: Annotated[str | None, typer.Option("--records", metavar="DIR", help="A folder `vsphere collect -o` wrote.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")] = False,
    html: Annotated[str | None, typer.Option("--html", metavar="FILE", help="Also write the vMotion map (one self-contained "
                                                             "HTML page, one map per VM) to this file.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --html file.")] = False,
) -> None:
    """Can each VM move to each target host with vMotion? Every blocker with what to change. Exit 0 all can move, 1 some cannot, 2 bad input.

    Example: cpucompat vmotion check web-01 --to esx-02 --records inventory/ --html vmotion.html"""
    from ..views.vmotion import print_moves, vmotion_document
    from .vmotion import check, select

    if html:
        from ..output import refuse_existing

        refuse_existing(html, force)
    hosts, records = load(server, user, password_file, insecure, ca_file, from_save, records_dir or None)
    chosen = select(records, vms, "VM", cluster)
    targets = select(hosts, to, "host", cluster)
    moves = check(chosen, targets, hosts)
    document = vmotion_document(chosen, targets, moves)
    if html:
        from ..output import write_text
        from ..views.vmotion import vmotion_map

        write_text(html, vmotion_map(document, chosen), force=force)
    if as_json:
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        print_moves(document)
    if not all(m.can_move for m in moves):
        raise typer.Exit(1)


@vsphere_app.command("apply-evc")
@handled
def apply_evc(
    vm_name: Annotated[str, typer.Argument(metavar="VM", help="The VM (its name in vCenter).")],
    mode_key: Annotated[str, typer.Argument(metavar="MODE", help="The EVC mode, e.g. intel-broadwell.")],
    server: Annotated[str | None, SERVER] = None,
    user: Annotated[str | None, USER] = None,
    password_file: Annotated[str | None, PASSWORD_FILE] = None,
    insecure: Annotated[bool, INSECURE] = False,
    ca_file: Annotated[str | None, CA_FILE] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Apply it; without --yes only the change is printed.")] = False,
) -> None:
    """Per-VM EVC through vCenter: prints the change; applies it only with --yes.

    ApplyEvcModeVM_Task (vSphere API 6.7, hardware version 14+), or the legacy cpuFeatureMask of a
    ReconfigVM_Task for hardware version 8 and older; refuses powered-on VMs and hardware versions 9 to 13.

    Example: cpucompat vsphere apply-evc web-01 intel-broadwell --server vcenter.example.com --yes"""
    from . import evc_legacy, evc_vmx
    from .collect import retrieve
    from .connect import session
    from .records import host_record, vm_record

    mode = evc_vmx.mode_for(mode_key)
    if not server:
        raise UsageError("give --server (per-VM EVC is applied through vCenter)")
    with session(server, user, password_file, insecure, ca_file) as (target, si):
        inventory = retrieve(si)
        found = [o for o in inventory.of_type("VirtualMachine") if o.get("name") == vm_name]
        if len(found) != 1:
            raise UsageError(f"{'no' if not found else 'more than one'} VM named {vm_name!r} in {target.label}")
        record = vm_record(inventory, found[0])
        host = inventory.lookup(found[0].get("runtime.host"))
        host_api = (host_record(inventory, host)["esxi"].get("api_version") if host else None)
        method, reason = evc_legacy.choose(record, si.content.about.apiVersion, host_api)
        legacy = method == evc_legacy.CPU_FEATURE_MASK
        print(evc_legacy.render(mode, vm_name) if legacy else evc_vmx.render(mode, vm_name), end="")
        if reason:
            raise UsageError(reason)
        if not yes:
            print(f"dry run: nothing changed; add --yes to apply EVC {mode.key} to {vm_name} ({method})", file=sys.stderr)
            return
        if legacy:
            evc_legacy.apply(si, found[0].moid, mode, {e["level"] for e in record["cpu_feature_mask"]})
        else:
            evc_vmx.apply(si, found[0].moid, mode)
        print(f"applied EVC {mode.key} to {vm_name} ({method})", file=sys.stderr)
