"""The Miteos deploy form: trigger a deployment of a workspace to a hosting target (``POST /deployments``).

Opened by ``p`` on a Miteos row, prefilled from it (its workspace, target and deploy configuration), so
deploying the same workspace again is one key and ctrl+s. A test key (``mt_test_``) deploys in sandbox
mode: the badge says so, and that the URL will be a preview stub. The form only collects and checks what
was typed; the console sends it through the ActionRunner like every other change.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Select, Static

from shipdeck.tui.text import literal

MAX_ID_LENGTH = 200


# Styles of this module's screens, beside it (a path of its own, so a subclass elsewhere finds it too).
STYLES = Path(__file__).with_suffix(".tcss")


@dataclass(frozen=True)
class DeployInput:
    workspace_id: str
    target: str
    config_id: str


class DeployForm(ModalScreen[DeployInput | None]):
    """Workspace, target and deploy configuration. ctrl+s (or enter in the last field) deploys; Escape
    cancels."""

    CSS_PATH = STYLES
    BINDINGS = [
        Binding("ctrl+s", "submit", "Deploy", id="deploy-submit"),
        Binding("escape", "cancel", "Cancel", id="deploy-cancel"),
    ]
    AUTO_FOCUS = "Input"

    def __init__(
        self, initial: DeployInput, *, targets: tuple[str, ...], environment: str, sandbox: bool
    ) -> None:
        """``targets``: where the provider deploys to (its capabilities' deploy_targets)."""
        super().__init__()
        self.initial = initial
        self.targets = targets
        # The profile's environment (production, staging or sandbox) for the badge, with sandbox mode
        # beside it: the badge said SANDBOX on a staging profile, as the Tasks header said STAGING.
        self.environment = environment
        self.sandbox = sandbox

    def compose(self) -> ComposeResult:
        init = self.initial
        target = init.target if init.target in self.targets else self.targets[0]
        with Vertical():
            yield Static(id="deploy-badge")
            yield Static(Content(literal(self._mode_text())), id="deploy-mode")
            yield from self._field(
                "Workspace *", Input(init.workspace_id, placeholder="ws_...", id="df-workspace")
            )
            yield from self._field(
                "Target *",
                Select([(t, t) for t in self.targets], value=target, allow_blank=False, id="df-target"),
            )
            yield from self._field(
                "Configuration *", Input(init.config_id, placeholder="cfg_... (dashboard)", id="df-config")
            )
            yield Static("", id="deploy-error")
            yield Static(
                Content("* required   tab: next field   ctrl+s: deploy   esc: cancel"), classes="deploy-keys"
            )

    def _mode_text(self) -> str:
        if self.sandbox:
            return "Sandbox mode (mt_test_ key): nothing reaches the target; the URL will be a preview stub."
        return "Builds the workspace and uploads it to the target: pending, building, deploying, live."

    def on_mount(self) -> None:
        self._show_badge()

    @on(Select.Changed, "#df-target")
    def _show_badge(self) -> None:
        badge = self.query_one("#deploy-badge", Static)
        target = self._target()
        mode = " · sandbox mode" if self.sandbox and self.environment != "sandbox" else ""
        badge.update(Content(literal(f"{self.environment.upper()}{mode} · deploy to {target}")))
        badge.set_class(self.environment == "production", "-production")

    @staticmethod
    def _field(label: str, widget: Input | Select[str]) -> ComposeResult:
        widget.compact = True
        with Horizontal():
            yield Label(label)
            yield widget

    def _value(self, selector: str) -> str:
        return self.query_one(selector, Input).value.strip()

    def _target(self) -> str:
        return str(self.query_one("#df-target", Select).value)

    def build_input(self) -> DeployInput | str:
        """What to deploy, or the reason the form is not acceptable (the fields keep what was typed)."""
        values = {"Workspace": self._value("#df-workspace"), "Configuration": self._value("#df-config")}
        for label, value in values.items():
            if not value:
                return f"{label}: required"
            if len(value) > MAX_ID_LENGTH or not value.isprintable() or " " in value:
                return f"{label}: an id without spaces, at most {MAX_ID_LENGTH} characters"
        return DeployInput(values["Workspace"], self._target(), values["Configuration"])

    def action_submit(self) -> None:
        result = self.build_input()
        if isinstance(result, str):
            self.query_one("#deploy-error", Static).update(Text(result))
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
