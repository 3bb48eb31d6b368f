"""``--help`` without typer's type placeholders, for every command of the app.

Typer 0.29 shows each parameter's Python type (``<str>``, ``<bool>``, ``<list[str]>``) and
required arguments as ``{input}``. ``PlainHelpGroup``, the root group of ``cli.app``, walks every
command once it is built, sub-apps' included (``fleet``, ``vsphere``, ``report`` ... are built
before the root), so each ``--help`` shows an argument by its metavar (``INPUTS...``), an option by
its metavar (``MODE``, else its name) or its choices (``kvm|tcg``), and a flag by nothing.
"""

from __future__ import annotations

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
