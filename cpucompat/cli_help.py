"""``--help`` without typer's type placeholders, for every command of the app, and typer's usage
errors as one line (``run``).

Typer 0.29 shows each parameter's Python type (``<str>``, ``<bool>``, ``<list[str]>``) and
required arguments as ``{input}``. ``PlainHelpGroup``, the root group of ``cli.app``, walks every
command once it is built, sub-apps' included (``fleet``, ``vsphere``, ``report`` ... are built
before the root), so each ``--help`` shows an argument by its metavar (``INPUTS...``), an option by
its metavar (``MODE``, else its name) or its choices (``kvm|tcg``), and a flag by nothing.
"""

from __future__ import annotations

import sys

import typer


class _PlainArgument(typer.core.TyperArgument):
    """An argument shown by its metavar (INPUT...), without typer's ``{input}`` and ``<str>``."""

    def display_type_rich(self, ctx) -> None:
        return None

    def get_usage_pieces(self, ctx) -> list[str]:
        return [self.metavar if self.required else f"[{self.metavar}]"]


class _PlainOption(typer.core.TyperOption):
    """An option shown with its metavar (MODE, FILE ...) or its choices; a flag with nothing."""

    def display_type_rich(self, ctx) -> str | None:
        if self.is_flag:
            return None
        if self.type_descriptor.is_choice:
            return "|".join(str(getattr(c, "value", c)) for c in self.type_descriptor.choices or ())
        return self.metavar or (self.name or "value").upper()


def _plain(param) -> None:
    if isinstance(param, typer.core.TyperArgument):
        param.metavar = param.metavar or param.name.upper() + ("..." if param.nargs != 1 else "")
        param.__class__ = _PlainArgument
    elif isinstance(param, typer.core.TyperOption):
        param.__class__ = _PlainOption


class PlainHelpGroup(typer.core.TyperGroup):
    """The root group. It walks every command of the app, sub-apps' included (they are built before
    it), so each ``--help`` shows metavars or choices instead of type placeholders (``<str>``,
    ``<bool>``, ``<list[str]>``) and usage without ``{input}``: the one mechanism for the whole app."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        todo = [self]
        while todo:
            command = todo.pop()
            todo += getattr(command, "commands", {}).values()
            for param in command.params:
                _plain(param)
            command.get_help_option = _plain_help_option(command.get_help_option)


def _plain_help_option(get_help_option):
    def plain(ctx):
        option = get_help_option(ctx)
        if option is not None:
            _plain(option)
        return option
    return plain


def run(app: typer.Typer, prog_name: str = "cpucompat") -> int:
    """Run the app (``collect`` takes a fast path first); return its exit code. A usage error of typer/click (an unknown option or
    command, a bad choice, a missing argument) is one ``error:`` line naming the command's
    ``--help``, exit 2, as every other bad input; no arguments at all still show the help."""
    from .errors import exit_on_error

    if sys.argv[1:2] == ["collect"]:  # fast path: Typer's option coercion imports pydantic (~85 ms)
        from .collect.command import fast_path

        fast_path(sys.argv[2:])  # exits, unless Typer is needed (--help, an unknown option)
    try:
        return _run(app, prog_name)
    finally:
        with exit_on_error():  # output still buffered (help, exit 1) fails here, not at exit
            sys.stdout.flush()


def _run(app: typer.Typer, prog_name: str) -> int:
    from typer._click import exceptions as click  # typer 0.29 carries its own click; typer.Exit/Abort are its

    try:
        code = typer.main.get_command(app).main(prog_name=prog_name, standalone_mode=False)
    except click.NoArgsIsHelpError as error:
        error.show()
        return 2
    except click.UsageError as error:
        where = error.ctx.command_path if error.ctx else prog_name
        message = error.format_message().replace("Value error, ", "")  # pydantic's prefix on a bad choice
        print(f"error: {message} (see '{where} --help')", file=sys.stderr)
        return 2
    except click.ClickException as error:
        print(f"error: {error.format_message()}", file=sys.stderr)
        return error.exit_code
    except typer.Abort:
        print("Aborted!", file=sys.stderr)
        return 1
    return code if isinstance(code, int) else 0
