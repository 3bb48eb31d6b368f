"""The ``cpucompat vsphere`` and ``cpucompat vmotion`` commands (registered by cpucompat.cli)."""

from __future__ import annotations

import functools
import json
import os
import sys
from typing import Annotated

import typer

from ..errors import UsageError, exit_on_error

vsphere_app = typer.Typer(no_args_is_help=True, help="vSphere: read ESXi hosts and VMs from vCenter or a saved inventory.")
vmotion_app = typer.Typer(no_args_is_help=True, help="vMotion: can these VMs move to these hosts (the seed's conditions)?")


def _handle(command):
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        with exit_on_error():
            return command(*args, **kwargs)

    return wrapper


SERVER = typer.Option("--server", help="vCenter: HOST, HOST:PORT or https://HOST[:PORT].")
USER = typer.Option("--user", help="User name (default: $CPUCOMPAT_VSPHERE_USER). The password comes from "
                                   "$CPUCOMPAT_VSPHERE_PASSWORD, --password-file or a prompt.")
PASSWORD_FILE = typer.Option("--password-file", help="Read the password from the first line of this file.")
INSECURE = typer.Option("--insecure", help="Do not verify vCenter's TLS certificate.")
CA_FILE = typer.Option("--ca-file", help="Trust the CA (or certificate) in this PEM file.")
FROM_SAVE = typer.Option("--from-save", help="Read a `govc object.save -d` folder instead of vCenter.")


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
    from .connect import USER_ENV, VSphereError, connect, disconnect, parse_server, read_password

    target = parse_server(server)
    user = user or os.environ.get(USER_ENV)
    if not user:
        raise VSphereError(f"no user name for {target.host}: give --user or set {USER_ENV}")
    si = connect(target, user, read_password(password_file, user, target), insecure, ca_file)
    try:
        inventory = retrieve(si)
    finally:
        disconnect(si)
    inventory.source = f"vcenter {target.label}"
    return rec.records(inventory)


@vsphere_app.command("collect")
@_handle
def collect(
    server: Annotated[str | None, SERVER] = None,
    user: Annotated[str | None, USER] = None,
    password_file: Annotated[str | None, PASSWORD_FILE] = None,
    insecure: Annotated[bool, INSECURE] = False,
    ca_file: Annotated[str | None, CA_FILE] = None,
    from_save: Annotated[str | None, FROM_SAVE] = None,
    output: Annotated[str | None, typer.Option("-o", "--output", help="Write DIR/hosts/*.json and DIR/vms/*.json.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing output folder.")] = False,
) -> None:
    """One fingerprint per ESXi host and one record per VM (JSON on stdout, or a folder with -o)."""
    hosts, vms = load(server, user, password_file, insecure, ca_file, from_save)
    if output:
        from .store import write_records

        write_records(hosts, vms, output, force)
        print(f"{len(hosts)} hosts, {len(vms)} VMs written to {output}", file=sys.stderr)
    else:
        sys.stdout.write(json.dumps({"hosts": hosts, "vms": vms}, indent=1) + "\n")
