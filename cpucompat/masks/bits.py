"""Shared pieces of the mask renderers: forced register bits, names, comments.

Bit-level formats (vmx, xen-legacy) write, for every CPUID register a mask touches, which bits
are forced to 0 and which to 1; every other bit keeps its default. A plan becomes:

- each hidden feature: its bit forced to 0;
- each hidden XSAVE component: its bit of CPUID.(EAX=0xD,ECX=0):EDX:EAX (XCR0-managed) or
  CPUID.(EAX=0xD,ECX=1):EDX:ECX (IA32_XSS-managed) forced to 0;
- each lowered scalar (max basic leaf, max extended leaf, physical address bits): the whole
  field forced to the targets' value, bit by bit.

Name-based formats (featMask, libxl, Proxmox, KubeVirt) can only hide features their system
names; ``split_by_name`` says which hidden features a vocabulary can name and which it cannot,
and ``unexpressed_notes`` words the rest (and lowered limits, XSAVE components) as comments.
Model-based formats (Proxmox, KubeVirt) start the guest from a named QEMU model:
``choose_model`` picks it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .. import levels
from ..knowledge.baselines import Baseline, load_baselines
from ..cpuid_fields import xsave_components
from ..dump import REGISTERS
from ..knowledge.cpuid_layout import has_subleaves
from ..knowledge.features import Feature, feature_table
from ..text import printable
from .plan import MaskPlan, header_lines

Location = tuple[int, int, str]  # (leaf, subleaf, register)


_XCR0_REGS = ((0xD, 0, "eax"), (0xD, 0, "edx"))
_XSS_REGS = ((0xD, 1, "ecx"), (0xD, 1, "edx"))


@dataclass
class Forced:
    """The bits of one 32-bit register that a mask forces to 0 and to 1."""

    zeros: int = 0
    ones: int = 0

    def force(self, lowest: int, width: int, value: int) -> None:
        field = ((1 << width) - 1) << lowest
        self.ones = (self.ones & ~field) | (value << lowest & field)
        self.zeros = (self.zeros & ~field) | (~(value << lowest) & field)

    def string(self, keep: str, separator: str = "") -> str:
        """32 characters, bit 31 first: '0', '1', or ``keep`` for a bit left alone."""
        chars = ["0" if self.zeros >> bit & 1 else "1" if self.ones >> bit & 1 else keep
                 for bit in range(31, -1, -1)]
        if not separator:
            return "".join(chars)
        return separator.join("".join(chars[i:i + 4]) for i in range(0, 32, 4))


def has_subleaf(leaf: int) -> bool:
    """Whether the leaf's output depends on ECX (the subleaf); formats write it as "leaf,subleaf"."""
    return has_subleaves(leaf)


def _xsave_registers(plan: MaskPlan, component: int) -> tuple[Location, Location]:
    """CPUID.0xD.0 (XCR0) or CPUID.0xD.1 (IA32_XSS) registers: where the VM reports the bit."""
    cpu = plan.vm_cpu
    if cpu is not None:
        xss = cpu.reg(0xD, 1, "ecx") | cpu.reg(0xD, 1, "edx") << 32
        xcr0 = cpu.reg(0xD, 0, "eax") | cpu.reg(0xD, 0, "edx") << 32
        if xss >> component & 1 and not xcr0 >> component & 1:
            return _XSS_REGS
        if xcr0 >> component & 1:
            return _XCR0_REGS
    known = xsave_components().get(component, {})
    return _XSS_REGS if known.get("register") == "xss" else _XCR0_REGS


def forced_bits(plan: MaskPlan) -> dict[Location, Forced]:
    """Every register the plan touches, in CPUID order, with its forced bits."""
    forced: dict[Location, Forced] = {}
    table = feature_table()
    for name in plan.hidden:
        feature = table.by_name[name]
        forced.setdefault(feature.location, Forced()).zeros |= feature.mask
    for component in range(64):
        if plan.xsave_hidden >> component & 1:
            low, high = _xsave_registers(plan, component)
            location, bit = (low, component) if component < 32 else (high, component - 32)
            forced.setdefault(location, Forced()).zeros |= 1 << bit
    for name, value in plan.lower.items():
        field = levels.by_name()[name]
        forced.setdefault((field.leaf, field.subleaf, field.register), Forced()).force(field.lowest, field.width, value)
    order = {register: i for i, register in enumerate(REGISTERS)}
    return {loc: forced[loc] for loc in sorted(forced, key=lambda loc: (loc[0], loc[1], order[loc[2]]))}


def split_by_name(plan: MaskPlan, vocabulary: str) -> tuple[list[tuple[str, Feature]], list[Feature]]:
    """Hidden features as (name in the vocabulary, feature) sorted by that name, and those the
    vocabulary has no name for (in plan order)."""
    named, unnamed = [], []
    for name in plan.hidden:
        feature = feature_table().by_name[name]
        spelled = feature.name_in(vocabulary)
        if spelled:
            named.append((spelled, feature))
        else:
            unnamed.append(feature)
    return sorted(named, key=lambda pair: pair[0]), unnamed


def commented(lines: list[str], prefix: str = "# ") -> list[str]:
    """Comment lines; control characters (a newline in a host name) are escaped, so each
    line stays one comment line."""
    return [f"{prefix}{printable(line)}".rstrip() for line in lines]


def header(plan: MaskPlan, prefix: str = "# ") -> list[str]:
    """``header_lines`` in a format's comment syntax."""
    return commented(header_lines(plan), prefix)


@dataclass(frozen=True)
class Unexpressed:
    """How a name-based format words what it cannot say (each text ends a comment line)."""

    what: str  # the format, as the subject of "... cannot lower ..."
    features: str  # introduces the hidden features it has no name for
    lower: str  # after "cannot lower FIELD to VALUE (LOCATION);"
    xsave: str  # after "cannot hide XSAVE components MASK (CPUID leaf 0xD);"
    # Formats that start from a named model (choose_model, modelled_mask):
    model: str = "model"  # what the format calls the model it names
    disabled: str = "disabled below"  # how the model's extra features are taken away
    no_model: str = ""  # the note when no model fits
    beyond_targets: str = ""  # after "... has features some target lacks (no closer model fits)"


def unexpressed_notes(plan: MaskPlan, unnamed: list[Feature], words: Unexpressed,
                      lowerable: tuple[str, ...] = (), xsave_left: int | None = None) -> list[str]:
    """Comment lines for what a name-based format cannot say, and what to do about it.

    ``lowerable``: the lowered fields the format can express; ``xsave_left``: the hidden XSAVE
    components it cannot hide (default: all of them).
    """
    notes: list[str] = []
    if unnamed:
        notes.append(words.features)
        notes.extend(f"  {f.name}  {f.where()}" for f in unnamed)
    for name, value in plan.lower.items():
        if name not in lowerable:
            where = levels.by_name()[name].where()
            notes.append(f"{words.what} cannot lower {name} to {value} ({where}); {words.lower}")
    left = plan.xsave_hidden if xsave_left is None else xsave_left
    if left:
        notes.append(f"{words.what} cannot hide XSAVE components {left:#x} (CPUID leaf 0xD); {words.xsave}")
    return notes


def unowned_xsave(plan: MaskPlan, hidden_by_name: set[str]) -> int:
    """Hidden XSAVE components that no feature hidden by name owns.

    Systems that build leaf 0xD from the features they offer (Xen, QEMU) drop a component with
    the feature that owns it; the rest needs a bit-level format.
    """
    owned = 0
    for component, row in xsave_components().items():
        if row["feature"] in hidden_by_name:
            owned |= 1 << component
    return plan.xsave_hidden & ~owned


@dataclass(frozen=True)
class ModelChoice:
    """The QEMU/libvirt model a name-based format starts the guest from."""

    baseline: Baseline
    name: str  # as the format spells it
    disable: tuple[str, ...]  # the model's features the VM does not keep (canonical names)
    within_targets: bool  # every feature of the model is on the targets


def choose_model(plan: MaskPlan, vocabulary: str,
                 spell: Callable[[Baseline], str | None]) -> ModelChoice | None:
    """The closest QEMU model to start the masked VM from.

    A named model offers only its own features, so the guest sees the model's features minus
    the ones disabled. The choice: a model of the VM's vendor (or vendor-neutral), 64-bit when
    the VM keeps long mode, that the format can name (``spell``) and whose features beyond what
    the VM keeps can all be disabled by name. Preferred, in order: the fewest features the
    targets lack (none: the model is usable there, KubeVirt labels such nodes), the most
    agreement (features of the model the VM keeps, less those to disable), the fewest to
    disable, the highest level. Strict satisfaction (``baselines.highest_satisfied(plan.kept,
    ...)``) is the case with nothing to disable, but too narrow: a guest dump without nested
    virtualization (no ``svm``) satisfies no EPYC model, and a K8 without SSE3 no 64-bit one.
    """
    table = feature_table()
    kept = plan.kept
    best, best_score = None, None
    for baseline in load_baselines("qemu"):
        if not baseline.fits_vendor(plan.vm_vendor) or ("lm" in kept and "lm" not in baseline.features):
            continue
        name = spell(baseline)
        missing = baseline.required - kept  # what KVM emulates needs no disabling
        if not name or any(not table.by_name[n].name_in(vocabulary) for n in missing):
            continue
        beyond = baseline.features - plan.target_features
        agreement = len(baseline.features & kept) - len(missing)
        score = (-len(beyond), agreement, -len(missing), baseline.level, baseline.vendor is not None)
        if best_score is None or score > best_score:
            best, best_score = ModelChoice(baseline, name, tuple(sorted(missing)), not beyond), score
    return best


def satisfied_models(plan: MaskPlan) -> list[Baseline]:
    """QEMU models (baselines of kind ``qemu``) whose features the VM keeps, closest first.

    The first is ``baselines.highest_satisfied(plan.kept, plan.vm_vendor, "qemu")``.
    """
    kept = plan.kept
    found = [b for b in load_baselines("qemu") if b.fits_vendor(plan.vm_vendor) and b.required <= kept]
    return sorted(found, key=lambda b: (b.level, b.vendor is not None), reverse=True)


def modelled_mask(plan: MaskPlan, vocabulary: str, spell: Callable[[Baseline], str | None],
                  words: Unexpressed, lowerable: tuple[str, ...] = ()
                  ) -> tuple[ModelChoice | None, set[str], list[str]]:
    """For a format that names a model and disables features by name (KubeVirt, Proxmox): the
    model (``choose_model``), every name to disable (the hidden features and what the model has
    beyond the VM), and the comment lines for what it cannot say."""
    named, unnamed = split_by_name(plan, vocabulary)
    choice = choose_model(plan, vocabulary, spell)
    disabled = {name for name, _ in named}
    notes = unexpressed_notes(plan, unnamed, words, lowerable=lowerable,
                              xsave_left=unowned_xsave(plan, {f.name for _, f in named}))
    if choice is None:
        notes.append(words.no_model)
        return None, disabled, notes
    table = feature_table()
    disabled |= {table.by_name[n].name_in(vocabulary) for n in choice.disable}
    if choice.disable:
        notes.append(f"{words.model} {choice.name} also has features this VM does not: "
                     f"{', '.join(choice.disable)} ({words.disabled})")
    if not choice.within_targets:
        notes.append(f"{words.model} {choice.name} has features some target lacks (no closer model "
                     f"fits){words.beyond_targets}")
    return choice, disabled, notes
