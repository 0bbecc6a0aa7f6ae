"""The main screen's dialogs: a one-key confirmation with preview (rollback, promote, redeploy) and the
publish form. Server text is shown literally; PRODUCTION is a badge with its word, never colour alone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, Select, Static

from shipdeck.config.profile import Profile
from shipdeck.live.plans import ChangePlan, message_headline
from shipdeck.model import PUBLISH_INPUT_FIELDS, PublishRequest, Version
from shipdeck.model.validation import publish_path_problem
from shipdeck.tui.text import age_text, literal, state_label


def version_line(version: Version | None, now: datetime) -> str:
    """'v12 (● ready, 3h ago) by ana: fix header' — the facts a rollback preview needs."""
    if version is None:
        return "(none)"
    text = f"{literal(version.label)} ({state_label(version.state)}, {age_text(version.created_at, now)} ago)"
    if version.author:
        text += f" by {literal(version.author)}"
    if version.message:
        text += f": {literal(message_headline(version.message) or '')}"
    return text


# Styles of this module's screens, beside it (a path of its own, so a subclass elsewhere finds it too).
STYLES = Path(__file__).with_suffix(".tcss")


@dataclass
class ConfirmRequest:
    """What a confirmation dialog shows: a title, preview lines, warnings, and the environment."""

    title: str
    lines: list[str]
    confirm_label: str
    environment: str = "production"
    notes: list[str] = field(default_factory=list)
    ask_reason: bool = False
    # What would supersede the change (a build in flight, auto-deploy): shown above the keys.
    warnings: list[str] = field(default_factory=list)
    # The name to type before enter confirms (changes into production); None: one confirming key.
    require_typed: str | None = None
    # A checkbox offering to hold the change (turn auto-deploy off first); its answer is left in ``hold``.
    offer_hold: str | None = None
    hold: bool = False
    # What changes (version, message, author, files): plain lines, shown literally under "changes".
    diff: list[str] = field(default_factory=list)


def badge_environment(environment: str | None, profile: Profile) -> str:
    """A dialog's badge: the row's own environment (Mixpeek), unless the whole profile is a sandbox."""
    if environment in ("production", "staging") and profile.environment != "sandbox":
        return environment
    return profile.environment


def change_request(
    plan: ChangePlan,
    profile: Profile,
    *,
    confirm_label: str,
    lines: list[str] | None = None,
    first_warning: str | None = None,
    ask_reason: bool = False,
    name_profile: bool = False,
) -> ConfirmRequest:
    """The dialog for ``plan`` (the one rule of every screen that asks before a change): its preview
    (``lines``, else its summary), warnings, and the confirmation the profile asks for: the name typed
    for a change into production, unless the profile says otherwise. ``name_profile``: the title says
    which profile changes (the fleet, where two profiles can hold the same names)."""
    warnings = list(plan.warnings)
    if first_warning is not None:
        warnings.insert(0, first_warning)
    typed = profile.confirm == "type" or (profile.confirm is None and plan.into_production)
    name = plan.deployment.name if plan.deployment is not None else None
    title = literal(plan.title)
    if name_profile:
        title = f"{literal(profile.name)} · {title}"
    return ConfirmRequest(
        title=title,
        lines=lines if lines is not None else [literal(plan.summary)],
        notes=[literal(note) for note in plan.notes],
        warnings=[literal(warning) for warning in warnings],
        confirm_label=confirm_label,
        environment=badge_environment(plan.environment, profile),
        ask_reason=ask_reason,
        require_typed=name if typed else None,
        diff=[literal(line) for line in plan.diff],
    )


class HoldBox(Checkbox, inherit_bindings=False):
    """The dialog's hold checkbox: space toggles it; enter is left to the dialog (it confirms)."""

    BINDINGS = [Binding("space", "toggle_button", "Toggle", show=False)]

    @property
    def _button(self) -> Content:
        # ▐X▌ ticked, ▐ ▌ not: Textual draws X for both and tells them apart by colour alone, which
        # NO_COLOR, a 16-colour terminal over SSH or a tired eye does not show.
        self.BUTTON_INNER = "X" if self.value else " "
        return super()._button


class ConfirmDialog(ModalScreen[str | None]):
    """Confirm a previewed change. Answers the reason typed ('' if none) or None (cancelled).

    * Plain: ``y`` or ``enter`` confirms, ``esc`` or ``n`` cancels.
    * With a reason field: the field has the focus, so everything typed is the reason (a ``y`` in "bad
      deploy" never confirms); ``enter`` confirms, ``esc`` cancels.
    * With ``require_typed``: ``enter`` confirms only once the name is typed exactly.
    """

    AUTO_FOCUS = ""  # plain dialogs: keys go to the dialog; text fields are focused on mount
    CSS_PATH = STYLES
    BINDINGS = [
        Binding("enter", "confirm", "Confirm", id="dialog-confirm"),
        Binding("y", "confirm_plain", "Confirm (plain dialogs)", show=False, id="dialog-confirm-y"),
        Binding("escape,n", "cancel", "Cancel", id="dialog-cancel"),
        Binding("tab", "focus_reason", "Reason", show=False, id="dialog-reason"),
    ]

    def __init__(self, request: ConfirmRequest) -> None:
        production = request.environment == "production"
        super().__init__(classes="-production" if production else "")
        self.request = request

    def compose(self) -> ComposeResult:
        request = self.request
        with Vertical(id="confirm-box"):
            badge = f"{request.environment.upper()} · {request.title}"
            if request.environment == "production":
                badge = f"⚠ PRODUCTION ⚠ · {request.title}"
            yield Static(Content(badge), id="confirm-badge", classes=f"-{request.environment}")
            # The preview scrolls when it is taller than the screen: the fields and keys below it stay in
            # sight (a long message pushed the reason field and "enter: roll back" off a 40-line screen).
            with VerticalScroll(id="confirm-preview", can_focus=False):
                for line in request.lines:
                    yield Static(Content(line))
                if request.diff:
                    yield Static(Content("changes:"), classes="confirm-diff-title")
                    # Content(...) is never markup: a server's message or file name is shown as typed.
                    yield Static(Content("\n".join(f"  {line}" for line in request.diff)), id="confirm-diff")
                for note in request.notes:
                    yield Static(Content(note), classes="confirm-note")
                for warning in request.warnings:
                    yield Static(Content(f"⚠ {warning}"), classes="confirm-warning")
            if request.require_typed is not None:
                yield Input(
                    placeholder=f"type {literal(request.require_typed)} to confirm", id="confirm-typed"
                )
                yield Static("", id="confirm-error")
                keys = f"type the name, enter: {request.confirm_label}    esc: cancel"
            elif request.ask_reason:
                keys = f"enter: {request.confirm_label}    esc: cancel    (what you type is the reason)"
            else:
                keys = f"y / enter: {request.confirm_label}    esc: cancel"
            if request.ask_reason:
                yield Input(placeholder="reason (optional)", id="confirm-reason")
            if request.offer_hold:
                yield HoldBox(request.offer_hold, request.hold, id="confirm-hold")
                # On a line of its own: beside the others it wrapped mid-phrase at 80 columns.
                keys += "\ntab, then space: tick or clear the box above"
            yield Static(Content(keys), classes="confirm-keys")

    def on_mount(self) -> None:
        for selector in ("#confirm-typed", "#confirm-reason"):
            found = self.query(selector)
            if found:
                self.set_focus(found.first())
                return

    def _reason(self) -> str:
        if not self.request.ask_reason:
            return ""
        return self.query_one("#confirm-reason", Input).value.strip()

    def _typed_matches(self, typed: str) -> bool:
        """The name as it is, or as the dialog shows it (a server's name with control characters shows
        them as '?': that form is what can be typed)."""
        wanted = self.request.require_typed
        return wanted is not None and typed.strip() in (wanted, literal(wanted))

    def action_confirm(self) -> None:
        wanted = self.request.require_typed
        if wanted is not None and not self._typed_matches(self.query_one("#confirm-typed", Input).value):
            self.query_one("#confirm-error", Static).update(
                Content(f"Type {literal(wanted)} exactly to confirm.")
            )
            self.set_focus(self.query_one("#confirm-typed", Input))
            return
        if self.request.offer_hold:
            self.request.hold = self.query_one("#confirm-hold", Checkbox).value
        self.dismiss(self._reason())

    def action_confirm_plain(self) -> None:
        """'y' confirms only where nothing is typed. With a reason or a name to type only enter does: a 'y'
        that reaches the dialog before its field has the focus (typed in one burst behind 'r') is text
        meant for the field, never a yes."""
        if self.request.ask_reason or self.request.require_typed is not None:
            return
        self.action_confirm()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_focus_reason(self) -> None:
        """Tab: between the reason and the hold checkbox (plain dialogs: into the reason)."""
        fields = [w for w in self.query("#confirm-reason, #confirm-hold")]
        if not fields:
            return
        focused = self.focused
        index = fields.index(focused) + 1 if focused in fields else 0
        fields[index % len(fields)].focus()

    @on(Input.Submitted)
    def _field_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        typed = self._typed_matches(event.input.value)
        if event.input.id == "confirm-typed" and self.request.ask_reason and typed:
            self.query_one("#confirm-reason", Input).focus()
            return
        self.action_confirm()


# The label of every PublishRequest field the form can show.
PUBLISH_FIELD_LABELS = {
    "source_sandbox_id": "Source sandbox",
    "output_path": "Output path",
    "entrypoint": "Entrypoint",
    "environment": "Environment",
    "message": "Message",
}


class PublishForm(ModalScreen[PublishRequest | None]):
    """Collects a PublishRequest. ctrl+s (or enter in the last field) publishes; Escape cancels."""

    CSS_PATH = STYLES
    BINDINGS = [
        Binding("ctrl+s", "submit", "Publish", id="publish-submit"),
        Binding("escape", "cancel", "Cancel", id="publish-cancel"),
    ]
    # Typing starts in the first field typed into (the default, '*', would focus the scroll container):
    # Mixpeek's form starts with the environment's Select, which swallowed what was typed (a space opened
    # its list), and ctrl+s then said "Message: required".
    AUTO_FOCUS = "Input"

    def __init__(
        self,
        deployment_name: str,
        initial: PublishRequest,
        *,
        environments: tuple[str, ...],
        fields: tuple[str, ...] = PUBLISH_INPUT_FIELDS,
        required: tuple[str, ...] = (),
        badge_environment: Callable[[str], str] = str,
    ) -> None:
        super().__init__()
        self.deployment_name = deployment_name
        self.initial = initial
        self.environments = environments or ("production",)
        # Only the fields the provider reads are shown (Mixpeek: environment and message).
        self.fields = tuple(name for name in PUBLISH_INPUT_FIELDS if name in fields)
        self.required = required
        # The environment the badge names for a chosen target (the profile's, or the target's own).
        self.badge_environment = badge_environment

    def compose(self) -> ComposeResult:
        init = self.initial
        environment = init.environment if init.environment in self.environments else self.environments[0]
        widgets: dict[str, Input | Select[str]] = {
            "source_sandbox_id": Input(init.source_sandbox_id or "", placeholder="sbx_...", id="pf-source"),
            "output_path": Input(init.output_path or "", placeholder="dist (optional)", id="pf-output"),
            "entrypoint": Input(init.entrypoint or "", placeholder="index.html (optional)", id="pf-entry"),
            "environment": Select(
                [(e, e) for e in self.environments], value=environment, allow_blank=False, id="pf-env"
            ),
            "message": Input(init.message or "", placeholder="what changed", id="pf-message"),
        }
        with Vertical():
            yield Static(id="publish-badge")
            with VerticalScroll() as fields:
                fields.can_focus = False  # tab goes field to field
                for name in self.fields:
                    label = PUBLISH_FIELD_LABELS[name] + (" *" if name in self.required else "")
                    yield from self._field(label, widgets[name])
            yield Static("", id="publish-error")
            yield Static(
                Content("* required   tab: next field   ctrl+s: publish   esc: cancel"),
                classes="publish-keys",
            )

    def on_mount(self) -> None:
        self._show_badge()

    @on(Select.Changed, "#pf-env")
    def _show_badge(self) -> None:
        environment = self.badge_environment(self._choice("#pf-env", self.environments[0]))
        badge = self.query_one("#publish-badge", Static)
        badge.update(Content(f"{environment.upper()} · publish to {literal(self.deployment_name)}"))
        badge.set_class(environment == "production", "-production")

    @staticmethod
    def _field(label: str, widget: Input | Select[str]) -> ComposeResult:
        # Compact (borderless, one line) so the whole form fits an 80x24 terminal.
        widget.compact = True
        with Horizontal():
            yield Label(label)
            yield widget

    def _value(self, selector: str) -> str:
        found = self.query(selector).results(Input)
        return next((field.value.strip() for field in found), "")

    def _choice(self, selector: str, default: str) -> str:
        found = list(self.query(selector).results(Select))
        return str(found[0].value) if found else default

    def build_request(self) -> PublishRequest | str:
        """The request, or the reason the form is not acceptable (the fields keep what was typed)."""
        if "source_sandbox_id" in self.required and not self._value("#pf-source"):
            return "Source sandbox: required (the id of the sandbox to publish, like sbx_...)"
        if "message" in self.required and not self._value("#pf-message"):
            return "Message: required (what changed, like a commit message)"
        for label, selector in (("Output path", "#pf-output"), ("Entrypoint", "#pf-entry")):
            if (problem := publish_path_problem(self._value(selector) or None)) is not None:
                return f"{label}: {problem}"
        return PublishRequest(
            source_sandbox_id=self._value("#pf-source") or None,
            output_path=self._value("#pf-output") or None,
            entrypoint=self._value("#pf-entry") or None,
            environment=self._choice("#pf-env", self.environments[0]),
            message=self._value("#pf-message") or None,
        )

    def action_submit(self) -> None:
        result = self.build_request()
        if isinstance(result, str):
            self.query_one("#publish-error", Static).update(Text(result))
            return
        self.dismiss(result)

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input is list(self.query(Input))[-1]:
            self.action_submit()
        else:
            self.focus_next()
